package history

import "time"

// linkTime is the time every link seal is bound to. Sealing picks the
// newest data key for it, and opening finds the key by the id in the
// header, so the time only has to be the same on both sides.
var linkTime = time.Unix(0, 0)

// LinkSealer seals what crosses between cluster nodes with the room's
// data keys, which every node of a cluster holds: the cluster package's
// Sealer. The associated data (envelope header and target) is bound as
// the record's target, so a payload opens only where it was sent.
type LinkSealer struct{ h *History }

// LinkSealer returns the sealer for cluster traffic.
func (h *History) LinkSealer() LinkSealer { return LinkSealer{h} }

// Seal seals plaintext bound to aad.
func (l LinkSealer) Seal(plaintext, aad []byte) ([]byte, error) {
	return l.h.vault.Seal(linkTarget(aad), "", linkTime, plaintext)
}

// Open opens what Seal sealed with the same aad.
func (l LinkSealer) Open(sealed, aad []byte) ([]byte, error) {
	return l.h.vault.Open(linkTarget(aad), "", linkTime, sealed)
}

// linkTarget keeps link seals apart from history records, whose targets
// are hex keys.
func linkTarget(aad []byte) string { return "link:" + string(aad) }
