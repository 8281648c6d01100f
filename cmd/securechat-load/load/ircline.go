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

// tagValue returns the raw value of tag key in a line's tag section, nil
// if absent. It does not allocate: it runs on every live delivery with
// --reconnect.
func tagValue(line []byte, key string) []byte {
	if len(line) == 0 || line[0] != '@' {
		return nil
	}
	tags := line[1:]
	if end := bytes.IndexByte(tags, ' '); end >= 0 {
		tags = tags[:end]
	}
	for len(tags) > 0 {
		kv := tags
		if i := bytes.IndexByte(tags, ';'); i >= 0 {
			kv, tags = tags[:i], tags[i+1:]
		} else {
			tags = nil
		}
		if len(kv) > len(key) && kv[len(key)] == '=' && string(kv[:len(key)]) == key {
			return kv[len(key)+1:]
		}
	}
	return nil
}

// loadPayload recognises a live load message by how it ends, the marker
// " :LT <runid> " and three numbers (sender, seq, send time), and parses it
// in the same backward pass. At max rate the generator reads millions of
// lines a second; searching each for the marker and then parsing forward
// cost a third of its CPU, which it takes from the server it measures.
func loadPayload(line, marker []byte) (sender int, seq, nanos int64, ok bool) {
	var nums [3]int64
	end := len(line)
	for k := len(nums) - 1; k >= 0; k-- {
		start := digitsBefore(line, end)
		if start == end || start == 0 || line[start-1] != ' ' {
			return 0, 0, 0, false
		}
		nums[k] = parseDigits(line[start:end])
		end = start - 1
	}
	if !bytes.HasSuffix(line[:end+1], marker) {
		return 0, 0, 0, false
	}
	return int(nums[0]), nums[1], nums[2], true
}

// digitsBefore returns where the run of at most 19 decimal digits (a Unix
// time in nanoseconds has 19) ending at b[end] starts, or end if there is
// none. A longer run fails the caller's check for a space before it.
func digitsBefore(b []byte, end int) int {
	start := end
	for start > 0 && end-start < 19 && '0' <= b[start-1] && b[start-1] <= '9' {
		start--
	}
	return start
}

func parseDigits(d []byte) (n int64) {
	for _, c := range d {
		n = n*10 + int64(c-'0')
	}
	return n
}
