package store

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"securechat/store/redistest"
)

// newTestReader reads replies from in through a buffer of size bytes
// (bufio's minimum is 16), so small sizes exercise the long-bulk path.
func newTestReader(in string, size int) *respReader {
	return &respReader{br: bufio.NewReaderSize(strings.NewReader(in), size)}
}

func TestRESPWriter(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"command", appendCommand(nil, "set", "k", ""), "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$0\r\n\r\n"},
		{"binary bulk", appendBulk([]byte("x"), []byte{0, '\r', '\n', 0xff}), "x$4\r\n\x00\r\n\xff\r\n"},
		{"int", appendBulkInt(nil, -1704164645000), "$14\r\n-1704164645000\r\n"},
		{"concat", appendBulkConcat(nil, "sc:", "h:", "k\x00"), "$7\r\nsc:h:k\x00\r\n"},
		{"empty array", appendArray(nil, 0), "*0\r\n"},
	}
	for _, tt := range tests {
		if string(tt.got) != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestRESPReplyTypes reads every reply type, then a sentinel reply, which
// shows the reader stopped exactly at the reply's end.
func TestRESPReplyTypes(t *testing.T) {
	long := strings.Repeat("0123456789", 10)
	tests := []struct {
		name string
		in   string
		want respReply
	}{
		{"status", "+OK\r\n", respReply{Type: respStatus, Str: []byte("OK")}},
		{"empty status", "+\r\n", respReply{Type: respStatus}},
		{"error", "-ERR no\r\n", respReply{Type: respErr, Str: []byte("ERR no")}},
		{"integer", ":42\r\n", respReply{Type: respInt, Int: 42}},
		{"negative integer", ":-7\r\n", respReply{Type: respInt, Int: -7}},
		{"bulk", "$5\r\nhello\r\n", respReply{Type: respBulk, Int: 5, Str: []byte("hello")}},
		{"binary bulk", "$4\r\n\r\n\x00\xff\r\n", respReply{Type: respBulk, Int: 4, Str: []byte("\r\n\x00\xff")}},
		{"empty bulk", "$0\r\n\r\n", respReply{Type: respBulk}},
		{"null bulk", "$-1\r\n", respReply{Type: respBulk, Int: -1}},
		{"long bulk", "$100\r\n" + long + "\r\n", respReply{Type: respBulk, Int: 100, Str: []byte(long)}},
		{"array", "*2\r\n$1\r\na\r\n:1\r\n", respReply{Type: respArray, Int: 2}},
		{"nested arrays", "*3\r\n*2\r\n+a\r\n*1\r\n$100\r\n" + long + "\r\n*0\r\n-ERR inside\r\n", respReply{Type: respArray, Int: 3}},
		{"empty array", "*0\r\n", respReply{Type: respArray}},
		{"null array", "*-1\r\n", respReply{Type: respArray, Int: -1}},
	}
	for _, tt := range tests {
		for _, size := range []int{16, readBufSize} {
			r := newTestReader(tt.in+":99\r\n", size)
			got, err := r.read()
			if err != nil || got.Type != tt.want.Type || got.Int != tt.want.Int || !bytes.Equal(got.Str, tt.want.Str) {
				t.Errorf("%s (buffer %d): got %c %d %q, %v; want %c %d %q", tt.name, size, got.Type, got.Int, got.Str, err, tt.want.Type, tt.want.Int, tt.want.Str)
				continue
			}
			if next, err := r.read(); err != nil || next.Type != respInt || next.Int != 99 {
				t.Errorf("%s (buffer %d): next reply %c %d, %v; want the sentinel :99", tt.name, size, next.Type, next.Int, err)
			}
			if _, err := r.read(); err != io.EOF {
				t.Errorf("%s (buffer %d): read at the end = %v, want io.EOF", tt.name, size, err)
			}
		}
	}
}

func TestRESPReadErrors(t *testing.T) {
	r := newTestReader("$3\r\n1-0\r\n-ERR stale\r\n:1\r\n*1\r\n-ERR nested\r\n", 16)
	errs, err := r.readErrors(nil, 4)
	if err != nil || len(errs) != 4 || errs[0] != nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("readErrors = %v, %v; want [nil ERR nil nil]", errs, err)
	}
	var redisErr interface{ RedisError() }
	if errs[1].Error() != "ERR stale" || !errors.As(errs[1], &redisErr) {
		t.Errorf("error reply = %#v, want a redis.Error saying ERR stale", errs[1])
	}
	if _, err := r.readErrors(nil, 1); err != io.EOF {
		t.Errorf("readErrors past the end = %v, want io.EOF", err)
	}
}

func TestRESPMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", io.EOF},
		{"unknown type", "?x\r\n", errProtocol},
		{"RESP3 null", "_\r\n", errProtocol},
		{"LF only", "+OK\n", errProtocol},
		{"bare CRLF", "\r\n", errProtocol},
		{"bad integer", ":12a\r\n", errProtocol},
		{"empty integer", ":\r\n", errProtocol},
		{"integer overflow", ":99999999999999999999\r\n", errProtocol},
		{"bulk past its length", "$2\r\nabc\r\n", errProtocol},
		{"long bulk past its length", "$20\r\n" + strings.Repeat("x", 21) + "\r\n", errProtocol},
		{"bulk short of its length", "$4\r\nab\r\n", io.ErrUnexpectedEOF},
		{"negative bulk length", "$-2\r\n", errProtocol},
		{"huge bulk length", "$999999999999\r\n", errProtocol},
		{"bad array length", "*-5\r\n", errProtocol},
		{"huge array length", "*99999999999\r\n", errProtocol},
		{"truncated line", "+OK", io.ErrUnexpectedEOF},
		{"truncated bulk", "$10\r\nabc", io.ErrUnexpectedEOF},
		{"truncated long bulk", "$100\r\nabc", io.ErrUnexpectedEOF},
		{"truncated array", "*3\r\n:1\r\n", io.ErrUnexpectedEOF},
		{"bad array element", "*2\r\n:1\r\n?\r\n", errProtocol},
		{"line longer than the buffer", "+" + strings.Repeat("x", 40) + "\r\n", errProtocol},
	}
	for _, tt := range tests {
		if _, err := newTestReader(tt.in, 16).read(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzRESPReply feeds arbitrary bytes to the reader, which must return
// replies consistent with their headers or one of its errors, never panic
// or loop; and reads back any bytes written as a bulk string.
func FuzzRESPReply(f *testing.F) {
	for _, seed := range []string{
		"+OK\r\n", "-ERR x\r\n", ":1\r\n", ":-0\r\n", "$3\r\nabc\r\n", "$-1\r\n", "$0\r\n\r\n",
		"*2\r\n*1\r\n:1\r\n$0\r\n\r\n", "*-1\r\n", "*0\r\n", "$100\r\nab", "*2147483647\r\n:1\r\n",
		":99999999999999999999\r\n", "?\r\n", "+no crlf", "$3\r\nabcd\r\n", "\r\n", "$536870912\r\n",
		"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "$3\r\n1-0\r\n-ERR stale\r\n:1\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &respReader{br: bufio.NewReaderSize(bytes.NewReader(in), 16)}
		for range len(in)/3 + 1 { // a reply takes at least 3 bytes
			rep, err := r.read()
			if err != nil {
				if !errors.Is(err, errProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			checkFuzzedReply(t, rep)
		}
		rep, err := newTestReader(string(appendBulk(nil, in)), 16).read()
		if err != nil || rep.Type != respBulk || !bytes.Equal(rep.Str, in) {
			t.Fatalf("bulk round trip = %c %q, %v", rep.Type, rep.Str, err)
		}
	})
}

func checkFuzzedReply(t *testing.T, rep respReply) {
	switch rep.Type {
	case respBulk:
		if rep.Int < -1 || (rep.Int >= 0 && int64(len(rep.Str)) != rep.Int) {
			t.Fatalf("bulk of length %d holds %d bytes", rep.Int, len(rep.Str))
		}
	case respArray:
		if rep.Int < -1 {
			t.Fatalf("array of length %d", rep.Int)
		}
	case respStatus, respErr, respInt:
	default:
		t.Fatalf("reply of unknown type %q", rep.Type)
	}
}

// TestRESPAgainstRedis sends a pipeline that makes redis-server answer
// with every RESP2 type, including nested arrays and a bulk string longer
// than the read buffer, then a last command whose reply shows the reader
// kept in step.
func TestRESPAgainstRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	long := bytes.Repeat([]byte("\r\n\x00\xff"), readBufSize/2)
	var b []byte
	b = appendCommand(b, "ping")
	b = appendArray(b, 2)
	b = appendBulk(appendBulk(b, "echo"), long)
	b = appendCommand(b, "incr", "n")
	b = appendCommand(b, "get", "missing")
	b = appendCommand(b, "xadd", "s", "1-1", "f", "v")
	b = appendCommand(b, "xrange", "s", "-", "+")
	b = appendCommand(b, "no-such-command")
	b = appendCommand(b, "ping", "in step")
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	r := &respReader{br: bufio.NewReaderSize(conn, readBufSize)}
	want := []respReply{
		{Type: respStatus, Str: []byte("PONG")},
		{Type: respBulk, Int: int64(len(long)), Str: long},
		{Type: respInt, Int: 1},
		{Type: respBulk, Int: -1},
		{Type: respBulk, Int: 3, Str: []byte("1-1")},
		{Type: respArray, Int: 1},
		{Type: respErr},
		{Type: respBulk, Int: 7, Str: []byte("in step")},
	}
	for i, w := range want {
		got, err := r.read()
		if w.Type == respErr && got.Type == respErr && strings.HasPrefix(string(got.Str), "ERR unknown command") {
			continue
		}
		if err != nil || got.Type != w.Type || got.Int != w.Int || !bytes.Equal(got.Str, w.Str) {
			t.Fatalf("reply %d = %c %d %.40q, %v; want %c %d %.40q", i, got.Type, got.Int, got.Str, err, w.Type, w.Int, w.Str)
		}
	}
}
