package store

import (
	"errors"
	"strconv"
	"strings"
)

// keyLayout names every Redis key of a store, from the prefix and the
// caller's opaque keys only.
//
// A single Redis keeps the layout it always had: a stream <prefix>h:<key>
// per target and one targets index, <prefix>targets.
//
// On a Redis Cluster a Lua script or MULTI may only touch keys of one hash
// slot, and the scripts that trim or delete a stream keep the targets
// index in step in the same atomic step. So the index is split into
// indexBuckets sorted sets, and a target's stream carries the hash tag of
// its bucket's index: <prefix>{<tag>}h:<key> beside <prefix>{<tag>}targets.
// Every script then touches one slot, and stays atomic as on one node;
// the index writes of appends spread over the masters instead of all
// landing on the one holding a global index. The keyring, the channel
// states and the blobs are one key each, read and written by single
// commands, so they need no tag.
type keyLayout struct {
	prefix string
	tags   []string // one hash tag per index bucket; nil on a single Redis
}

// indexBuckets is how many index sets a cluster store spreads targets
// over. It is part of the stored layout: changing it strands the targets
// already written. 64 gives each of up to a few dozen masters buckets of
// its own, while Targets and TrimBefore still only visit 64 sets.
const indexBuckets = 64

// slotCount is the number of hash slots of a Redis Cluster.
const slotCount = 16384

func singleLayout(prefix string) keyLayout { return keyLayout{prefix: prefix} }

// clusterLayout returns the bucketed layout, refusing a prefix that would
// put its own hash tag before the bucket's.
func clusterLayout(prefix string) (keyLayout, error) {
	if strings.ContainsAny(prefix, "{}") {
		return keyLayout{}, errors.New("store: a Redis Cluster key prefix may not contain { or }")
	}
	return keyLayout{prefix: prefix, tags: bucketTags(indexBuckets)}, nil
}

// bucketTags returns n hash tags, tag i hashing to a slot in the i-th of n
// equal slot ranges. redis-cli --cluster create gives each master one
// contiguous range of equal size, so the buckets, and the targets with
// them, spread evenly over the masters. The search is deterministic, so
// every process and release derives the same tags.
func bucketTags(n int) []string {
	tags := make([]string, n)
	for i := range tags {
		for j := 0; ; j++ {
			tag := strconv.Itoa(i) + "." + strconv.Itoa(j)
			if int(keySlot(tag))*n/slotCount == i {
				tags[i] = tag
				break
			}
		}
	}
	return tags
}

// bucket returns the index bucket of the target key.
func (l keyLayout) bucket(key string) int {
	return int(keySlot(key)) * len(l.tags) / slotCount
}

// tagged returns the name of kind for key's bucket, or the plain name on
// a single Redis.
func (l keyLayout) tagged(key, kind string) string {
	if l.tags == nil {
		return l.prefix + kind
	}
	return l.prefix + "{" + l.tags[l.bucket(key)] + "}" + kind
}

func (l keyLayout) stream(key string) string { return l.tagged(key, "h:") + key }
func (l keyLayout) index(key string) string  { return l.tagged(key, "targets") }
func (l keyLayout) keyring() string          { return l.prefix + "keyring" }
func (l keyLayout) channels() string         { return l.prefix + "channels" }
func (l keyLayout) blobs(kind string) string { return l.prefix + "b:" + kind }

// indexes returns every targets index set.
func (l keyLayout) indexes() []string {
	if l.tags == nil {
		return []string{l.prefix + "targets"}
	}
	out := make([]string, len(l.tags))
	for i, tag := range l.tags {
		out[i] = l.prefix + "{" + tag + "}targets"
	}
	return out
}

// keySlot is Redis Cluster's hash of a whole string (CRC16-XMODEM modulo
// the slot count), applied here to tags and target keys themselves.
func keySlot(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % slotCount
}
