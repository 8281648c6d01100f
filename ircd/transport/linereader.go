package transport

import (
	"bytes"
	"errors"
	"io"
)

// Line limits from the IRCv3 message-tags spec: the tag section may take
// 8191 bytes (with its '@' and trailing space), the rest 512 with CRLF.
const (
	MaxTagBytes  = 8191
	MaxBodyBytes = 512
	// ReadBufSize is the most a line reader ever buffers: one line of
	// each maximum.
	ReadBufSize = MaxTagBytes + MaxBodyBytes
	// initialReadBuf fits almost every IRC line; longer ones grow the
	// buffer up to ReadBufSize.
	initialReadBuf = 512
)

// ErrLineTooLong means a line broke the limits and was discarded; reading
// may go on.
var ErrLineTooLong = errors.New("line too long")

// LineReader splits a byte stream into IRC lines, enforcing the length
// limits without ever buffering more than ReadBufSize bytes. Its buffer
// starts small, grows while the peer streams and shrinks back when it
// pauses, so an idle connection holds only initialReadBuf bytes. One
// goroutine uses it at a time.
type LineReader struct {
	r          io.Reader
	buf        []byte
	start, end int  // unread bytes are buf[start:end]
	discarding bool // inside a line that overflowed the buffer
	streaming  bool // the last read filled the buffer: more is likely waiting
}

// NewLineReader returns a LineReader reading r.
func NewLineReader(r io.Reader) *LineReader { return &LineReader{r: r} }

// Next returns the next line without its CR LF. The slice is valid until
// the following call. ErrLineTooLong means a line was discarded.
func (lr *LineReader) Next() ([]byte, error) {
	for {
		if line, ok := lr.cut(); ok {
			if lr.discarding {
				lr.discarding = false
				return nil, ErrLineTooLong
			}
			line = trimEOL(line)
			if !WithinLimits(line) {
				return nil, ErrLineTooLong
			}
			return line, nil
		}
		if err := lr.fill(); err != nil {
			return nil, err
		}
	}
}

// Buffered reports whether a complete line is buffered, so Next will not
// read.
func (lr *LineReader) Buffered() bool {
	return bytes.IndexByte(lr.buf[lr.start:lr.end], '\n') >= 0
}

// trimEOL drops a line's trailing CRs and LFs.
func trimEOL(line []byte) []byte {
	n := len(line)
	for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
		n--
	}
	return line[:n]
}

// cut takes one complete line, with its LF, from the buffer.
func (lr *LineReader) cut() ([]byte, bool) {
	i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n')
	if i < 0 {
		return nil, false
	}
	line := lr.buf[lr.start : lr.start+i+1]
	lr.start += i + 1
	return line, true
}

// fill reads more bytes, making room first: it compacts, grows up to
// ReadBufSize, or throws away the start of a line that is too long.
func (lr *LineReader) fill() error {
	switch n := lr.end - lr.start; {
	case n == 0:
		lr.start, lr.end = 0, 0
		lr.buf = lr.nextBuf()
	case n >= ReadBufSize:
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
// peer whose last read filled it is streaming (a paste, a bot): it gets
// one twice the size, up to ReadBufSize, so each read(2) carries more
// lines. Any other gets a small one again.
func (lr *LineReader) nextBuf() []byte {
	switch {
	case lr.streaming && len(lr.buf) < ReadBufSize:
		return make([]byte, min(2*len(lr.buf), ReadBufSize))
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
func (lr *LineReader) compact() {
	if lr.start > 0 {
		lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		grown := make([]byte, min(2*len(lr.buf), ReadBufSize))
		copy(grown, lr.buf[:lr.end])
		lr.buf = grown
	}
}

// WithinLimits applies the tag and body budgets to a line without CRLF.
func WithinLimits(line []byte) bool {
	body := line
	if len(line) > 0 && line[0] == '@' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return len(line) <= MaxTagBytes
		}
		if sp+1 > MaxTagBytes {
			return false
		}
		body = line[sp+1:]
	}
	return len(body)+2 <= MaxBodyBytes
}
