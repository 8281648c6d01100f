package ircd

import "strings"

// validNick follows the modern IRC rules: no spaces, commas, '*', '?',
// '!', '@', and no leading '#', '&', ':', '$', '+', '-' or digit.
func validNick(nick string) bool {
	if nick == "" || len(nick) > nickLen {
		return false
	}
	if strings.ContainsAny(nick[:1], "#&:$+-0123456789~%") {
		return false
	}
	for i := 0; i < len(nick); i++ {
		c := nick[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("[]\\`_^{|}-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validChannel accepts '#' names without spaces, commas, BELL or control
// characters, up to channelLen bytes.
func validChannel(name string) bool {
	return len(name) >= 2 && len(name) <= channelLen && name[0] == '#' && plainToken(name[1:], ",")
}

func validUser(user string) bool { return user != "" && plainToken(user, "@!") }

// plainToken reports whether s could travel as one parameter: no space,
// no control character, DEL or byte of also.
func plainToken(s, also string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || strings.IndexByte(also, c) >= 0 {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n bytes without splitting a UTF-8
// sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// splitList splits a comma-separated parameter, dropping empty items.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}
