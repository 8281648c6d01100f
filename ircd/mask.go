package ircd

import (
	"strings"

	"securechat/ircd/wire"
)

// maxMaskLen bounds a ban mask: longer than any nick!user@host can be, so
// nothing legitimate is refused, and short enough that the matcher's
// len(mask)*len(hostmask) worst case stays trivial.
const maxMaskLen = nickLen + userLen + 64 + 2

// matchMask reports whether hostmask matches the glob mask, where '*'
// matches any run of bytes and '?' exactly one, ignoring ASCII case.
//
// It is the classic iterative matcher that remembers only the last '*':
// on a mismatch it retries from that star with one more byte consumed.
// Earlier stars never need revisiting, so a hostile mask such as
// "*a*a*a*a*b" costs O(len(mask)*len(hostmask)), never exponential time.
func matchMask(mask, hostmask string) bool {
	m, h := 0, 0
	star, retry := -1, 0
	for h < len(hostmask) {
		switch {
		case m < len(mask) && mask[m] == '*':
			star, retry = m, h
			m++
		case m < len(mask) && (mask[m] == '?' || lowerASCII(mask[m]) == lowerASCII(hostmask[h])):
			m++
			h++
		case star >= 0:
			retry++
			m, h = star+1, retry
		default:
			return false
		}
	}
	for m < len(mask) && mask[m] == '*' {
		m++
	}
	return m == len(mask)
}

func lowerASCII(b byte) byte {
	if b >= 'A' && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// normalizeMask completes a ban mask to nick!user@host form and
// casefolds it, so equal bans compare equal: "nick" becomes "nick!*@*",
// "nick!user" becomes "nick!user@*" and "user@host" becomes "*!user@host".
// It returns "" for a mask that cannot be a ban.
func normalizeMask(mask string) string {
	if mask == "" || len(mask) > maxMaskLen || strings.ContainsAny(mask, " ,\x00") || mask[0] == ':' {
		return ""
	}
	bang, at := strings.IndexByte(mask, '!'), strings.IndexByte(mask, '@')
	switch {
	case bang < 0 && at < 0:
		mask += "!*@*"
	case bang < 0:
		mask = "*!" + mask
	case at < 0:
		mask += "@*"
	}
	return wire.Casefold(mask)
}

// hasWildcard reports whether s is a glob rather than a literal name.
func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }
