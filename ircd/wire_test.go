package ircd

import (
	"reflect"
	"testing"

	"gopkg.in/irc.v4"
)

// TestAppendLineRoundTrips checks the hot-path serializer against the
// library's parser: whatever appendLine writes must parse back to the same
// message and tags.
func TestAppendLineRoundTrips(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tags []tagPair
		msg  *irc.Message
	}{
		{"plain", nil, &irc.Message{Prefix: &irc.Prefix{Name: "a", User: "~u", Host: "h"}, Command: "PRIVMSG", Params: []string{"#c", "hello world"}}},
		{"one word", nil, &irc.Message{Prefix: &irc.Prefix{Name: "a"}, Command: "PRIVMSG", Params: []string{"#c", "hi"}}},
		{"empty trailing", nil, &irc.Message{Command: "AWAY", Params: []string{""}}},
		{"colon trailing", nil, &irc.Message{Command: "PRIVMSG", Params: []string{"#c", ":)"}}},
		{"no params", nil, &irc.Message{Prefix: &irc.Prefix{Name: "s"}, Command: "ACK"}},
		{"escaped tags", []tagPair{{"+x", "a;b c\\d\r\ne"}, {"msgid", "abc"}, {"flag", ""}},
			&irc.Message{Prefix: &irc.Prefix{Name: "a"}, Command: "TAGMSG", Params: []string{"#c"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := string(appendLine(nil, tc.tags, tc.msg))
			got, err := irc.ParseMessage(line)
			if err != nil {
				t.Fatalf("%q does not parse: %v", line, err)
			}
			want := irc.Tags{}
			for _, tg := range tc.tags {
				want[tg.key] = tg.value
			}
			if !reflect.DeepEqual(got.Tags, want) || got.Command != tc.msg.Command ||
				!reflect.DeepEqual(got.Params, tc.msg.Params) && len(tc.msg.Params)+len(got.Params) > 0 {
				t.Fatalf("%q parsed as %#v", line, got)
			}
			if tc.msg.Prefix != nil && *got.Prefix != *tc.msg.Prefix {
				t.Fatalf("prefix %v, want %v", got.Prefix, tc.msg.Prefix)
			}
		})
	}
}
