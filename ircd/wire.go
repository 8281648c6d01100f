package ircd

import (
	"slices"
	"sort"
	"strings"

	"gopkg.in/irc.v4"
)

// appendLine serializes m with the given tags (already decided per
// recipient variant) onto buf, without CRLF. It is the fan-out hot path's
// serializer: irc.Message.String builds through a bytes.Buffer and a tag
// map, which costs several allocations per line; this appends into one
// slice and writes tags in a stable order. Everything else uses the
// library.
func appendLine(buf []byte, tags []tagPair, m *irc.Message) []byte {
	buf = slices.Grow(buf, lineSize(tags, m))
	if len(tags) > 0 {
		buf = append(buf, '@')
		for i, t := range tags {
			if i > 0 {
				buf = append(buf, ';')
			}
			buf = append(buf, t.key...)
			switch {
			case t.value == "":
			case t.plain:
				buf = append(append(buf, '='), t.value...)
			default:
				buf = appendTagValue(append(buf, '='), t.value)
			}
		}
		buf = append(buf, ' ')
	}
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

// lineSize is what appendLine appends, short only by tag escapes: growing
// the buffer once up front saves the slice doubling its way up.
func lineSize(tags []tagPair, m *irc.Message) int {
	n := len(m.Command) + 1
	for _, t := range tags {
		n += len(t.key) + len(t.value) + 2
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

// tagPair is one message tag with its unescaped value. plain marks a value
// the server made from characters that never need escaping (a time, a
// msgid), which appendLine copies without looking at each byte.
type tagPair struct {
	key, value string
	plain      bool
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

// sortedTags turns client tags into pairs in key order, so every variant
// of a message lists them alike.
func sortedTags(t irc.Tags) []tagPair {
	if len(t) == 0 {
		return nil
	}
	out := make([]tagPair, 0, len(t))
	for k, v := range t {
		out = append(out, tagPair{key: k, value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
