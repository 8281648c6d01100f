// Package metrics holds securechat's Prometheus collectors and the HTTP
// handler that exposes them.
//
// Every collector lives on a Metrics value registered on a caller-supplied
// registry, never the global one, so each test and each server gets its own.
// No label ever carries a user, nick or channel name: label values come from
// small fixed sets (see the Listener*, Result*, Mechanism*, Reason* and Op*
// constants, and CommandLabel), which keeps the number of series bounded no
// matter what clients send.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Label values for ClientsConnected.
const (
	ListenerTLS       = "tls"
	ListenerPlain     = "plain"
	ListenerWebSocket = "websocket"
)

// Label values for Registrations.
const (
	ResultOK          = "ok"
	ResultBadPassword = "bad_password"
	ResultTimeout     = "timeout"
	ResultAborted     = "aborted"
)

// Label values for AuthFailures.
const (
	MechanismSASLPlain = "sasl_plain"
	MechanismPass      = "pass"
	MechanismNone      = "none"
)

// Label values for Refused.
const (
	ReasonConnLimit           = "conn_limit"
	ReasonConnRate            = "conn_rate"
	ReasonAuthThrottle        = "auth_throttle"
	ReasonFlood               = "flood"
	ReasonSendQ               = "sendq"
	ReasonPingTimeout         = "ping_timeout"
	ReasonRegistrationTimeout = "registration_timeout"
)

// Label values for HistoryErrors and CryptoLatency ("seal", "open").
const (
	OpAppend = "append"
	OpRead   = "read"
	OpOpen   = "open"
	OpSeal   = "seal"
	OpIndex  = "index" // the CHATHISTORY TARGETS index, updated with appends
	// OpChannelState is a failed save of a channel's sealed settings.
	OpChannelState = "channel_state"
	// OpBlob is a failed save of another sealed blob (an account, say).
	OpBlob = "blob"
)

// Metrics is the set of collectors the daemon updates. Its fields are set
// once by New and never reassigned; the collectors themselves are safe to use
// from any goroutine.
type Metrics struct {
	// ClientsConnected counts open client connections by listener
	// (ListenerTLS, ListenerPlain, ListenerWebSocket).
	ClientsConnected *prometheus.GaugeVec
	// Registrations counts finished registration attempts by result
	// (ResultOK, ResultBadPassword, ResultTimeout, ResultAborted).
	Registrations *prometheus.CounterVec
	// AuthFailures counts rejected credentials by mechanism
	// (MechanismSASLPlain, MechanismPass, MechanismNone).
	AuthFailures *prometheus.CounterVec
	// Refused counts connections refused or cut off by the server, by
	// reason (the Reason* constants).
	Refused *prometheus.CounterVec
	// MessagesIn counts lines read from clients, labelled with
	// CommandLabel(command). In is the cheap way to reach its counters.
	MessagesIn *prometheus.CounterVec
	// MessagesOut counts lines written to clients, labelled with
	// CommandLabel(command). Out is the cheap way to reach its counters.
	MessagesOut *prometheus.CounterVec
	// Deliveries counts messages handed to a recipient's send queue by
	// channel or private-message fan-out.
	Deliveries prometheus.Counter
	// SendQDrops counts slow consumers disconnected because their send
	// queue overflowed.
	SendQDrops prometheus.Counter
	// Channels is the number of channels that currently exist.
	Channels prometheus.Gauge
	// ChannelMembers is the sum of member counts over all channels.
	ChannelMembers prometheus.Gauge
	// HistoryAppends counts messages appended to the history store.
	HistoryAppends prometheus.Counter
	// HistoryReads counts history read requests (replays, CHATHISTORY).
	HistoryReads prometheus.Counter
	// HistoryErrors counts history failures by operation (OpAppend,
	// OpRead, OpOpen, OpSeal, OpIndex, OpChannelState, OpBlob).
	HistoryErrors *prometheus.CounterVec
	// WriteQueueDepth is the number of history writes waiting for the store.
	WriteQueueDepth prometheus.Gauge
	// WriteQueueDrops counts history writes dropped because the write queue
	// was full: messages that were delivered but never stored.
	WriteQueueDrops prometheus.Counter
	// StoreLatency observes store round trips in seconds, by operation
	// (free-form but fixed in code, e.g. "append", "read", "trim").
	StoreLatency *prometheus.HistogramVec
	// CryptoLatency observes Seal and Open in seconds, by operation
	// (OpSeal, OpOpen).
	CryptoLatency *prometheus.HistogramVec
	// ReplayMessages observes how many messages each replay sent.
	ReplayMessages prometheus.Histogram
	// ReplayLatency observes how long each replay took, in seconds.
	ReplayLatency prometheus.Histogram
	// RelayLatency observes, in seconds, the time from reading a PRIVMSG to
	// handing it to its last recipient (queued on that connection's send
	// queue), so it covers parsing, fan-out and any store work on the path.
	RelayLatency prometheus.Histogram
	// ClusterLag observes, in seconds, the time from a cross-node message's
	// origin timestamp to its delivery on this node. It reads two hosts'
	// clocks, so skew adds to it; a negative lag (the receiver's clock
	// behind) is best observed as 0. Like the other cluster metrics it is
	// exported only once SetClusterCounts has been called.
	ClusterLag prometheus.Histogram

	in, out commandCounters   // MessagesIn and MessagesOut, through In and Out
	push    *pushCollector    // Web Push outcomes; see SetPushCounts
	cluster *clusterCollector // cluster state and ClusterLag; see SetClusterCounts
}

