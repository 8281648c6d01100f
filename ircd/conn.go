package ircd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"securechat/ircd/wire"
)

// Line limits from the IRCv3 message-tags spec: the tag section may take
// 8191 bytes (with its '@' and trailing space), the rest 512 with CRLF.
const (
	maxTagBytes  = 8191
	maxBodyBytes = 512
	readBufSize  = maxTagBytes + maxBodyBytes
	writeTimeout = 30 * time.Second
	maxSpareBuf  = 64 << 10
	busyWindow   = time.Millisecond       // writes this close mean a stream: coalesce
	idleWindow   = 100 * time.Millisecond // writes this far apart: free buffers
	streamBytes  = 1024                   // a write this big means a flood: batch
	streamDelay  = time.Millisecond       // how long a flooded writer gathers lines
	// lazyDelay bounds how long a line that may wait (a membership notice)
	// waits for another line to share its write. Long enough that in a
	// lively channel the next message nearly always carries it, so the
	// flusher seldom wakes writers in bulk; short enough to go unnoticed.
	lazyDelay = 200 * time.Millisecond
)

var (
	errLineTooLong = errors.New("line too long")
	errSendQ       = errors.New("SendQ exceeded")
)

// sendQueue is a client's outgoing byte queue with a budget. Any goroutine
// may push; only the client's writer goroutine takes. Lines queued while the
// writer is busy are coalesced into one socket write.
type sendQueue struct {
	mu      sync.Mutex
	buf     []byte
	held    []byte // others' lines while the owner's replies must go first
	holding bool
	woken   bool // the writer was signalled and has not taken yet
	lazy    bool // buf has lines nobody woke the writer for; the flusher will
	limit   int
	closed  bool
	over    bool
	wake    chan struct{}
	flusher *lazyFlusher // nil: lazy lines are sent at once
}

func newSendQueue(limit int, f *lazyFlusher) *sendQueue {
	return &sendQueue{limit: limit, wake: make(chan struct{}, 1), flusher: f}
}

// How a line is queued: the owner's reply, ahead of held lines; a line
// from others, sent at once; or one that may wait up to lazyDelay for
// another line to share its write.
type pushKind int

const (
	pushNow pushKind = iota
	pushReply
	pushLazy
)

// push appends one line (without CRLF). It never blocks. overflowed is
// true for the one push that broke the budget, after which the queue is
// closed and drops every line. While the owner holds the queue, lines
// other than its replies wait behind them.
func (q *sendQueue) push(line []byte, kind pushKind) (overflowed bool) {
	lines := [1][]byte{line}
	return q.pushAll(lines[:], kind)
}

