#!/usr/bin/env bash
# cluster-bench.sh runs issue 14's cluster scenarios: a redis-server on a
# free loopback port, three securechatd nodes clustered through it (one
# shared generated password file and TLS certificate, each node its own
# ports and data dir), and securechat-load spread over the three.
#
#   deploy/cluster-bench.sh steady|maxrate|kill|rolling
#
#   steady   1,000 users over 3 nodes, 10 channels, 500 msg/s, 60 s; first
#            the same on one node without --cluster, the single-node p99
#            baseline of the same run
#   maxrate  fan-out as fast as delivery allows, users on all 3 nodes
#   kill     steady load with --reconnect; node 2 gets SIGKILL at 20 s and
#            is started again at 35 s
#   rolling  steady load with --reconnect; each node in turn gets SIGTERM
#            (--drain), the script waits until the other nodes hold all
#            the users again, then starts it again
#
# Environment: SECURECHATD (a built daemon; default: built from this tree),
# RUNS (runs of the scenario, default 1), LOAD_ARGS (more securechat-load
# flags, e.g. "--fill-overlap 2s"). It prints the load tool's reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-}
case $scenario in
steady | maxrate | kill | rolling) ;;
*)
	echo "usage: deploy/cluster-bench.sh steady|maxrate|kill|rolling" >&2
	exit 2
	;;
