package transport

import (
	"net"
	"sync"
	"testing"
	"time"
)

// recordConn records each Write as one element, so a test sees how lines
// were coalesced into writes.
type recordConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
	closed chan struct{}
}

func newRecordConn() *recordConn { return &recordConn{closed: make(chan struct{})} }

func (r *recordConn) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, string(b))
	return len(b), nil
}
func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }
func (r *recordConn) Close() error                     { close(r.closed); return nil }

// finished closes c and waits for its last writer to close the socket.
func finished(t *testing.T, c *Conn, r *recordConn) []string {
	t.Helper()
	c.Close()
	select {
	case <-r.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the socket was never closed")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// TestPendingLinesShareAWrite: lines pushed for a Pending wait for its
// Flush and then go out in one write, in order.
func TestPendingLinesShareAWrite(t *testing.T) {
	r := newRecordConn()
	c := New(r, Config{SendQ: 1 << 10})
	var p Pending
	c.Push(&p, []byte("JOIN #a"))
	c.Push(&p, []byte("PRIVMSG #a :1"), []byte("PRIVMSG #a :2"))
	time.Sleep(10 * time.Millisecond)
	if r.mu.Lock(); len(r.writes) != 0 {
		t.Fatalf("written before the flush: %q", r.writes)
	}
	r.mu.Unlock()
	p.Flush()
	got := finished(t, c, r)
	if want := "JOIN #a\r\nPRIVMSG #a :1\r\nPRIVMSG #a :2\r\n"; len(got) != 1 || got[0] != want {
		t.Fatalf("writes %q, want one write %q", got, want)
	}
}

// TestPushWithoutPendingFlushes: a push from a goroutine with no Pending
// (a timer, KILL) is written without anyone flushing.
func TestPushWithoutPendingFlushes(t *testing.T) {
	r := newRecordConn()
	c := New(r, Config{SendQ: 1 << 10})
	c.Push(nil, []byte("PING :x"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.writes)
		r.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was never written")
		}
		time.Sleep(time.Millisecond)
	}
	if got := finished(t, c, r); len(got) != 1 || got[0] != "PING :x\r\n" {
		t.Fatalf("writes %q", got)
	}
}

// TestSendQOverflow: the push that breaks the budget reports it once, and
// every later line is dropped; what was queued before is not written.
func TestSendQOverflow(t *testing.T) {
	r := newRecordConn()
	closed := make(chan error, 1)
	c := New(r, Config{SendQ: 16, OnClosed: func(err error) { closed <- err }})
	var p Pending
	if c.Push(&p, []byte("0123456789")) {
		t.Fatal("12 bytes overflowed a 16-byte budget")
	}
	if !c.Push(&p, []byte("0123456789")) {
		t.Fatal("24 bytes did not overflow a 16-byte budget")
	}
	if c.Push(&p, []byte("x")) {
		t.Fatal("a push after the overflow reported it again")
	}
	p.Flush()
	if got := finished(t, c, r); len(got) != 0 {
		t.Fatalf("an overflowed queue wrote %q", got)
	}
	if err := <-closed; err != ErrSendQ {
		t.Fatalf("onClosed got %v, want ErrSendQ", err)
	}
}

// TestWriterExitsWhenDrained: a connection with nothing to write keeps no
// writer and no buffer.
func TestWriterExitsWhenDrained(t *testing.T) {
	r := newRecordConn()
	c := New(r, Config{SendQ: 1 << 10})
	c.Push(nil, []byte("hello"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		idle := !c.writing && c.buf == nil
		c.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not exit after draining the queue")
		}
		time.Sleep(time.Millisecond)
	}
	finished(t, c, r)
}
