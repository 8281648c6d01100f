package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// twoHalves delivers data in two reads split at cut, as a socket might,
// never returning more than the caller's buffer holds.
type twoHalves struct {
	parts [][]byte
}

func (r *twoHalves) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// expectedLines is the line reader's contract written out plainly: every
// LF-terminated segment is one result; a segment longer than the read
// buffer, or whose tags or body break the limits, is ErrLineTooLong; an
// unterminated tail is never returned.
func expectedLines(data []byte) []string {
	var out []string
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out
		}
		seg := data[:i+1]
		data = data[i+1:]
		line := bytes.TrimRight(seg, "\r\n")
		if len(seg) > ReadBufSize || !lineFitsSpec(line) {
			out = append(out, "<too long>")
			continue
		}
		out = append(out, string(line))
	}
}

// lineFitsSpec restates the message-tags limits independently of
// WithinLimits: at most 8191 bytes of tags including '@' and the space,
// and 510 bytes of body (512 with the CRLF).
func lineFitsSpec(line []byte) bool {
	if len(line) > 0 && line[0] == '@' {
		tags, body, found := bytes.Cut(line, []byte(" "))
		if !found {
			return len(line) <= MaxTagBytes
		}
		return len(tags)+1 <= 8191 && len(body) <= 510
	}
	return len(line) <= 510
}

func FuzzLineReader(f *testing.F) {
	seeds := []string{
		"PING a\r\n",
		"PING a\nPING b\r\nPING c",
		"PRIVMSG #x :a\rPRIVMSG #x :evil\r\n",
		"@+t=v PRIVMSG #x :hi\r\n",
		"@a \r\n",
		"\r\n\r\n\n\n",
		"PRIVMSG #x :" + strings.Repeat("x", 497) + "\r\n",
		"PRIVMSG #x :" + strings.Repeat("x", 498) + "\r\nPING after\r\n",
		"@" + strings.Repeat("t", 8189) + " PING x\r\nPING after\r\n",
		"@" + strings.Repeat("t", 8190) + " PING x\r\nPING after\r\n",
		strings.Repeat("y", ReadBufSize+100) + "\nPING after\r\n",
		strings.Repeat("z", ReadBufSize-1) + "\n",
		"NICK a\x00b\r\n",
		"\xff\xfe\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		k := int(cut) % (len(data) + 1)
		lr := NewLineReader(&twoHalves{parts: [][]byte{data[:k:k], data[k:]}})
		var got []string
		for {
			line, err := lr.Next()
			if errors.Is(err, ErrLineTooLong) {
				got = append(got, "<too long>")
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if !WithinLimits(line) || !lineFitsSpec(line) {
				t.Fatalf("line over the limits returned: %d bytes", len(line))
			}
			if bytes.IndexByte(line, '\n') >= 0 || bytes.HasSuffix(line, []byte("\r")) {
				t.Fatalf("line keeps its terminator: %q", line)
			}
			got = append(got, string(line))
		}
		want := expectedLines(data)
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d (cut %d)", len(got), len(want), k)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("line %d = %q, want %q (cut %d)", i, got[i], want[i], k)
			}
		}
	})
}

// chunks is a reader handing out one chunk per Read (as much as fits).
type chunks struct{ parts [][]byte }

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	return n, nil
}

// TestLineReaderGrowsWhileStreaming: reads that fill the buffer make the
// next one bigger, up to ReadBufSize; a read that does not lets it shrink
// back to initialReadBuf once drained. No line is lost or cut either way.
func TestLineReaderGrowsWhileStreaming(t *testing.T) {
	line := strings.Repeat("x", 62) + "\r\n" // 64 bytes
	stream := strings.Repeat(line, 1024)     // 64 KiB at once: a paste
	src := &chunks{parts: [][]byte{[]byte(stream), []byte(line)}}
	lr := NewLineReader(src)
	largest := 0
	for i := range 1025 {
		got, err := lr.Next()
		if err != nil || string(got) != line[:62] {
			t.Fatalf("line %d: %q, %v", i, got, err)
		}
		largest = max(largest, len(lr.buf))
		if i == 1023 {
			if largest != ReadBufSize {
				t.Fatalf("a 64 KiB stream grew the buffer to %d, want %d", largest, ReadBufSize)
			}
		}
	}
	if _, err := lr.Next(); err != io.EOF {
		t.Fatalf("after the stream: %v, want EOF", err)
	}
	if len(lr.buf) != initialReadBuf {
		t.Fatalf("after a short read the buffer is %d bytes, want %d", len(lr.buf), initialReadBuf)
	}
}
