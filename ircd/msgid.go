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
