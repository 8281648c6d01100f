package history

import (
	"context"
	"strings"
	"sync"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// Activity is one target and the time of its newest message.
type Activity struct {
	Name   string // the channel's name, or the other party's nick
	Latest time.Time
}

// warmScan bounds how many stored targets the index learns at start-up,
// newest first; older conversations come back into it when next used.
const warmScan = 1000

// Targets lists, for CHATHISTORY TARGETS, the targets of the given owners
// (casefolded names of the client's channels and its own casefolded nick)
// whose newest message lies strictly between lo and hi. It reads only
// the index, so it costs O(the owners' targets), no store read and no
// HMAC.
func (h *History) Targets(owners []string, lo, hi time.Time) []Activity {
	return h.index.find(owners, lo, hi)
}

// targetIndex maps each owner (a channel's casefolded name, or a
// casefolded nick) to the store keys of its targets, with their newest
// message time. Appends keep it current; warmIndex fills it from the
// store after a restart. mu guards every field.
type targetIndex struct {
	mu      sync.Mutex
	byOwner map[string]map[string]indexed
	pairs   pairClaims // stored account conversations not yet attributed
}

type indexed struct {
	name   string // what the owner calls the target
	latest time.Time
}

func newTargetIndex() *targetIndex {
	return &targetIndex{byOwner: make(map[string]map[string]indexed), pairs: newPairClaims()}
}

// note records that owner's target name, stored under key, had a message
// at at; an older time never replaces a newer one.
func (x *targetIndex) note(owner, key, name string, at time.Time) {
	at = at.Truncate(time.Millisecond) // the store's precision
	x.mu.Lock()
	defer x.mu.Unlock()
	keys := x.byOwner[owner]
	if keys == nil {
		keys = make(map[string]indexed)
		x.byOwner[owner] = keys
	}
	if old, ok := keys[key]; !ok || at.After(old.latest) {
		keys[key] = indexed{name: name, latest: at}
	}
}

func (x *targetIndex) find(owners []string, lo, hi time.Time) []Activity {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []Activity
	for _, o := range owners {
		for _, t := range x.byOwner[o] {
			if t.latest.After(lo) && t.latest.Before(hi) {
				out = append(out, Activity{Name: t.name, Latest: t.latest})
			}
		}
	}
	return out
}

// forgetBefore drops targets whose newest message is older than cutoff:
// retention has trimmed them from the store.
func (x *targetIndex) forgetBefore(cutoff time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for owner, keys := range x.byOwner {
		for key, t := range keys {
			if t.latest.Before(cutoff) {
				delete(keys, key)
			}
		}
		if len(keys) == 0 {
			delete(x.byOwner, owner)
		}
	}
	x.pairs.forgetBefore(cutoff)
}

// warmIndex learns the newest stored targets after a start, opening the
// newest record of each to find out whose it is, and checking that the
// key really is that target's, so a record can't claim another's key.
func (h *History) warmIndex(ctx context.Context) {
	acts, err := h.store.Targets(ctx, time.Time{}, time.Time{}, warmScan)
	if err != nil {
		h.log.Warn("history index not loaded; CHATHISTORY TARGETS lists only new activity", "err", err)
		return
	}
	for _, a := range acts {
		if ctx.Err() != nil {
			return
		}
		es, err := h.Read(ctx, a.Key, Query{Limit: 1, FromNewest: true})
		if err == nil && len(es) == 1 && !h.learn(a.Key, es[0].Msg.Param(0), es[0].Msg.Prefix, a.Latest) {
			h.index.unclaimed(a.Key, a.Latest)
		}
	}
	h.index.warmed()
}

// learn indexes key from its newest message, sent by from to target,
// and reports whether the message told whose key it is.
func (h *History) learn(key, target string, from *irc.Prefix, latest time.Time) bool {
	if strings.HasPrefix(target, "#") {
		folded := wire.Casefold(target)
		if h.Key(folded) != key {
			return false
		}
		h.index.note(folded, key, target, latest)
		return true
	}
	if from == nil {
		return false
	}
	sender := from.Name
	a, b := wire.Casefold(sender), wire.Casefold(target)
	if h.DirectKey(a, b) != key {
		return false
	}
	h.index.note(a, key, target, latest)
	h.index.note(b, key, sender, latest)
	return true
}
