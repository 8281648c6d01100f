package transport

import (
	"sync"
	"time"
)

// A write of at least floodBytes means the client is receiving a flood:
// its writer then waits floodDelay before taking more, so each write(2),
// which costs as much as queueing dozens of lines, carries a
// millisecond's worth. A client receiving now and then is written at once.
const (
	floodBytes = 1024
	floodDelay = time.Millisecond
)

// maxSpareBuf is the largest write buffer a busy writer keeps for its
// next round; a bigger one (after a burst) goes back to the collector.
const maxSpareBuf = 64 << 10

// buffers holds the send buffers of queues that went idle. An idle queue
// holds no buffer, so idle connections cost nothing here, yet a queue that
// fills again takes a grown buffer instead of growing a new one from
// nothing, which under load costs more than the copying of the lines.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

func getBuffer() []byte { return (*buffers.Get().(*[]byte))[:0] }

func putBuffer(b []byte) {
	if cap(b) > 0 && cap(b) <= maxSpareBuf {
		b = b[:0]
		buffers.Put(&b)
	}
}

// Push appends lines (each without CRLF) to the send queue; it never
// blocks. The bytes go out when the queue is flushed: by p.Flush if p is
// not nil, otherwise before Push returns (see Flush). overflowed is true
// for the one push that broke the byte budget: the queue is then closed
// and drops every later line, and the caller, having noted why, calls
// Abort to free the reader and any writer stuck on the peer. Any goroutine; the
// caller may reuse the lines' memory once Push returns.
func (c *Conn) Push(p *Pending, lines ...[]byte) (overflowed bool) {
	size := 0
	for _, l := range lines {
		size += len(l) + 2
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if len(c.buf)+size > c.limit {
		c.closed, c.over = true, true
		c.mu.Unlock()
		return true
	}
	if c.buf == nil {
		c.buf = getBuffer()
	}
	for _, l := range lines {
		c.buf = append(append(c.buf, l...), '\r', '\n')
	}
	register := p != nil && !c.writing && c.owner != p
	if register {
		c.owner = p
	}
	start := p == nil && c.startLocked()
	c.mu.Unlock()
	switch {
	case register:
		p.conns = append(p.conns, c)
	case start:
		go c.writeLoop()
	}
	return false
}

// Flush starts the writer if lines wait and none runs. Any goroutine.
func (c *Conn) Flush() {
	c.mu.Lock()
	start := c.startLocked()
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// startLocked claims the writer's role when there is something to write
// (or a close to carry out) and no writer runs. c.mu is held.
func (c *Conn) startLocked() bool {
	c.owner = nil
	if c.writing || c.ended || (len(c.buf) == 0 && !c.closed) {
		return false
	}
	c.writing = true
	return true
}

// Close stops accepting lines; what is queued is still written, then the
// socket is closed. Any goroutine.
func (c *Conn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.Flush()
}

// take swaps out everything queued, handing back the writer's spare
// buffer. With nothing queued it ends the writer's turn (done), and
// reports whether the connection is finished (closed).
func (c *Conn) take(spare []byte) (out []byte, done, closed, over bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out, c.buf = c.buf, spare[:0]
	if len(out) > 0 && !c.over {
		return out, false, false, false
	}
	// An idle queue holds no buffer: both go back to the pool.
	putBuffer(out)
	putBuffer(c.buf)
	c.buf = nil
	c.writing = false
	if c.closed {
		c.ended = true
	}
	return nil, true, c.closed, c.over
}

// writeLoop writes the queue until it is empty, then exits; only one runs
// per connection at a time, so it is the socket's only writer. When the
// queue is closed and drained, or a write fails, it closes the socket and
// reports to onClosed.
func (c *Conn) writeLoop() {
	var spare []byte
	for {
		out, done, closed, over := c.take(spare)
		if done {
			if closed {
				c.finish(overflowErr(over))
			}
			return
		}
		if err := c.write(out); err != nil {
			c.fail(err)
			return
		}
		if len(out) >= floodBytes {
			time.Sleep(floodDelay)
		}
		if spare = out; cap(spare) > maxSpareBuf {
			spare = nil
		}
	}
}

// write writes out with a deadline. Moving the deadline costs a timer
// update; doing it only when it comes near keeps a stuck peer bounded at a
// fraction of the cost per write.
func (c *Conn) write(out []byte) error {
	if now := time.Now(); c.deadline.Sub(now) < writeTimeout/2 {
		c.deadline = now.Add(writeTimeout)
		_ = c.nc.SetWriteDeadline(c.deadline)
	}
	_, err := c.nc.Write(out)
	return err
}

// fail ends the connection after a write error: nothing more is accepted
// or written.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	c.closed, c.ended, c.writing, c.buf = true, true, false, nil
	c.mu.Unlock()
	c.finish(err)
}

func (c *Conn) finish(err error) {
	_ = c.nc.Close() // ends the reader too
	if c.onClosed != nil {
		c.onClosed(err)
	}
}

func overflowErr(over bool) error {
	if over {
		return ErrSendQ
	}
	return nil
}