// New registers the securechat collectors on reg, together with the Go
// runtime and process collectors and securechat_build_info{version,goversion}
// (always 1), and returns them. Like prometheus.MustRegister it panics if a
// collector is already registered, which only happens when New is called twice
// on the same registry: a programming error.
func New(reg prometheus.Registerer, version string) *Metrics {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	f := factory{promauto.With(reg)}
	f.gaugeVec("build_info", "Always 1; labels carry the build's version and Go version.", "version", "goversion").
		WithLabelValues(version, runtime.Version()).Set(1)
	m := &Metrics{
		ClientsConnected: f.gaugeVec("clients_connected", "Open client connections by listener.", "listener"),
		Registrations:    f.counterVec("registrations_total", "Finished registration attempts by result.", "result"),
		AuthFailures:     f.counterVec("auth_failures_total", "Rejected credentials by mechanism.", "mechanism"),
		Refused:          f.counterVec("refused_connections_total", "Connections refused or cut off by the server, by reason.", "reason"),
		MessagesIn:       f.counterVec("messages_received_total", "Lines read from clients by command.", "command"),
		MessagesOut:      f.counterVec("messages_sent_total", "Lines written to clients by command.", "command"),
		Deliveries:       f.counter("fanout_deliveries_total", "Messages queued to a recipient by fan-out."),
		SendQDrops:       f.counter("sendq_drops_total", "Slow consumers disconnected for exceeding their send queue."),
		Channels:         f.gauge("channels", "Channels that currently exist."),
		ChannelMembers:   f.gauge("channel_members", "Sum of member counts over all channels."),
		HistoryAppends:   f.counter("history_appends_total", "Messages appended to the history store."),
		HistoryReads:     f.counter("history_reads_total", "History read requests."),
		HistoryErrors:    f.counterVec("history_errors_total", "History failures by operation.", "op"),
		WriteQueueDepth:  f.gauge("write_queue_depth", "History writes waiting for the store."),
		WriteQueueDrops:  f.counter("write_queue_drops_total", "History writes dropped because the write queue was full."),
		StoreLatency:     f.histogramVec("store_latency_seconds", "Store round-trip time by operation.", storeBuckets(), "op"),
		CryptoLatency:    f.histogramVec("crypto_latency_seconds", "Seal and open time by operation.", cryptoBuckets(), "op"),
		ReplayMessages:   f.histogram("replay_messages", "Messages sent per history replay.", replaySizeBuckets()),
		ReplayLatency:    f.histogram("replay_latency_seconds", "Time taken by each history replay.", replayBuckets()),
		RelayLatency:     f.histogram("relay_latency_seconds", "Time from reading a PRIVMSG to handing it to its last recipient.", relayBuckets()),
	}
	m.in.vec, m.out.vec = m.MessagesIn, m.MessagesOut
	m.push, m.cluster = newPushCollector(), newClusterCollector()
	m.ClusterLag = m.cluster.lag
	reg.MustRegister(m.push, m.cluster)
	m.initLabels()
	return m
}

