#!/usr/bin/env bash
# loadtest.sh runs securechat-load scenarios against a freshly started
# securechatd (history in a real redis-server on loopback) and prints the
# median of three runs of each figure BENCHMARKS.md reports.
#
#   deploy/loadtest.sh [scenario ...]     default: steady steady-plain steady-ws steady-mixed maxrate maxrate-tls connect-storm connect-storm-classical churn churn-split history idle
#
# Everything runs on 127.0.0.1; the daemon exempts loopback from flood
# control so the numbers measure the server, not its throttle.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

go build -o "$work/securechatd" ./cmd/securechatd
go build -o "$work/securechat-load" ./cmd/securechat-load
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); tport=$(free_port); pport=$(free_port); mport=$(free_port); wport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes >/dev/null
export SECURECHAT_PASSWORD="loadtest-$(date +%s)"

start_daemon() {
	rm -rf "$work/data"
	# The web listener (IRC over WebSocket) idles unless a ws scenario uses it.
	"$work/securechatd" --listen "127.0.0.1:$tport" --listen-plain "127.0.0.1:$pport" --web-listen "127.0.0.1:$wport" \
		--data-dir "$work/data" --redis "redis://127.0.0.1:$rport/0" \
		--flood-exempt 127.0.0.0/8,::1/128 --max-conns-per-ip 0 --conn-rate-per-ip 0 \
		--metrics-listen "127.0.0.1:$mport" --log-level warn 2>"$work/daemon.log" &
	daemon=$!
	for _ in $(seq 50); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && return; sleep 0.1; done
	echo "daemon did not become ready" >&2; cat "$work/daemon.log" >&2; exit 1
}

run() { # name, load flags...
	local name=$1; shift
	for i in $(seq "$RUNS"); do
		redis-cli -p "$rport" flushall >/dev/null
		start_daemon
		"$work/securechat-load" --json-only --server-pid "$daemon" \
			--metrics-url "http://127.0.0.1:$mport/metrics" "$@" | tail -1 >>"$work/$name.jsonl"
		kill "$daemon"; wait "$daemon" 2>/dev/null || true
	done
	echo "== $name ($RUNS runs): securechat-load $*"
	cat "$work/$name.jsonl"
	python3 - "$work/$name.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
def med(f):
    vals = [v for v in (f(r) for r in runs) if v is not None]
    return statistics.median(vals) if vals else None
def get(r, *path):
    for p in path:
        if not isinstance(r, dict) or p not in r: return None
        r = r[p]
    return r
figures = {
    "deliveries/s": lambda r: get(r, "delivery_rate"),
    "lost": lambda r: get(r, "messages", "lost"),
    "duplicates": lambda r: get(r, "messages", "duplicates"),
    "reordered": lambda r: get(r, "messages", "reordered"),
    "e2e p50 ms": lambda r: get(r, "latency_ms", "p50"),
    "e2e p99 ms": lambda r: get(r, "latency_ms", "p99"),
    "tcp users lost": lambda r: get(r, "by_transport", "tcp", "messages", "lost"),
    "ws users lost": lambda r: get(r, "by_transport", "ws", "messages", "lost"),
    "tcp users e2e p99 ms": lambda r: get(r, "by_transport", "tcp", "latency_ms", "p99"),
    "ws users e2e p99 ms": lambda r: get(r, "by_transport", "ws", "latency_ms", "p99"),
    "ws/tcp p99 (same run)": lambda r: (get(r, "by_transport", "ws", "latency_ms", "p99") or 0) / get(r, "by_transport", "tcp", "latency_ms", "p99") if get(r, "by_transport", "tcp", "latency_ms", "p99") else None,
    "server CPU %": lambda r: get(r, "server", "cpu_percent"),
    "server CPU us/delivery": lambda r: get(r, "server", "cpu_us_per_delivery"),
    "registrations/s": lambda r: get(r, "connect", "per_second"),
    "failed connections": lambda r: get(r, "connect", "failed"),
    "reconnects/s": lambda r: get(r, "churn", "reconnects_per_second"),
    "replay p99 ms": lambda r: get(r, "churn", "replay_ms", "p99"),
    "replay lines p50": lambda r: get(r, "churn", "replay_lines", "p50"),
    "live p99 baseline ms": lambda r: get(r, "churn", "live_baseline_ms", "p99"),
    "live p99 churn ms": lambda r: get(r, "churn", "live_churn_ms", "p99"),
    "live p99 churn-baseline ms": lambda r: get(r, "churn", "live_p99_delta_ms"),
    "history p99 ms": lambda r: get(r, "history", "latency_ms", "p99"),
    "RSS per connection kB": lambda r: get(r, "memory", "per_conn_kb"),
    "write-queue drops": lambda r: get(r, "server", "deltas", "securechat_write_queue_drops_total"),
}
for name, f in figures.items():
    v = med(f)
    if v is not None:
        print(f"   median {name:28} {v:.4g}")
PY
}

