package cluster

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanout measures one node publishing to a channel another node
// subscribes to, through one local redis-server: ns/op is the time per
// message from Publish to the subscriber's hook. The publisher keeps at
// most window messages in flight: unpaced, it outruns the subscriber
// until Redis cuts the subscriber off at its pub/sub output buffer limit
// (32 MB by default) and the messages in that buffer are lost, as Stats
// then shows.
func BenchmarkFanout(b *testing.B) { benchFanout(b, singleBackend(b)) }

// BenchmarkFanoutCluster is BenchmarkFanout on a 3-master Redis Cluster.
func BenchmarkFanoutCluster(b *testing.B) { benchFanout(b, clusterBackend(b)) }

func benchFanout(b *testing.B, be *backend) {
	e := be.env(b)
	var got, want atomic.Int64
	want.Store(-1)
	done := make(chan struct{})
	sub := e.join(b, "sub", func(c *Config) {
		c.Hooks.Message = func(Message) {
			if got.Add(1) == want.Load() {
				close(done)
			}
		}
	})
	if err := sub.Subscribe(b.Context(), chanKey); err != nil {
		b.Fatal(err)
	}
	pub := e.join(b, "pub", func(c *Config) { c.PublishQueue = 1 << 16 })
	payload := make([]byte, 200)
	want.Store(int64(b.N))
	b.ResetTimer()
	const window = 4096
	for i := range b.N {
		for int64(i)-got.Load() > window {
			time.Sleep(50 * time.Microsecond)
		}
		for pub.Publish(chanKey, payload) == ErrQueueFull {
			time.Sleep(100 * time.Microsecond)
		}
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("received %d of %d; stats %+v", got.Load(), b.N, sub.Stats())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if s := sub.Stats(); s.Lost != 0 || s.OutOfOrder != 0 {
		b.Errorf("subscriber stats %+v", s)
	}
}

// BenchmarkClaimNick measures one nick claim (one Lua script round trip).
func BenchmarkClaimNick(b *testing.B) {
	e := singleBackend(b).env(b)
	n := e.join(b, "a")
	b.ResetTimer()
	for i := range b.N {
		if ok, err := n.ClaimNick(b.Context(), nickKey(i)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkNodeDownDelay measures how long after a crash (Stop, no Leave)
// a peer reports the node gone, as a fraction of the lease: at most 1 +
// 1/3 (a lease after its last renewal, plus one sweep interval), at
// least 2/3.
func BenchmarkNodeDownDelay(b *testing.B) {
	e := singleBackend(b).env(b)
	a := e.join(b, "a")
	var total time.Duration
	for i := range b.N {
		id := nickKey(i)
		c := e.join(b, id)
		a.waitEvent(b, is("up", id))
		start := time.Now()
		c.Stop()
		a.waitEvent(b, is("down", id))
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()/float64(b.N)/testLease.Seconds(), "lease/op")
}
