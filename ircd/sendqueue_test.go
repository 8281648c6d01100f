package ircd

import "testing"

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
	var f lazyFlusher
	q := newSendQueue(1<<10, &f)
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
	f.flush()
	if !woken(q) {
		t.Fatal("the flusher did not wake the writer for a waiting lazy line")
	}
	if out, _, _ := q.take(nil); string(out) != "PART #a\r\n" {
		t.Fatalf("took %q after the flush", out)
	}
	f.flush()
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
