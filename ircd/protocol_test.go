package ircd

import (
	"strings"
	"testing"

	"gopkg.in/irc.v4"
)

// TestMessageToSelf: PRIVMSG to one's own nick is delivered.
func TestMessageToSelf(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Send("PRIVMSG alice :note to self")
	alice.Expect(`^:alice!\S+ PRIVMSG alice :?note to self$`)
}

// TestMessageToSelfLabeledEcho: with echo-message and labeled-response, a
// message to oneself comes back as two lines, the label on the echo only.
func TestMessageToSelfLabeledEcho(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "echo-message", "labeled-response", "batch", "message-tags")
	alice.Send("@label=me1 PRIVMSG alice :hello me")
	var labeled, plain int
	for _, line := range alice.Sync() {
		m, err := irc.ParseMessage(line)
		if err != nil || m.Command != "PRIVMSG" {
			continue
		}
		if m.Trailing() != "hello me" {
			t.Fatalf("unexpected PRIVMSG %q", line)
		}
		if m.Tags["label"] == "me1" {
			labeled++
		} else {
			plain++
		}
	}
	if labeled != 1 || plain != 1 {
		t.Fatalf("got %d labeled and %d unlabeled copies, want one of each", labeled, plain)
	}
}

// TestLabeledNick: the NICK line itself carries the label, with no ACK.
func TestLabeledNick(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "labeled-response", "batch")
	alice.Send("@label=n1 NICK alice2")
	alice.Expect(`^@label=n1 :alice!\S+ NICK :?alice2$`)
	for _, line := range alice.Sync() {
		if strings.Contains(line, " ACK") {
			t.Fatalf("labeled NICK also drew %q", line)
		}
	}
}
