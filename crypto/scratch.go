package crypto

import (
	"crypto/rand"
	"time"
)

// scratch is the working memory of one Seal or Open besides the slice it
// returns. Each Vault pools them, and a scratch belongs to one goroutine
// from Get to Put, so nothing in it is ever shared while in use.
type scratch struct {
	nonces nonceBuffer
	// aad holds the record AAD. It cannot live on the stack: the AEAD is an
	// interface, so whatever is passed to it escapes to the heap.
	aad [aadScratchLen]byte
}

// aadScratchLen fits the AAD of a record with a TargetKey (32 bytes) and a
// msgid of up to about 200 bytes; longer ones fall back to an allocation.
const aadScratchLen = 256

// recordAAD builds the record AAD in s; the result is valid until s is Put.
func (s *scratch) recordAAD(header []byte, targetKey, msgid string, t time.Time) []byte {
	return appendRecordAAD(s.aad[:0], header, targetKey, msgid, t)
}

// nonceBufferLen spreads the fixed cost of a crypto/rand.Read (a syscall,
// or the FIPS DRBG) over 42 nonces; a bigger buffer would save little more,
// since the per-byte cost remains, and would hold more randomness in memory
// where, unlike the kernel's, a cloned VM snapshot would repeat it.
const nonceBufferLen = 1024

// nonceBuffer hands out bytes read from crypto/rand in nonceBufferLen
// blocks. Each byte is handed out at most once: avail only shrinks until a
// refill overwrites the whole buffer. The zero value is empty, so its
// unfilled zeros are never handed out.
type nonceBuffer struct {
	buf   [nonceBufferLen]byte
	avail int // unread bytes, at the end of buf
}

// read fills dst, which must not be longer than nonceBufferLen, with bytes
// no earlier call returned.
func (b *nonceBuffer) read(dst []byte) {
	if len(dst) > b.avail {
		rand.Read(b.buf[:]) // never fails; it aborts the process instead
		b.avail = len(b.buf)
	}
	copy(dst, b.buf[len(b.buf)-b.avail:])
	b.avail -= len(dst)
}