esac
RUNS=${RUNS:-1}
read -r -a load_args <<<"${LOAD_ARGS:-}"
work=$(mktemp -d)
rport=
declare -a tport pport mport
# Daemons are started from background jobs too (the kill and rolling
# schedules), so their pids live in files: $work/NAME.pid.
cleanup() {
	local f
	for f in "$work"/*.pid; do [ -e "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	[ -n "$rport" ] && redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

daemon=${SECURECHATD:-}
if [ -z "$daemon" ]; then
	go build -o "$work/securechatd" ./cmd/securechatd
	daemon=$work/securechatd
fi
go build -o "$work/securechat-load" ./cmd/securechat-load

# The daemon must know the cluster flags; say which one it lacks rather
# than fail later on an unknown flag in a node's log.
help=$("$daemon" --help 2>&1 || true)
for f in --cluster --node-id --cluster-lease --drain; do
	if ! grep -qE -- "(^|[[:space:]])$f([=[:space:]]|$)" <<<"$help"; then
		echo "cluster-bench: $daemon has no $f flag: build securechatd from a tree with the cluster daemon (issue 14)" >&2
		exit 2
	fi
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes >/dev/null
(umask 077 && head -c 24 /dev/urandom | base64 >"$work/password")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
for n in 1 2 3; do
	tport[n]=$(free_port)
	pport[n]=$(free_port)
	mport[n]=$(free_port)
done

# daemon_args port metrics-port data-dir: what every node and the
# single-node baseline share.
daemon_args() {
	echo --listen "127.0.0.1:$1" --metrics-listen "127.0.0.1:$2" --data-dir "$3" \
		--password-file "$work/password" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
		--flood-exempt 127.0.0.0/8,::1/128 --max-conns-per-ip 0 --conn-rate-per-ip 0 --auth-fail-limit 0 --log-level warn
}

# start name metrics-port daemon-flags...: start a daemon, logging to
# $work/NAME.log, and wait until /readyz answers; a node restarted after a
# SIGKILL first waits out its old lease (up to 13.3 s).
start() {
	local name=$1 mp=$2 pid
	shift 2
	"$daemon" "$@" 2>>"$work/$name.log" &
	pid=$!
	echo "$pid" >"$work/$name.pid"
	for _ in $(seq 300); do
		curl -sf "http://127.0.0.1:$mp/readyz" >/dev/null && return
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "cluster-bench: $name exited; its log:" >&2
			cat "$work/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "cluster-bench: $name did not become ready; its log:" >&2
	cat "$work/$name.log" >&2
	exit 1
}

# stop name signal: signal a daemon and wait until it is gone.
stop() {
	local pid
	pid=$(cat "$work/$1.pid")
	kill "-$2" "$pid" 2>/dev/null || true
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$work/$1.pid"
}

start_node() { # n
	local n=$1
	# shellcheck disable=SC2046 # daemon_args is a list of words
	start "n$n" "${mport[n]}" $(daemon_args "${tport[n]}" "${mport[n]}" "$work/n$n") --redis "redis://127.0.0.1:$rport/0" \
		--listen-plain "127.0.0.1:${pport[n]}" --cluster --node-id "n$n" --cluster-lease 10s --drain
}

stop_cluster() {
	local n
	for n in 1 2 3; do [ -e "$work/n$n.pid" ] && stop "n$n" TERM; done
	redis-cli -p "$rport" flushall >/dev/null
}

load() { # flags...
	echo "== securechat-load $*"
	"$work/securechat-load" --password-file "$work/password" "$@" "${load_args[@]}"
}

addrs() { echo "127.0.0.1:${tport[1]},127.0.0.1:${tport[2]},127.0.0.1:${tport[3]}"; }
# plain_addrs: the nodes' plaintext listeners, where max-rate fan-out is
# measured, as for one node in loadtest.sh.
plain_addrs() { echo "127.0.0.1:${pport[1]},127.0.0.1:${pport[2]},127.0.0.1:${pport[3]}"; }

# A client that lost its node waits a moment, as clients' reconnect
# delays spread a crowd, then replays from a few seconds before the last
# message it saw and merges by msgid: messages from other nodes still on
# their way when its connection died are older than that message.
reconnect_flags=(--reconnect --reconnect-jitter 3s --fill-overlap 5s)

steady_flags=(--scenario steady --users 1000 --channels 10 --senders 20 --rate 500)

# connected n...: client connections the given nodes hold.
connected() {
	local n sum=0 v
	for n in "$@"; do
		v=$(curl -sf "http://127.0.0.1:${mport[n]}/metrics" |
			awk '/^securechat_clients_connected[{ ]/ { s += $NF } END { printf "%d", s }') || v=0
		sum=$((sum + v))
	done
	echo "$sum"
}

# rolling_restart: SIGTERM each node in turn, wait until the others hold
# all 1,000 users, start it again, let it settle.
rolling_restart() {
	local n others
	sleep 15
	for n in 1 2 3; do
		echo "-- $(date +%T) SIGTERM node $n (drain)"
		stop "n$n" TERM
		others=$(printf '%s\n' 1 2 3 | grep -vx "$n" | tr '\n' ' ')
		# shellcheck disable=SC2086 # two node numbers
		for _ in $(seq 600); do [ "$(connected $others)" -ge 1000 ] && break; sleep 0.1; done
		# shellcheck disable=SC2086
		echo "-- $(date +%T) nodes $others hold $(connected $others) connections; starting node $n"
		start_node "$n"
		sleep 10
	done
}

for run in $(seq "$RUNS"); do
	echo "#### $scenario, run $run of $RUNS"
	if [ "$scenario" = steady ]; then
		# shellcheck disable=SC2046
		start single "${mport[1]}" $(daemon_args "${tport[1]}" "${mport[1]}" "$work/single") --redis "redis://127.0.0.1:$rport/1"
		load --addr "127.0.0.1:${tport[1]}" "${steady_flags[@]}" --duration 60s | tee "$work/single.out"
		stop single TERM
		redis-cli -p "$rport" -n 1 flushdb >/dev/null
	fi
	for n in 1 2 3; do start_node "$n"; done
	case $scenario in
	steady)
		load --addr "$(addrs)" "${steady_flags[@]}" --duration 60s | tee "$work/cluster.out"
		python3 - "$work/single.out" "$work/cluster.out" <<'PY'
import json, sys
one, three = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:])
p1, p3 = one["latency_ms"]["p99"], three["latency_ms"]["p99"]
print(f"== steady p99: 1 node {p1:.2f} ms, 3 nodes {p3:.2f} ms: {p3 / p1:.2f}x (target <= 2x)")
PY
		;;
	maxrate)
		load --addr "$(plain_addrs)" --tls=false --scenario maxrate --users 150 --channels 1 --senders 15 --duration 20s
		;;
	kill)
		(
			sleep 20
			echo "-- $(date +%T) SIGKILL node 2"
			stop n2 KILL
			sleep 15
			echo "-- $(date +%T) starting node 2 again"
			start_node 2
			echo "-- $(date +%T) node 2 ready"
		) &
		killer=$!
		load --addr "$(addrs)" "${steady_flags[@]}" --duration 60s "${reconnect_flags[@]}"
		wait "$killer"
		;;
	rolling)
		rolling_restart &
		roller=$!
		load --addr "$(addrs)" "${steady_flags[@]}" --duration 120s "${reconnect_flags[@]}"
		wait "$roller"
		;;
	esac
	stop_cluster
done
