package ircd

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// woken reports whether q's writer has a wake-up pending, consuming it.
func woken(q *sendQueue) bool {
	select {
	case <-q.wake:
		return true
	default:
		return false
	}
}

// TestLazyLinesShareAWrite: a membership notice does not wake the writer;
// the next ordinary line does and carries it along, in order, in one take.
// With nothing else to carry it, the flusher sends it.
func TestLazyLinesShareAWrite(t *testing.T) {
	f := newLazyFlusher()
	q := newSendQueue(1<<10, f)
	q.push([]byte("JOIN #a"), pushLazy)
	q.push([]byte("QUIT :bye"), pushLazy)
	if woken(q) {
		t.Fatal("a lazy line woke the writer")
	}
	q.push([]byte("PRIVMSG #a :hi"), pushNow)
	if !woken(q) {
		t.Fatal("an ordinary line did not wake the writer")
	}
	out, _, _ := q.take(nil)
	if got, want := string(out), "JOIN #a\r\nQUIT :bye\r\nPRIVMSG #a :hi\r\n"; got != want {
		t.Fatalf("took %q, want %q", got, want)
	}

	q.push([]byte("PART #a"), pushLazy)
	if woken(q) {
		t.Fatal("a lazy line woke the writer")
	}
	if _, due := f.flush(time.Now()); !due || woken(q) {
		t.Fatal("the flusher woke the writer before lazyDelay")
	}
	if _, more := f.flush(time.Now().Add(lazyDelay)); more || !woken(q) {
		t.Fatal("the flusher did not wake the writer for a lazy line due")
	}
	if out, _, _ := q.take(nil); string(out) != "PART #a\r\n" {
		t.Fatalf("took %q after the flush", out)
	}
	f.flush(time.Now().Add(time.Hour))
	if woken(q) {
		t.Fatal("an empty queue was woken again")
	}
}

// TestHeldLinesFollowTheReply: while the owner holds its queue, lines from
// others wait behind its replies, whatever their order of arrival.
func TestHeldLinesFollowTheReply(t *testing.T) {
	q := newSendQueue(1<<10, nil)
	q.hold()
	q.push([]byte("PRIVMSG #a :live"), pushNow)
	q.push([]byte("JOIN #a"), pushReply)
	q.push([]byte("366 #a :End"), pushReply)
	q.release()
	if !woken(q) {
		t.Fatal("release did not wake the writer")
	}
	if out, _, _ := q.take(nil); string(out) != "JOIN #a\r\n366 #a :End\r\nPRIVMSG #a :live\r\n" {
		t.Fatalf("took %q", out)
	}
}

// TestWritePause: only a writer whose last write, moments ago, already
// carried a batch waits for more lines; a stream of single lines yields
// once; a quiet client is written at once.
func TestWritePause(t *testing.T) {
	for _, tc := range []struct {
		name     string
		since    time.Duration
		lastSize int
		pause    time.Duration
		yield    bool
	}{
		{"quiet client", time.Second, 4096, 0, false},
		{"first write", time.Duration(1<<63 - 1), 0, 0, false},
		{"stream of single lines", busyWindow / 2, 200, 0, true},
		{"flood", busyWindow / 2, streamBytes, streamDelay, false},
		{"flood that paused", busyWindow, 64 << 10, 0, false},
	} {
		pause, yield := writePause(tc.since, tc.lastSize)
		if pause != tc.pause || yield != tc.yield {
			t.Errorf("%s: pause %v yield %v, want %v %v", tc.name, pause, yield, tc.pause, tc.yield)
		}
	}
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
// next one bigger, up to readBufSize; a read that does not lets it shrink
// back to initialReadBuf once drained. No line is lost or cut either way.
func TestLineReaderGrowsWhileStreaming(t *testing.T) {
	line := strings.Repeat("x", 62) + "\r\n" // 64 bytes
	stream := strings.Repeat(line, 1024)     // 64 KiB at once: a paste
	src := &chunks{parts: [][]byte{[]byte(stream), []byte(line)}}
	lr := newLineReader(src)
	largest := 0
	for i := range 1025 {
		got, err := lr.next()
		if err != nil || string(got) != line[:62] {
			t.Fatalf("line %d: %q, %v", i, got, err)
		}
		largest = max(largest, len(lr.buf))
		if i == 1023 {
			if largest != readBufSize {
				t.Fatalf("a 64 KiB stream grew the buffer to %d, want %d", largest, readBufSize)
			}
		}
	}
	if _, err := lr.next(); err != io.EOF {
		t.Fatalf("after the stream: %v, want EOF", err)
	}
	if len(lr.buf) != initialReadBuf {
		t.Fatalf("after a short read the buffer is %d bytes, want %d", len(lr.buf), initialReadBuf)
	}
}

// TestSendQueueMatchesModel runs random pushes (single lines from a buffer
// the caller then overwrites, and runs of lines as a burst pushes them),
// holds, releases and takes against a plain byte-string model of the
// queue: reused buffers must never change a line still queued or held.
func TestSendQueueMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	q := newSendQueue(1<<20, nil)
	var want, held strings.Builder
	holding := false
	scratch := make([]byte, 0, 64)
	var spare []byte
	for i := range 20000 {
		line := fmt.Sprintf("L%d %s", i, strings.Repeat("x", rng.IntN(40)))
		switch op := rng.IntN(10); {
		case op < 4: // a caller's reused buffer
			scratch = append(scratch[:0], line...)
			kind := pushNow
			if rng.IntN(3) == 0 {
				kind = pushReply
			}
			q.push(scratch, kind)
			for j := range scratch {
				scratch[j] = '#'
			}
			if holding && kind != pushReply {
				held.WriteString(line + "\r\n")
			} else {
				want.WriteString(line + "\r\n")
			}
		case op < 7:
			q.pushAll([][]byte{[]byte(line)}, pushNow)
			if holding {
				held.WriteString(line + "\r\n")
			} else {
				want.WriteString(line + "\r\n")
			}
		case op == 7 && !holding:
			q.hold()
			holding = true
		case op == 7:
			q.release()
			holding = false
			want.WriteString(held.String())
			held.Reset()
		default:
			out, _, _ := q.take(spare)
			if string(out) != want.String() {
				t.Fatalf("op %d: took %q, want %q", i, out, want.String())
			}
			want.Reset()
			spare = out
		}
	}
}
