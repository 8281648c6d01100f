package ircd

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// msgidEncoding is lower-case base32hex: sortable and safe in tags.
var msgidEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// newMsgID returns a unique msgid that starts with its millisecond
// timestamp, so a msgid alone locates a record in time-ordered history.
// Layout: 8 bytes of Unix ms, 4 bytes of per-server random, 4 of counter.
func (s *Server) newMsgID(at time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(at.UnixMilli()))
	binary.BigEndian.PutUint32(b[8:12], s.msgidNode)
	binary.BigEndian.PutUint32(b[12:16], uint32(s.msgidSeq.Add(1)))
	return msgidEncoding.EncodeToString(b[:])
}

// msgidTime recovers the time encoded in a msgid made by newMsgID.
func msgidTime(id string) (time.Time, bool) {
	b, err := msgidEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(b[0:8]))), true
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// timestampLayout is the IRCv3 server-time format: the time tag on relayed
// and replayed messages, and CHATHISTORY timestamp= references.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// serverTime formats t in timestampLayout. Every relayed and replayed
// line to a client with server-time carries one, and time.Format, which
// interprets its layout on each call, cost a third of a microsecond.
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