// initLabels creates every series of the fixed label sets at zero, so that
// rate() and increase() see the first event instead of a series appearing
// from nowhere, and dashboards show 0 rather than "no data".
func (m *Metrics) initLabels() {
	for _, v := range []string{ListenerTLS, ListenerPlain, ListenerWebSocket} {
		m.ClientsConnected.WithLabelValues(v)
	}
	for _, v := range []string{ResultOK, ResultBadPassword, ResultTimeout, ResultAborted} {
		m.Registrations.WithLabelValues(v)
	}
	for _, v := range []string{MechanismSASLPlain, MechanismPass, MechanismNone} {
		m.AuthFailures.WithLabelValues(v)
	}
	for _, v := range []string{ReasonConnLimit, ReasonConnRate, ReasonAuthThrottle, ReasonFlood,
		ReasonSendQ, ReasonPingTimeout, ReasonRegistrationTimeout} {
		m.Refused.WithLabelValues(v)
	}
	for _, v := range []string{OpAppend, OpRead, OpOpen, OpSeal, OpIndex, OpChannelState, OpBlob} {
		m.HistoryErrors.WithLabelValues(v)
	}
	for _, v := range []string{OpSeal, OpOpen} {
		m.CryptoLatency.WithLabelValues(v)
	}
}

// factory builds collectors named securechat_<name> on one registry.
type factory struct{ promauto.Factory }

func (f factory) counter(name, help string) prometheus.Counter {
	return f.NewCounter(prometheus.CounterOpts{Namespace: "securechat", Name: name, Help: help})
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return f.NewCounterVec(prometheus.CounterOpts{Namespace: "securechat", Name: name, Help: help}, labels)
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	return f.NewGauge(prometheus.GaugeOpts{Namespace: "securechat", Name: name, Help: help})
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "securechat", Name: name, Help: help}, labels)
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	return f.NewHistogram(prometheus.HistogramOpts{Namespace: "securechat", Name: name, Help: help, Buckets: buckets})
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return f.NewHistogramVec(prometheus.HistogramOpts{Namespace: "securechat", Name: name, Help: help, Buckets: buckets}, labels)
}

// storeBuckets spans 50µs (a local Redis) to 1s; 50ms is a bucket boundary
// because the RedisLatencyHigh alert fires on p99 above it.
func storeBuckets() []float64 {
	return []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
}

// cryptoBuckets spans 1µs (sealing a short line) to 10ms (opening a large
// batch on a loaded machine).
func cryptoBuckets() []float64 {
	return []float64{.000001, .0000025, .000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01}
}

// relayBuckets spans 10µs (a direct message between two idle clients) to 1s.
func relayBuckets() []float64 {
	return []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
}

// replayBuckets spans 500µs to 5s: a replay is one store read plus one open
// per message, written to a single client.
func replayBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
}

// replaySizeBuckets counts messages; 0 is its own bucket so empty replays
// (a new channel) are visible.
func replaySizeBuckets() []float64 {
	return []float64{0, 1, 5, 10, 25, 50, 100, 250, 500, 1000}
}
