// Package wire is securechat's one IRC line parser and one serializer.
// Protocol code, history and the load tool's peers all read and write
// lines through it, so a line always looks the same whichever path made it.
package wire

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"gopkg.in/irc.v4"
)

// Parse parses one line (with or without its CR LF). It is
// irc.ParseMessage without that function's one crash: gopkg.in/irc.v4
// indexes past the end of a line that is a tag section and a space only.
func Parse(line []byte) (*irc.Message, error) {
	s := TrimEOL(string(line))
	if s == "" {
		return nil, irc.ErrZeroLengthMessage
	}
	if s[0] == '@' && strings.IndexByte(s, ' ') == len(s)-1 {
		return nil, irc.ErrMissingDataAfterTags
	}
	m, err := irc.ParseMessage(s)
	if err == nil && !validCommand(m.Command) {
		return nil, errBadCommand
	}
	return m, err
}

// validCommand refuses a command that would not read back as one: empty,
// starting like tags or a prefix, or holding control characters.
func validCommand(cmd string) bool {
	if cmd == "" || cmd[0] == '@' || cmd[0] == ':' {
		return false
	}
	for i := 0; i < len(cmd); i++ {
		if cmd[i] <= ' ' {
			return false
		}
	}
	return true
}

var errBadCommand = errors.New("wire: missing or malformed command")

// TrimEOL drops a line's trailing CRs and LFs, like bytes.TrimRight(line,
// "\r\n") without building its byte set on every line.
func TrimEOL[S ~string | ~[]byte](line S) S {
	n := len(line)
	for n > 0 && (line[n-1] == '\n' || line[n-1] == '\r') {
		n--
	}
	return line[:n]
}

// Tag is one message tag with its unescaped value. Plain marks a value
// the server made from characters that never need escaping (a time, a
// msgid), which AppendLine copies without looking at each byte.
type Tag struct {
	Key, Value string
	Plain      bool
}

// Line serializes m with its own tags, in key order, without CR LF.
func Line(m *irc.Message) []byte {
	return AppendLine(nil, SortedTags(m.Tags), m)
}

// AppendLine serializes m with the given tags (m.Tags is ignored) onto buf,
// without CR LF. It appends into one slice and writes tags in a stable
// order, so the fan-out, which renders one line per recipient variant,
// allocates once per line.
func AppendLine(buf []byte, tags []Tag, m *irc.Message) []byte {
	buf = slices.Grow(buf, lineSize(tags, m))
	buf = appendTags(buf, tags)
	if p := m.Prefix; p != nil && p.Name != "" {
		buf = append(buf, ':')
		buf = append(buf, p.Name...)
		if p.User != "" {
			buf = append(append(buf, '!'), p.User...)
		}
		if p.Host != "" {
			buf = append(append(buf, '@'), p.Host...)
		}
		buf = append(buf, ' ')
	}
	buf = append(buf, m.Command...)
	return appendParams(buf, m.Params)
}

func appendTags(buf []byte, tags []Tag) []byte {
	if len(tags) == 0 {
		return buf
	}
	buf = append(buf, '@')
	for i, t := range tags {
		if i > 0 {
			buf = append(buf, ';')
		}
		buf = append(buf, t.Key...)
		switch {
		case t.Value == "":
		case t.Plain:
			buf = append(append(buf, '='), t.Value...)
		default:
			buf = appendTagValue(append(buf, '='), t.Value)
		}
	}
	return append(buf, ' ')
}

// lineSize is what AppendLine appends, short only by tag escapes: growing
// the buffer once up front saves the slice doubling its way up.
func lineSize(tags []Tag, m *irc.Message) int {
	n := len(m.Command) + 1
	for _, t := range tags {
		n += len(t.Key) + len(t.Value) + 2
	}
	if p := m.Prefix; p != nil {
		n += len(p.Name) + len(p.User) + len(p.Host) + 4
	}
	for _, p := range m.Params {
		n += len(p) + 2
	}
	return n
}

func appendParams(buf []byte, params []string) []byte {
	for i, p := range params {
		buf = append(buf, ' ')
		last := i == len(params)-1
		if last && (p == "" || p[0] == ':' || strings.IndexByte(p, ' ') >= 0) {
			buf = append(buf, ':')
		}
		buf = append(buf, p...)
	}
	return buf
}

// appendTagValue escapes a tag value as the message-tags spec requires.
func appendTagValue(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			buf = append(buf, '\\', ':')
		case ' ':
			buf = append(buf, '\\', 's')
		case '\\':
			buf = append(buf, '\\', '\\')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\n':
			buf = append(buf, '\\', 'n')
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// SortedTags turns tags into pairs in key order, so every variant of a
// message lists them alike.
func SortedTags(t irc.Tags) []Tag {
	if len(t) == 0 {
		return nil
	}
	out := make([]Tag, 0, len(t))
	for k, v := range t {
		out = append(out, Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Casefold maps a nick or channel name to its canonical form under
// CASEMAPPING=ascii, the form in which names are compared and keyed.
func Casefold(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
}
