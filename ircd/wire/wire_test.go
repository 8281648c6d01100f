package wire

import (
	"bytes"
	"reflect"
	"testing"

	"gopkg.in/irc.v4"
)

// TestAppendLineRoundTrips checks the serializer against the parser:
// whatever AppendLine writes must parse back to the same message and tags.
func TestAppendLineRoundTrips(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tags []Tag
		msg  *irc.Message
	}{
		{"plain", nil, &irc.Message{Prefix: &irc.Prefix{Name: "a", User: "~u", Host: "h"}, Command: "PRIVMSG", Params: []string{"#c", "hello world"}}},
		{"one word", nil, &irc.Message{Prefix: &irc.Prefix{Name: "a"}, Command: "PRIVMSG", Params: []string{"#c", "hi"}}},
		{"empty trailing", nil, &irc.Message{Command: "AWAY", Params: []string{""}}},
		{"colon trailing", nil, &irc.Message{Command: "PRIVMSG", Params: []string{"#c", ":)"}}},
		{"no params", nil, &irc.Message{Prefix: &irc.Prefix{Name: "s"}, Command: "ACK"}},
		{"escaped tags", []Tag{{Key: "+x", Value: "a;b c\\d\r\ne"}, {Key: "msgid", Value: "abc", Plain: true}, {Key: "flag"}},
			&irc.Message{Prefix: &irc.Prefix{Name: "a"}, Command: "TAGMSG", Params: []string{"#c"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := AppendLine(nil, tc.tags, tc.msg)
			got, err := Parse(line)
			if err != nil {
				t.Fatalf("%q does not parse: %v", line, err)
			}
			want := irc.Tags{}
			for _, tg := range tc.tags {
				want[tg.Key] = tg.Value
			}
			if len(tc.tags) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(got.Tags, want) && len(got.Tags)+len(want) > 0 || got.Command != tc.msg.Command ||
				!reflect.DeepEqual(got.Params, tc.msg.Params) && len(tc.msg.Params)+len(got.Params) > 0 {
				t.Fatalf("%q parsed as %#v", line, got)
			}
			if tc.msg.Prefix != nil && *got.Prefix != *tc.msg.Prefix {
				t.Fatalf("prefix %v, want %v", got.Prefix, tc.msg.Prefix)
			}
		})
	}
}

// TestLineKeepsOwnTags checks that Line serializes a message's own tags
// in key order, so two renderings of one message are byte-identical.
func TestLineKeepsOwnTags(t *testing.T) {
	t.Parallel()
	m := &irc.Message{Tags: irc.Tags{"b": "2", "a": "x y"}, Prefix: &irc.Prefix{Name: "srv"}, Command: "NOTICE", Params: []string{"*", "hi there"}}
	const want = "@a=x\\sy;b=2 :srv NOTICE * :hi there"
	if got := string(Line(m)); got != want {
		t.Fatalf("Line = %q, want %q", got, want)
	}
}

// TestParseRefusesBadLines lists the lines Parse must refuse instead of
// returning a message (or panicking, as the library does on "@t ").
func TestParseRefusesBadLines(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"", "\r\n", "@a=b ", ":prefix", ":p ", "@t"} {
		if m, err := Parse([]byte(line)); err == nil {
			t.Errorf("Parse(%q) = %#v, want an error", line, m)
		}
	}
}

// FuzzParse checks that Parse never panics, never returns a message
// without a command, and that a line free of CR, LF and NUL parses to a
// message that serializes back to a line with the same command and
// parameters.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"PRIVMSG #c :hello world", "privmsg #c hi", ":n!u@h PRIVMSG #c ::)",
		"@a=b;c :n PRIVMSG #c :x", "@ ", "@a ", "JOIN #a,#b key", "  PING   x  y ",
		"PING :", ":prefix", "QUIT :a :b", "@+x=\\s\\:;y TAGMSG #c",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Parse(line)
		if err != nil {
			return
		}
		if m.Command == "" {
			t.Fatalf("%q: parsed without a command", line)
		}
		if bytes.ContainsAny(TrimEOL(line), "\r\n\x00") {
			return // protocol code refuses these before parsing
		}
		again, err := Parse(Line(m))
		if err != nil || again.Command != m.Command || len(again.Params) != len(m.Params) {
			t.Fatalf("%q: %q does not round-trip: %#v, %v", line, Line(m), again, err)
		}
	})
}