// pushAll is push for several lines under one lock: to a busy client the
// lock, last written by another core, costs more than the lines.
func (q *sendQueue) pushAll(lines [][]byte, kind pushKind) (overflowed bool) {
	size := 0
	for _, l := range lines {
		size += len(l) + 2
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	if len(q.buf)+len(q.held)+size > q.limit {
		q.closed, q.over = true, true
		q.mu.Unlock()
		q.signal()
		return true
	}
	if q.holding && kind != pushReply {
		q.held = appendLines(q.held, lines)
		q.mu.Unlock()
		return false
	}
	q.buf = appendLines(q.buf, lines)
	// The writer takes everything queued when it runs, so only a line that
	// finds it asleep wakes it; a lazy line leaves that to the flusher.
	wake, register := false, false
	switch {
	case q.woken:
	case kind == pushLazy && q.flusher != nil:
		register, q.lazy = !q.lazy, true
	default:
		wake, q.woken = true, true
	}
	q.mu.Unlock()
	if wake {
		q.signal()
	}
	if register {
		q.flusher.add(q)
	}
	return false
}

func appendLines(buf []byte, lines [][]byte) []byte {
	for _, l := range lines {
		buf = append(append(buf, l...), '\r', '\n')
	}
	return buf
}

// hold makes lines pushed by others wait until release, so the replies the
// owner queues in between reach the client first.
func (q *sendQueue) hold() {
	q.mu.Lock()
	q.holding = true
	q.mu.Unlock()
}

// release queues the held lines behind the owner's replies.
func (q *sendQueue) release() {
	q.mu.Lock()
	q.holding = false
	q.buf = append(q.buf, q.held...)
	q.held = nil
	q.mu.Unlock()
	q.flushLazy()
}

// flushLazy wakes the writer if lines wait that nobody woke it for.
func (q *sendQueue) flushLazy() {
	q.mu.Lock()
	wake := !q.woken && len(q.buf) > 0
	q.woken = q.woken || wake
	q.lazy = false
	q.mu.Unlock()
	if wake {
		q.signal()
	}
}

func (q *sendQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take swaps out everything queued, handing the caller's spare buffer to
// the queue so steady traffic allocates nothing.
func (q *sendQueue) take(spare []byte) (out []byte, closed, over bool) {
	q.mu.Lock()
	out, q.buf = q.buf, spare[:0]
	q.woken = false
	closed, over = q.closed, q.over
	q.mu.Unlock()
	return out, closed, over
}

// close stops accepting lines; what is queued is still written.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// lazyFlusher wakes the writers of queues whose lazy lines no other line
// has carried out within lazyDelay. Queues register in time order, so the
// due ones are always at the front.
type lazyFlusher struct {
	mu   sync.Mutex
	due  []lazyEntry
	kick chan struct{} // the list went from empty to not
}

type lazyEntry struct {
	q  *sendQueue
	at time.Time
}

func newLazyFlusher() *lazyFlusher { return &lazyFlusher{kick: make(chan struct{}, 1)} }

func (f *lazyFlusher) add(q *sendQueue) {
	at := time.Now().Add(lazyDelay)
	f.mu.Lock()
	f.due = append(f.due, lazyEntry{q, at})
	first := len(f.due) == 1
	f.mu.Unlock()
	if first {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

// flush wakes the writers of the queues due by now and returns when the
// next one is due (ok false: none waits).
func (f *lazyFlusher) flush(now time.Time) (next time.Time, ok bool) {
	f.mu.Lock()
	n := 0
	for n < len(f.due) && !f.due[n].at.After(now) {
		n++
	}
	ready := append([]lazyEntry(nil), f.due[:n]...)
	f.due = append(f.due[:0], f.due[n:]...)
	if len(f.due) > 0 {
		next, ok = f.due[0].at, true
	}
	f.mu.Unlock()
	for _, e := range ready {
		e.q.flushLazy()
	}
	return next, ok
}

// writePause decides how long the writer lets lines gather before it takes
// them, given the time since its last write and that write's size. A quiet
// client is written at once. One written to moments ago is receiving a
// stream: the writer yields once, so the goroutines fanning out right now
// queue more lines first. One whose last write already carried a batch is
// receiving a flood, where each write(2) costs as much as relaying dozens
// of lines: it waits streamDelay, so one write carries a millisecond's
// worth. Steady traffic, one line at a time, never waits.
func writePause(since time.Duration, lastSize int) (pause time.Duration, yield bool) {
	switch {
	case since >= busyWindow:
		return 0, false
	case lastSize >= streamBytes:
		return streamDelay, false
	default:
		return 0, true
	}
}

// writeLoop drains q into w until the queue is closed and empty. It runs on
// the client's writer goroutine and is the only writer of the socket.
func writeLoop(nc net.Conn, q *sendQueue) error {
	var spare []byte
	var deadline, lastWrite time.Time
	lastSize := 0
	for range q.wake {
		previous := lastWrite
		if pause, yield := writePause(time.Since(previous), lastSize); pause > 0 {
			time.Sleep(pause)
		} else if yield {
			runtime.Gosched()
		}
		out, closed, over := q.take(spare)
		if over {
			return errSendQ
		}
		if len(out) > 0 {
			// Moving the deadline costs a timer update; doing it only when
			// it comes near keeps a stuck peer bounded at a fraction of
			// the cost per write.
			if now := time.Now(); deadline.Sub(now) < writeTimeout/2 {
				deadline = now.Add(writeTimeout)
				_ = nc.SetWriteDeadline(deadline)
			}
			if _, err := nc.Write(out); err != nil {
				return err
			}
			lastWrite, lastSize = time.Now(), len(out)
		}
		// A streaming client keeps its buffer for the next round (unless a
		// burst made it big); a client that is written to now and then
		// lets it go, so thousands of idle connections pin no buffers.
		spare = out
		if cap(out) > maxSpareBuf || time.Since(previous) > idleWindow {
			spare = nil
		}
		if closed {
			// Drain anything pushed between take and close.
			if rest, _, _ := q.take(nil); len(rest) > 0 {
				_, _ = nc.Write(rest)
			}
			return nil
		}
	}
	return nil
}

// lineReader splits a byte stream into IRC lines, enforcing the length
// limits without ever buffering more than readBufSize bytes. Its buffer
// starts small, grows while the client streams and shrinks back when it
// pauses, so an idle connection holds only initialReadBuf bytes instead of
// a full-size line buffer.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int  // unread bytes are buf[start:end]
	discarding bool // inside a line that overflowed the buffer
	streaming  bool // the last read filled the buffer: more is likely waiting
}

// initialReadBuf fits almost every IRC line; longer ones grow the buffer
// up to readBufSize.
const initialReadBuf = 512

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: r} }

// next returns the next line without its CR LF. The slice is valid until the
// following call. errLineTooLong means a line was discarded; reading may go on.
func (lr *lineReader) next() ([]byte, error) {
	for {
		if line, ok := lr.cut(); ok {
			if lr.discarding {
				lr.discarding = false
				return nil, errLineTooLong
			}
			line = wire.TrimEOL(line)
			if !withinLimits(line) {
				return nil, errLineTooLong
			}
			return line, nil
		}
		if err := lr.fill(); err != nil {
			return nil, err
		}
	}
}

// pending reports whether a complete line is buffered, so next will not
// read.
func (lr *lineReader) pending() bool {
	return bytes.IndexByte(lr.buf[lr.start:lr.end], '\n') >= 0
}

// trimEOL drops a line's trailing CRs and LFs, like bytes.TrimRight(line,
// "\r\n") without building its byte set on every line.
func trimEOL[S ~string | ~[]byte](line S) S {
	n := len(line)
	for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
		n--
	}
	return line[:n]
}

