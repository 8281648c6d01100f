package load

import (
	"bufio"
	"bytes"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// loadConn returns a conn reading lines from data and accounting
// messages from sender 0.
func loadConn(data []byte) *conn {
	var ph atomic.Int32
	rx := &receiver{tr: NewTracker(1, []int{0}), senders: []int{0}, seq: make([]counter, 1), acked: make([]counter, 1), phase: &ph}
	rx.open()
	return &conn{br: bufio.NewReader(bytes.NewReader(data)), marker: []byte(" :LT abc123 "), rx: rx}
}

func deliveryLine(seq int) []byte {
	return []byte("@time=2026-01-01T00:00:00.000Z;msgid=000038gqaic16eke5bm000laf8 :lt-abc123-1!~u@127.0.0.1 PRIVMSG #load-abc123-0 :LT abc123 0 " +
		strconv.Itoa(seq) + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\r\n")
}

func TestStepCountsDeliveriesAndSkipsBatches(t *testing.T) {
	var data []byte
	data = append(data, deliveryLine(0)...)
	data = append(data, "@batch=r1;time=x :a!u@h PRIVMSG #c :LT abc123 0 1 5\r\n"...) // replay: not live
	data = append(data, deliveryLine(1)...)
	data = append(data, ":a!u@h PRIVMSG #c :LT other 0 7 5\r\n"...) // another run
	c := loadConn(data)
	for range 4 {
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
