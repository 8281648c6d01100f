package cluster

import "strings"

// source is one publisher incarnation; its sequence numbers restart with
// a new incarnation.
type source struct {
	origin string
	inc    uint64
}

// deliver opens one envelope and hands it to Hooks.Message (reporting
// whether it did), dropping our
// own echoes and anything at or behind the last sequence seen from its
// publisher on this shard channel (a duplicate, or a message overtaken by
// a later one: delivering it late would break the publisher's order). A
// gap is counted as lost. The envelope is opened before its sequence is
// trusted, so a forged header cannot disturb the bookkeeping.
func (f *fanout) deliver(seen map[string]map[source]uint64, route int, ch string, env []byte) (delivered bool) {
	st := &f.c.stats
	h, hdr, sealed, err := parseEnvelope(env)
	if err != nil {
		st.openFailures.Add(1)
		return false
	}
	if h.origin == f.c.id && h.inc == f.c.inc {
		st.echoes.Add(1)
		return false
	}
	key, direct := targetOf(ch)
	if direct != h.direct {
		st.openFailures.Add(1)
		return false
	}
	payload, err := f.c.cfg.Sealer.Open(sealed, aad(hdr, key))
	if err != nil {
		st.openFailures.Add(1)
		return false
	}
	src := source{h.origin, h.inc}
	last := seen[ch][src]
	if last != 0 && h.seq <= last {
		st.outOfOrder.Add(1)
		return false
	}
	if last != 0 && h.seq > last+1 {
		st.lost.Add(h.seq - last - 1)
	}
	if seen[ch] == nil {
		seen[ch] = make(map[source]uint64)
	}
	seen[ch][src] = h.seq
	st.received.Add(1)
	if hook := f.c.cfg.Hooks.Message; hook != nil {
		if direct {
			key = ""
		}
		hook(Message{Key: key, Direct: direct, Origin: h.origin, Payload: payload, Route: route})
	}
	return true
}

// targetOf recovers the key a shard channel name was built from (see
// names.channel and names.node): a channel key, or for a node channel the
// node id, which is what the sender sealed against.
func targetOf(ch string) (key string, direct bool) {
	if _, k, ok := strings.Cut(ch, "}:ch:"); ok {
		return k, false
	}
	_, id, _ := strings.Cut(ch, "}:node:")
	return id, true
}