// cut takes one complete line, with its LF, from the buffer.
func (lr *lineReader) cut() ([]byte, bool) {
	i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n')
	if i < 0 {
		return nil, false
	}
	line := lr.buf[lr.start : lr.start+i+1]
	lr.start += i + 1
	return line, true
}

// fill reads more bytes, making room first: it compacts, grows up to
// readBufSize, or throws away the start of a line that is too long.
func (lr *lineReader) fill() error {
	switch n := lr.end - lr.start; {
	case n == 0:
		lr.start, lr.end = 0, 0
		lr.buf = lr.nextBuf()
	case n >= readBufSize:
		lr.start, lr.end, lr.discarding = 0, 0, true
	default:
		lr.compact()
	}
	m, err := lr.r.Read(lr.buf[lr.end:])
	lr.end += m
	lr.streaming = lr.end == len(lr.buf)
	if m > 0 {
		return nil
	}
	return err
}

// nextBuf picks the buffer to read into once the last one has drained. A
// client whose last read filled it is sending a stream (a paste, a bot):
// it gets one twice the size, up to readBufSize, so each read(2) carries
// more lines. Any other gets a small one again, so an idle connection
// holds only initialReadBuf bytes.
func (lr *lineReader) nextBuf() []byte {
	switch {
	case lr.streaming && len(lr.buf) < readBufSize:
		return make([]byte, min(2*len(lr.buf), readBufSize))
	case lr.streaming:
		return lr.buf
	case lr.buf == nil || len(lr.buf) > initialReadBuf:
		return make([]byte, initialReadBuf)
	default:
		return lr.buf
	}
}

// compact moves unread bytes to the front and doubles the buffer when it
// is full.
func (lr *lineReader) compact() {
	if lr.start > 0 {
		lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		grown := make([]byte, min(2*len(lr.buf), readBufSize))
		copy(grown, lr.buf[:lr.end])
		lr.buf = grown
	}
}

// withinLimits applies the tag and body budgets to a line without CRLF.
func withinLimits(line []byte) bool {
	body := line
	if len(line) > 0 && line[0] == '@' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return len(line) <= maxTagBytes
		}
		if sp+1 > maxTagBytes {
			return false
		}
		body = line[sp+1:]
	}
	return len(body)+2 <= maxBodyBytes
}
