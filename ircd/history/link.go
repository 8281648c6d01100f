package history

import (
	"encoding/binary"
	"errors"
	"time"
)

// LinkSealer seals what crosses between cluster nodes with the room's
// data keys, which every node of a cluster holds: the cluster package's
// Sealer. The associated data (envelope header and target) is bound as
// the record's target, so a payload opens only where it was sent.
//
// A payload is sealed under the current epoch's key, the one every node
// has agreed on for a whole epoch (see keyringUnchanged), never under the
// next epoch's key a node may just have made; its time travels first,
// in clear, so the receiver opens it with the same record AAD.
type LinkSealer struct{ h *History }

// LinkSealer returns the sealer for cluster traffic.
func (h *History) LinkSealer() LinkSealer { return LinkSealer{h} }

var errLinkShort = errors.New("history: link payload too short")

// Seal seals plaintext bound to aad.
func (l LinkSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	now := time.Now()
	sealed, err := l.h.vault.Seal(linkTarget(aad), "", now, plaintext)
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(sealed)), uint64(now.UnixNano())), sealed...), nil
}

// Open opens what Seal sealed with the same aad.
func (l LinkSealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 8 {
		return nil, errLinkShort
	}
	at := time.Unix(0, int64(binary.BigEndian.Uint64(sealed)))
	return l.h.vault.Open(linkTarget(aad), "", at, sealed[8:])
}

// linkTarget keeps link seals apart from history records, whose targets
// are hex keys.
func linkTarget(aad []byte) string { return "link:" + string(aad) }
