package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"securechat/ircd/wire"
	"securechat/metrics"
)

// ChannelState is the persisted form of a channel's settings, sealed
// before it is stored.
type ChannelState struct {
	Name        string    `json:"name"`
	Created     time.Time `json:"created"`
	Topic       string    `json:"topic,omitempty"`
	TopicSetter string    `json:"topic_setter,omitempty"`
	TopicAt     time.Time `json:"topic_at,omitzero"`
	Modes       string    `json:"modes"`
	Key         string    `json:"key,omitempty"`
	Limit       int       `json:"limit,omitempty"`
	Bans        []Ban     `json:"bans,omitempty"`
	// Metadata is the channel's draft/metadata-2 keys and values.
	Metadata map[string]string `json:"metadata,omitempty"`

	// Founder is the account that registered the channel, "" if none.
	// Only a registered channel keeps the access settings (Modes, Key,
	// Limit, the mask lists and Invites): its founder can always lift
	// them.
	Founder       string    `json:"founder,omitempty"`
	RegisteredAt  time.Time `json:"registered_at,omitzero"`
	Excepts       []Ban     `json:"excepts,omitempty"`
	InviteExcepts []Ban     `json:"invite_excepts,omitempty"`
	// Invites are the casefolded nicks invited past +i.
	Invites []string `json:"invites,omitempty"`
}

// Ban is one entry of a channel's ban list.
type Ban struct {
	Mask   string    `json:"mask"`
	Setter string    `json:"setter"`
	At     time.Time `json:"at"`
}

// SaveChannel records st as the latest settings of the channel with
// store key key; nil deletes them. It returns at once: a writer goroutine
// stores the latest state of each channel, retrying while the store
// fails, so the stored state is always the last one given. Callers give
// a channel's states in the order they were made (under the channel's
// lock), which is then the order members saw.
func (h *History) SaveChannel(key string, st *ChannelState) {
	if st == nil {
		h.states.put(slot{key: key}, nil)
		return
	}
	plain, err := json.Marshal(st)
	if err != nil {
		h.log.Error("encoding channel state failed", "err", err)
		return
	}
	h.states.put(slot{key: key}, plain)
}

// Channels opens every stored channel state. States that do not open, or
// whose name does not match their key, are counted, logged and skipped.
func (h *History) Channels(ctx context.Context) ([]ChannelState, error) {
	sealed, err := h.store.ChannelStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading channel state: %w", err)
	}
	var out []ChannelState
	for key, data := range sealed {
		st, plain, err := h.openState(key, data)
		if err != nil {
			h.m.HistoryErrors.WithLabelValues(metrics.OpOpen).Inc()
			h.log.Warn("skipping channel state that does not open")
			continue
		}
		h.states.remember(slot{key: key}, plain)
		out = append(out, st)
	}
	return out, nil
}

func (h *History) openState(key string, data []byte) (ChannelState, []byte, error) {
	var st ChannelState
	plain, err := h.openSealed(slot{key: key}, data)
	if err == nil {
		err = json.Unmarshal(plain, &st)
	}
	if err == nil && h.Key(wire.Casefold(st.Name)) != key {
		err = errors.New("channel state under another channel's key")
	}
	return st, plain, err
}

// storeState seals st and stores it, or deletes the key's state if st
// is nil.
func (h *History) storeState(ctx context.Context, key string, st *ChannelState) error {
	var plain []byte
	if st != nil {
		var err error
		if plain, err = json.Marshal(st); err != nil {
			return err
		}
	}
	return h.storeSealed(ctx, slot{key: key}, plain)
}
