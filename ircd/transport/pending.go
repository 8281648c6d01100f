package transport

import "errors"

// ErrSendQ is what onClosed gets for a connection cut off because its send
// queue broke the byte budget.
var ErrSendQ = errors.New("SendQ exceeded")

// Pending is one goroutine's list of connections it pushed lines to and
// has not flushed yet. A reader goroutine passes its Pending to Push while
// it works through lines already buffered, and flushes it before it may
// block, so a burst of its messages reaches each recipient in one write.
// Only its goroutine uses it.
type Pending struct {
	conns []*Conn
}

// Flush flushes every connection on the list, each once, and empties it.
func (p *Pending) Flush() {
	for i, c := range p.conns {
		c.Flush()
		p.conns[i] = nil
	}
	p.conns = p.conns[:0]
}
