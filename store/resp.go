package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// This file is a minimal RESP2 codec for appendConn, which writes
// AppendBatch's pipelines itself instead of through go-redis. Commands are
// arrays of bulk strings appended to a reusable []byte; replies are read
// one at a time from a bufio.Reader, every type parsed to its end so an
// unexpected reply never leaves the stream misaligned.

// errProtocol marks a reply stream that could not be parsed. The position
// in the stream is then lost, so the connection must be closed.
var errProtocol = errors.New("redis protocol error")

func protocolErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errProtocol, fmt.Sprintf(format, args...))
}

// respError is an error reply. It implements go-redis's redis.Error, so
// callers cannot tell it from the replies go-redis reports.
type respError string

func (e respError) Error() string { return string(e) }
func (respError) RedisError()     {}

// Reply types (RESP2).
const (
	respStatus = '+'
	respErr    = '-'
	respInt    = ':'
	respBulk   = '$'
	respArray  = '*'
)

// Bounds on announced lengths, so a corrupt header fails at once instead
// of waiting for gigabytes. maxBulkLen is Redis's proto-max-bulk-len.
const (
	maxBulkLen  = 512 << 20
	maxArrayLen = math.MaxInt32
)

// appendArray appends an array header of n elements.
func appendArray(b []byte, n int) []byte {
	b = append(b, respArray)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// appendBulk appends s as a bulk string.
func appendBulk[T string | []byte](b []byte, s T) []byte {
	b = append(b, respBulk)
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendBulkInt appends n in decimal as a bulk string, as go-redis sends
// integer arguments.
func appendBulkInt(b []byte, n int64) []byte {
	var digits [20]byte
	return appendBulk(b, strconv.AppendInt(digits[:0], n, 10))
}

// appendBulkConcat appends the concatenation of parts as one bulk string,
// so a key built from a prefix costs no allocation.
func appendBulkConcat(b []byte, parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = append(b, respBulk)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '\r', '\n')
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, '\r', '\n')
}

// appendCommand appends a command of string arguments.
func appendCommand(b []byte, args ...string) []byte {
	b = appendArray(b, len(args))
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

// respReply is one reply. Str aliases the reader's buffers: it is valid
// only until the next read.
type respReply struct {
	Type byte   // one of respStatus, respErr, respInt, respBulk, respArray
	Int  int64  // an integer's value; a bulk string's or array's length, -1 if null
	Str  []byte // a status's, error's or bulk string's text
}

// respReader reads replies. Any error it returns other than an I/O
// error wraps errProtocol.
type respReader struct {
	br  *bufio.Reader
	big []byte // holds bulk strings longer than br's buffer
}

// read reads one whole reply. Of an array it returns only the length: the
// elements, nested arrays included, are read and dropped, since the append
// path never needs them but must not leave them in the stream.
func (r *respReader) read() (respReply, error) {
	rep, err := r.readValue()
	if err == nil && rep.Type == respArray {
		err = r.skip(rep.Int)
	}
	return rep, err
}

// readErrors reads n replies and appends to errs each one's error reply,
// or nil for any other type.
func (r *respReader) readErrors(errs []error, n int) ([]error, error) {
	for range n {
		rep, err := r.read()
		if err != nil {
			return errs, err
		}
		var replyErr error
		if rep.Type == respErr {
			replyErr = respError(rep.Str)
		}
		errs = append(errs, replyErr)
	}
	return errs, nil
}

// skip reads and drops n values. It counts instead of recursing, so deep
// nesting cannot exhaust the stack.
func (r *respReader) skip(n int64) error {
	for ; n > 0; n-- {
		rep, err := r.readValue()
		if err != nil {
			return eofErr(err, true)
		}
		if rep.Type == respArray && rep.Int > 0 {
			n += rep.Int
		}
	}
	return nil
}

// readValue reads one value; of an array only its header.
func (r *respReader) readValue() (respReply, error) {
	line, err := r.line()
	if err != nil {
		return respReply{}, err
	}
	rep := respReply{Type: line[0]}
	switch rep.Type {
	case respStatus, respErr:
		rep.Str = line[1:]
	case respInt:
		rep.Int, err = parseRESPInt(line[1:])
	case respArray:
		rep.Int, err = parseRESPLen(line[1:], maxArrayLen)
	case respBulk:
		if rep.Int, err = parseRESPLen(line[1:], maxBulkLen); err == nil && rep.Int >= 0 {
			rep.Str, err = r.bulk(int(rep.Int))
		}
	default:
		err = protocolErr("unknown reply type %q", rep.Type)
	}
	return rep, err
}

// line reads one CRLF-terminated line and returns it without the CRLF.
// It is never empty: it holds at least the type byte.
func (r *respReader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, protocolErr("reply line longer than %d bytes", r.br.Size())
	case err != nil:
		return nil, eofErr(err, len(line) > 0)
	case len(line) < 3 || line[len(line)-2] != '\r':
		return nil, protocolErr("reply line not ended by CRLF")
	}
	return line[:len(line)-2], nil
}

// bulk reads a bulk string's n bytes and the CRLF after them.
func (r *respReader) bulk(n int) ([]byte, error) {
	var b []byte
	if n+2 <= r.br.Size() {
		var err error
		if b, err = r.br.Peek(n + 2); err != nil {
			return nil, eofErr(err, true)
		}
		_, _ = r.br.Discard(n + 2) // b stays valid until the next read
	} else if err := r.readBig(n + 2); err != nil {
		return nil, err
	} else {
		b = r.big
	}
	if b[n] != '\r' || b[n+1] != '\n' {
		return nil, protocolErr("bulk string not ended by CRLF")
	}
	return b[:n], nil
}

// readBig reads n bytes into r.big, growing it only as data arrives, so a
// corrupt length cannot make it allocate up front.
func (r *respReader) readBig(n int) error {
	const chunk = 64 << 10
	r.big = r.big[:0]
	for len(r.big) < n {
		k := min(n-len(r.big), chunk)
		start := len(r.big)
		r.big = append(r.big, make([]byte, k)...)
		if _, err := io.ReadFull(r.br, r.big[start:]); err != nil {
			return eofErr(err, true)
		}
	}
	return nil
}

// eofErr turns an end of stream inside a reply into io.ErrUnexpectedEOF.
func eofErr(err error, inReply bool) error {
	if inReply && errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseRESPInt(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, protocolErr("bad integer %q", b[:min(len(b), 32)])
	}
	return n, nil
}

// parseRESPLen parses a length of at most limit, or -1 for null.
func parseRESPLen(b []byte, limit int64) (int64, error) {
	n, err := parseRESPInt(b)
	if err == nil && (n < -1 || n > limit) {
		err = protocolErr("bad length %d", n)
	}
	return n, err
}
