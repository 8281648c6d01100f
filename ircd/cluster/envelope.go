package cluster

import (
	"encoding/binary"
	"errors"
)

// An envelope is what goes over a shard channel:
//
//	version(1) flags(1) len(origin)(1) origin incarnation(8) seq(8) sealed
//
// The origin and sequence are in clear so a receiver can drop its own
// echoes and count gaps without opening anything; the sealed payload's
// associated data is the header followed by the target key, so a payload
// cannot be moved to another channel or given another origin or sequence
// undetected.
const envVersion = 1

// flagDirect marks a message sent to a node rather than a channel.
const flagDirect = 1

var errEnvelope = errors.New("cluster: malformed envelope")

// header is an envelope's clear part.
type header struct {
	origin string
	inc    uint64 // the origin process's incarnation
	seq    uint64 // per origin, incarnation and shard channel, from 1
	direct bool
}

func (h header) append(b []byte) []byte {
	flags := byte(0)
	if h.direct {
		flags = flagDirect
	}
	b = append(b, envVersion, flags, byte(len(h.origin)))
	b = append(b, h.origin...)
	b = binary.BigEndian.AppendUint64(b, h.inc)
	return binary.BigEndian.AppendUint64(b, h.seq)
}

// aad is the associated data that binds a sealed payload.
func aad(hdr []byte, key string) []byte {
	return append(hdr[:len(hdr):len(hdr)], key...)
}

// parseEnvelope splits an envelope into its header, the header's bytes
// and the sealed payload.
func parseEnvelope(b []byte) (header, []byte, []byte, error) {
	if len(b) < 3 || b[0] != envVersion {
		return header{}, nil, nil, errEnvelope
	}
	n := 3 + int(b[2])
	if len(b) < n+16 {
		return header{}, nil, nil, errEnvelope
	}
	h := header{
		origin: string(b[3:n]),
		inc:    binary.BigEndian.Uint64(b[n:]),
		seq:    binary.BigEndian.Uint64(b[n+8:]),
		direct: b[1]&flagDirect != 0,
	}
	return h, b[:n+16], b[n+16:], nil
}
