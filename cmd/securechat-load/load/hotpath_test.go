package load

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// loadConn returns a conn reading lines from data and accounting
// messages from sender 0.
func loadConn(data []byte) *conn {
	var ph atomic.Int32
	rx := &receiver{tr: NewTracker(1, []int{0}), senders: []int{0}, seq: make([]counter, 1), acked: newAckGates(1), phase: &ph}
	rx.open()
	clock := &stampedReader{r: bytes.NewReader(data)}
	return &conn{br: bufio.NewReader(clock), clock: clock, marker: []byte(" :LT abc123 "), rx: rx}
}

func deliveryLine(seq int) []byte {
	return []byte("@time=2026-01-01T00:00:00.000Z;msgid=000038gqaic16eke5bm000laf8 :lt-abc123-1!~u@127.0.0.1 PRIVMSG #load-abc123-0 :LT abc123 0 " +
		strconv.Itoa(seq) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\r\n")
}

func TestStepCountsDeliveriesAndSkipsBatches(t *testing.T) {
	var data []byte
	data = append(data, deliveryLine(0)...)
	// A replay, not live: lines tagged with a batch the server opened.
	data = append(data, ":srv BATCH +r1 chathistory #c\r\n"...)
	data = append(data, "@batch=r1;time=x :a!u@h PRIVMSG #c :LT abc123 0 1 5\r\n"...)
	data = append(data, ":srv BATCH -r1\r\n"...)
	data = append(data, deliveryLine(1)...)
	data = append(data, ":a!u@h PRIVMSG #c :LT other 0 7 5\r\n"...) // another run
	c := loadConn(data)
	for range 6 {
		if _, err := c.step(); err != nil {
			t.Fatal(err)
		}
	}
	c.rx.close(func(int) int64 { return 2 })
	if got := c.rx.tr.Totals(); got.Received != 2 || got.Lost != 0 || got.Duplicates != 0 {
		t.Errorf("totals %+v", got)
	}
}

// BenchmarkStep measures the receive hot path: one delivered line.
func BenchmarkStep(b *testing.B) {
	var data []byte
	for i := range b.N {
		data = append(data, deliveryLine(i)...)
	}
	c := loadConn(data)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.step(); err != nil {
			b.Fatal(err)
		}
	}
}

// chunkReader hands out one chunk per Read, sleeping pause before each
// chunk but the first, like a socket that receives two bursts.
type chunkReader struct {
	chunks [][]byte
	pause  time.Duration
	reads  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	if r.reads > 0 {
		time.Sleep(r.pause)
	}
	r.reads++
	n := copy(p, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

// Latency is taken when the read that brought a line in returned: lines
// that arrived together share it, a later burst gets a later one.
func TestLatencyIsStampedPerRead(t *testing.T) {
	sent := time.Now().UnixNano()
	line := func(seq int) []byte {
		return []byte(":a!u@h PRIVMSG #c :LT abc123 0 " + strconv.Itoa(seq) + " " + strconv.FormatInt(sent, 10) + "\r\n")
	}
	burst := append(line(0), line(1)...)
	c := loadConn(nil)
	c.rx.phase.Store(int32(phaseMain))
	src := &chunkReader{chunks: [][]byte{burst, line(2)}, pause: 30 * time.Millisecond}
	c.clock = &stampedReader{r: src}
	c.br = bufio.NewReader(c.clock)
	var stamps []int64
	for range 3 {
		if _, err := c.step(); err != nil {
			t.Fatal(err)
		}
		stamps = append(stamps, c.clock.at)
	}
	if src.reads != 2 || stamps[0] != stamps[1] {
		t.Fatalf("one burst should be one read with one stamp: reads %d, stamps %v", src.reads, stamps)
	}
	if gap := time.Duration(stamps[2] - stamps[1]); gap < 30*time.Millisecond {
		t.Fatalf("the second burst's stamp is only %v later", gap)
	}
	h := c.rx.tr.Latency()
	if h.Count() != 3 || h.Max() < 30*time.Millisecond || h.Max() > time.Second {
		t.Fatalf("latencies: n %d max %v; want 3 with max >= 30ms", h.Count(), h.Max())
	}
}
