package load

import (
	"bytes"
	"strings"
)

// message is a parsed IRC line, used off the hot path only (registration,
// joins, batches, errors). Delivered load messages are recognised by their
// payload marker without building one of these.
type message struct {
	tags    string // raw tag section without the '@'
	prefix  string // without the ':'
	command string
	params  []string
}

// nick returns the nick part of the prefix.
func (m *message) nick() string {
	if i := strings.IndexByte(m.prefix, '!'); i >= 0 {
		return m.prefix[:i]
	}
	return m.prefix
}

// param returns parameter i or "".
func (m *message) param(i int) string {
	if i < len(m.params) {
		return m.params[i]
	}
	return ""
}

// tag returns the raw value of tag key and whether it is present.
func (m *message) tag(key string) (string, bool) {
	for kv := range strings.SplitSeq(m.tags, ";") {
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// parseMessage splits one line (without CR LF) into a message. It is
// lenient: a malformed line yields whatever parts it has.
func parseMessage(line []byte) message {
	s := string(line)
	var m message
	if strings.HasPrefix(s, "@") {
		m.tags, s, _ = strings.Cut(s[1:], " ")
	}
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, ":") {
		m.prefix, s, _ = strings.Cut(s[1:], " ")
	}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, ":") {
			m.params = append(m.params, s[1:])
			break
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		if p == "" {
			continue
		}
		if m.command == "" {
			m.command = strings.ToUpper(p)
		} else {
			m.params = append(m.params, p)
		}
	}
	return m
}

// hasBatchTag reports whether a raw line carries a batch= tag, i.e. belongs
// to a replay or CHATHISTORY batch rather than live traffic.
func hasBatchTag(line []byte) bool {
	if len(line) == 0 || line[0] != '@' {
		return false
	}
	end := bytes.IndexByte(line, ' ')
	if end < 0 {
		end = len(line)
	}
	tags := line[1:end]
	return bytes.HasPrefix(tags, []byte("batch=")) || bytes.Contains(tags, []byte(";batch="))
}

// parseUint parses a decimal number at the start of b and returns it with
// the rest of b after one separating space. ok is false if b does not start
// with a digit.
func parseUint(b []byte) (n int64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, b, false
	}
	if i < len(b) && b[i] == ' ' {
		i++
	}
	return n, b[i:], true
}

// parsePayload extracts sender, seq and send time from the text after the
// marker "LT <runid> ".
func parsePayload(b []byte) (sender int, seq, nanos int64, ok bool) {
	s, b, ok1 := parseUint(b)
	q, b, ok2 := parseUint(b)
	t, _, ok3 := parseUint(b)
	return int(s), q, t, ok1 && ok2 && ok3
}
