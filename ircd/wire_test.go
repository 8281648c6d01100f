package ircd

import (
	"reflect"
	"slices"
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
		{"escaped tags", []tagPair{{key: "+x", value: "a;b c\\d\r\ne"}, {key: "msgid", value: "abc", plain: true}, {key: "flag"}},
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

// FuzzParseUntagged checks the fast parser against gopkg.in/irc.v4 on
// every line without tags: same error, command, parameters and prefix.
func FuzzParseUntagged(f *testing.F) {
	for _, s := range []string{
		"PRIVMSG #c :hello world", "privmsg #c hi", ":n!u@h PRIVMSG #c ::)",
		"JOIN #a,#b key", "  PING   x  y ", "PING :", ":prefix", ": x", " :x",
		"MODE #c +o  n", "NICK\r\n", "\r\n", "QUIT :a :b", "CAP LS 302",
		"PRIVMSG #c :\xff\xfe", "A B C D E F G :h i",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || s[0] == '@' {
			return
		}
		got, gotErr := parseUntagged(s)
		want, wantErr := irc.ParseMessage(s)
		if gotErr != wantErr {
			t.Fatalf("%q: error %v, library %v", s, gotErr, wantErr)
		}
		if wantErr != nil {
			return
		}
		if got.Command != want.Command || !slices.Equal(got.Params, want.Params) ||
			*got.Prefix != *want.Prefix || len(got.Tags) != len(want.Tags) {
			t.Fatalf("%q: parsed %#v %#v, library %#v %#v", s, got, got.Prefix, want, want.Prefix)
		}
		if (got.Params == nil) != (want.Params == nil) {
			t.Fatalf("%q: params %#v, library %#v", s, got.Params, want.Params)
		}
	})
}
