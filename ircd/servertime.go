package ircd

import "time"

// timestampLayout is the IRCv3 server-time format: the time tag on relayed
// and replayed messages, and CHATHISTORY timestamp= references.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// serverTime formats t in timestampLayout. Every relayed and replayed
// line to a client with server-time carries one, so it writes the digits
// itself rather than have time.Format interpret the layout on each call.
func serverTime(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timestampLayout)
	}
	h, mi, sec := t.Clock()
	var b [len(timestampLayout)]byte
	digits(b[0:4], y)
	b[4] = '-'
	digits(b[5:7], int(mo))
	b[7] = '-'
	digits(b[8:10], d)
	b[10] = 'T'
	digits(b[11:13], h)
	b[13] = ':'
	digits(b[14:16], mi)
	b[16] = ':'
	digits(b[17:19], sec)
	b[19] = '.'
	digits(b[20:23], t.Nanosecond()/1e6)
	b[23] = 'Z'
	return string(b[:])
}

// digits writes n, zero-padded, into all of b.
func digits(b []byte, n int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

// storedTime rounds t down to the millisecond: the precision of
// server-time and of the store, so a record's sealed time survives a round
// trip through the store unchanged.
func storedTime(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()) }
