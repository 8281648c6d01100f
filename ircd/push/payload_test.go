package push_test

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/irc.v4"

	"securechat/ircd/push"
	"securechat/ircd/wire"
)

// TestPayload checks a push keeps msgid (draft/webpush forbids dropping
// it), time and account, and drops the other tags.
func TestPayload(t *testing.T) {
	t.Parallel()
	m := &irc.Message{
		Prefix:  &irc.Prefix{Name: "alice", User: "a", Host: "host"},
		Command: "PRIVMSG",
		Params:  []string{"bob", "are you there?"},
	}
	tags := []wire.Tag{
		{Key: "+draft/reply", Value: "01JD4S8VQ3"},
		{Key: "account", Value: "alice"},
		{Key: "batch", Value: "x"},
		{Key: "label", Value: "l1"},
		{Key: "msgid", Value: "01JD4S8VQ4", Plain: true},
		{Key: "time", Value: "2026-12-03T09:00:00.000Z", Plain: true},
	}
	got, err := push.Payload(tags, m)
	if err != nil {
		t.Fatal(err)
	}
	want := "@account=alice;msgid=01JD4S8VQ4;time=2026-12-03T09:00:00.000Z :alice!a@host PRIVMSG bob :are you there?"
	if string(got) != want {
		t.Errorf("payload\n %q\nwant\n %q", got, want)
	}
	back, err := wire.Parse(got)
	if err != nil || back.Tags["msgid"] != "01JD4S8VQ4" || back.Trailing() != "are you there?" {
		t.Errorf("payload does not parse back: %v %v", back, err)
	}

	m.Params[1] = strings.Repeat("x", push.MaxPayload)
	if _, err := push.Payload(tags, m); !errors.Is(err, push.ErrTooLarge) {
		t.Errorf("oversized line: %v, want ErrTooLarge", err)
	}
}