# churn_split runs the churn test with the live users and the churners in
# two generator processes that share the run's channels (--run-id), as the
# phones coming and going are not the devices of the users chatting. The
# live generator's p99 is measured with the churners idle (0.1 reconnects/s)
# and churning (200/s); in one process the churners' TLS work queues in the
# same Go scheduler as the live receivers and inflates their latency.
churn_split() {
	local rate i id
	for rate in 0.1 200; do
		for i in $(seq "$RUNS"); do
			redis-cli -p "$rport" flushall >/dev/null
			start_daemon
			id=sp$i$RANDOM
			"$work/securechat-load" --json-only --run-id "$id" --nick-prefix churn --addr "127.0.0.1:$tport" \
				--scenario churn --users 408 --channels 10 --senders 0 --churn-fraction 1 --churn-rate "$rate" \
				--preload 0 --baseline 0 --warmup 8s --duration 30s | tail -1 >>"$work/split-churners-$rate.jsonl" &
			local churners=$!
			sleep 3
			"$work/securechat-load" --json-only --run-id "$id" --nick-prefix live --addr "127.0.0.1:$tport" \
				--scenario steady --users 92 --channels 10 --senders 20 --rate 200 --warmup 5s --duration 20s \
				| tail -1 >>"$work/split-live-$rate.jsonl"
			wait "$churners"
			kill "$daemon"; wait "$daemon" 2>/dev/null || true
		done
	done
	echo "== churn-split ($RUNS runs each): 92 live users (20 senders, 200 msg/s) + 408 churners in a second generator"
	cat "$work"/split-*.jsonl
	python3 - "$work" <<'PY'
import json, statistics, sys
d = sys.argv[1]
def runs(name): return [json.loads(l) for l in open(f"{d}/{name}.jsonl")]
med = lambda xs: statistics.median(xs)
idle = med([r["latency_ms"]["p99"] for r in runs("split-live-0.1")])
busy = med([r["latency_ms"]["p99"] for r in runs("split-live-200")])
ch = runs("split-churners-200")
print(f"   median live p99, churners idle ms     {idle:.4g}")
print(f"   median live p99, 200 reconnects/s ms  {busy:.4g}")
print(f"   live p99 churn-idle ms                {busy - idle:.4g}")
print(f"   median lost (live)                    {med([r['messages']['lost'] for r in runs('split-live-200')])}")
print(f"   median reconnects/s                   {med([r['churn']['reconnects_per_second'] for r in ch]):.4g}")
print(f"   median replay p99 ms                  {med([r['churn']['replay_ms']['p99'] for r in ch]):.4g}")
print(f"   median replay lines p50               {med([r['churn']['replay_lines']['p50'] for r in ch]):.4g}")
PY
}

scenarios=${*:-steady steady-plain steady-ws steady-mixed maxrate maxrate-tls connect-storm connect-storm-classical churn churn-split history idle}
for s in $scenarios; do
	case $s in
	steady) run steady --addr "127.0.0.1:$tport" --scenario steady --users 1000 --channels 10 --senders 20 --rate 500 --duration 10s ;;
	# The same over the plaintext port, where the comparison with other
	# servers (and issue 12's per-delivery target) is made.
	steady-plain) run steady-plain --addr "127.0.0.1:$pport" --tls=false --scenario steady --users 1000 --channels 10 --senders 20 --rate 500 --duration 10s ;;
	# Issue 15: 500 users speaking IRC over WebSocket (wss://…/ws, one line
	# per message), then 1000 users whose channels alternate TLS IRC and
	# WebSocket members, so the two halves' p99 compare within one run.
	steady-ws) run steady-ws --addr "127.0.0.1:$tport" --transport ws --web-addr "127.0.0.1:$wport" --scenario steady --users 500 --channels 10 --senders 20 --rate 500 --duration 10s ;;
	steady-mixed) run steady-mixed --addr "127.0.0.1:$tport" --transport mixed --web-addr "127.0.0.1:$wport" --scenario steady --users 1000 --channels 10 --senders 20 --rate 500 --duration 10s ;;
	maxrate) run maxrate --addr "127.0.0.1:$pport" --tls=false --scenario maxrate --users 50 --channels 1 --senders 5 --duration 10s ;;
	maxrate-tls) run maxrate-tls --addr "127.0.0.1:$tport" --scenario maxrate --users 50 --channels 1 --senders 5 --duration 10s ;;
	# Registration only (no JOIN): the storm's figure is registrations/s.
	connect-storm) run connect-storm --addr "127.0.0.1:$tport" --scenario connect-storm --users 10000 ;;
	# The same storm from clients that offer only X25519 (OpenSSL 3.0, GnuTLS 3.7).
	connect-storm-classical) run connect-storm-classical --addr "127.0.0.1:$tport" --scenario connect-storm --users 10000 --tls-classical-kex ;;
	# The preset: ~400 churners reconnecting 200 times a second in all, each
	# replaying 50 messages, after a 10 s baseline of live latency without churn.
	churn) run churn --addr "127.0.0.1:$tport" --scenario churn --churn-rate 200 --duration 60s ;;
	churn-split) churn_split ;;
	history) run history --addr "127.0.0.1:$tport" --scenario history --duration 10s ;;
	idle) run idle --addr "127.0.0.1:$tport" --scenario steady --users 1000 --channels 10 --senders 1 --rate 1 --duration 3s ;;
	*) echo "unknown scenario $s" >&2; exit 2 ;;
	esac
done
