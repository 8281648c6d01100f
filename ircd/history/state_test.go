package history

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"securechat/ircd/wire"
	"securechat/metrics"
	"securechat/store"
)

// hookStore runs onSave before each SaveChannelState; an error from it
// fails that save without reaching the store.
type hookStore struct {
	store.Store
	onSave func(ctx context.Context) error
}

func (s *hookStore) SaveChannelState(ctx context.Context, key string, data []byte) error {
	if err := s.onSave(ctx); err != nil {
		return err
	}
	return s.Store.SaveChannelState(ctx, key, data)
}

var errStoreDown = errors.New("store down")

// failingFirst returns an onSave hook that fails the first n saves, or
// every save when n < 0.
func failingFirst(n int64) func(context.Context) error {
	var calls atomic.Int64
	return func(context.Context) error {
		if n < 0 || calls.Add(1) <= n {
			return errStoreDown
		}
		return nil
	}
}

// storedChannels reopens st with a new History and returns the channel
// states found there, by name.
func storedChannels(t *testing.T, st store.Store, h *History) map[string]ChannelState {
	t.Helper()
	fresh, _ := newTestHistory(t, h.vault, st)
	states, err := fresh.Channels(testContext(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]ChannelState)
	for _, s := range states {
		out[s.Name] = s
	}
	return out
}

func channelKey(h *History, name string) string { return h.Key(wire.Casefold(name)) }

func TestSaveChannelStoresTheLastState(t *testing.T) {
	t.Parallel()
	const (
		absent  = "<deleted>"
		restart = "<restart>" // Close, then go on with a new History
	)
	tests := []struct {
		name   string
		topics []string // absent: SaveChannel(nil)
		want   string   // absent: no stored state
	}{
		{"one state", []string{"a"}, "a"},
		{"many quickly", manyTopics(500), "topic 499"},
		{"nil deletes a stored state", []string{"a", restart, absent}, absent},
		{"nil deletes at once", []string{"a", absent}, absent},
		{"state after delete", []string{"a", restart, absent, "b"}, "b"},
		{"state after stored delete", []string{"a", absent, restart, "b"}, "b"},
		{"delete of a channel never saved", []string{absent}, absent},
		{"new state replaces a stored one", []string{"a", restart, "b"}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, v := newMemory(), newTestVault(t)
			h, _ := newTestHistory(t, v, st)
			for _, topic := range tt.topics {
				if topic == restart {
					closeHistory(t, h)
					h, _ = newTestHistory(t, v, st)
					continue
				}
				// Two channels interleaved: each keeps its own last state.
				for _, name := range []string{"#One", "#two"} {
					var cs *ChannelState
					if topic != absent {
						cs = &ChannelState{Name: name, Topic: topic, Modes: "nt"}
					}
					h.SaveChannel(channelKey(h, name), cs)
				}
			}
			closeHistory(t, h)
			got := storedChannels(t, st, h)
			for _, name := range []string{"#One", "#two"} {
				cs, ok := got[name]
				switch {
				case tt.want == absent && ok:
					t.Errorf("%s: stored %q, want it deleted", name, cs.Topic)
				case tt.want != absent && cs.Topic != tt.want:
					t.Errorf("%s: stored topic %q (present %v), want %q", name, cs.Topic, ok, tt.want)
				}
			}
		})
	}
}

func manyTopics(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("topic %d", i)
	}
	return out
}

// A state given while an older one is being stored wins, whether the
// older save then succeeds or fails.
func TestSaveChannelNewerStateDuringSave(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		firstErr  error
		wantFails float64
	}{
		{"older save succeeds", nil, 0},
		{"older save fails", errStoreDown, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			entered, release := make(chan struct{}), make(chan struct{})
			var calls atomic.Int64
			mem := newMemory()
			st := &hookStore{Store: mem, onSave: func(context.Context) error {
				if calls.Add(1) > 1 {
					return nil
				}
				close(entered)
				<-release
				return tt.firstErr
			}}
			h, m := newTestHistory(t, newTestVault(t), st)
			key := channelKey(h, "#chan")
			h.SaveChannel(key, &ChannelState{Name: "#chan", Topic: "old"})
			<-entered
			h.SaveChannel(key, &ChannelState{Name: "#chan", Topic: "new"})
			close(release)
			closeHistory(t, h)
			if got := storedChannels(t, mem, h)["#chan"].Topic; got != "new" {
				t.Fatalf("stored topic %q, want %q", got, "new")
			}
			if got := errorCount(t, m, metrics.OpChannelState); got != tt.wantFails {
				t.Fatalf("HistoryErrors{channel_state} = %v, want %v", got, tt.wantFails)
			}
		})
	}
}

func TestSaveChannelRetriesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fails int64
	}{
		{"no failure", 0},
		{"one failure", 1},
		{"three failures", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mem := newMemory()
			h, m := newTestHistory(t, newTestVault(t), &hookStore{Store: mem, onSave: failingFirst(tt.fails)})
			h.SaveChannel(channelKey(h, "#chan"), &ChannelState{Name: "#chan", Topic: "kept"})
			closeHistory(t, h)
			if got := storedChannels(t, mem, h)["#chan"].Topic; got != "kept" {
				t.Fatalf("stored topic %q, want %q", got, "kept")
			}
			if got := errorCount(t, m, metrics.OpChannelState); got != float64(tt.fails) {
				t.Fatalf("HistoryErrors{channel_state} = %v, want %v", got, tt.fails)
			}
		})
	}
}

func TestCloseGivesUpOnAStoreThatNeverSaves(t *testing.T) {
	t.Parallel()
	// Not newTestHistory: its cleanup would Close again and wait out
	// its own deadline for the state that can never be saved.
	m := metrics.New(prometheus.NewRegistry(), "test")
	h := New(newTestVault(t), &hookStore{Store: newMemory(), onSave: failingFirst(-1)}, Options{Metrics: m})
	h.SaveChannel(channelKey(h, "#chan"), &ChannelState{Name: "#chan"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Close(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want an error wrapping context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung past its context")
	}
	if errorCount(t, m, metrics.OpChannelState) < 1 {
		t.Fatal("failed saves were not counted")
	}
}

func TestChannelsSkipsStatesUnderAnotherKey(t *testing.T) {
	t.Parallel()
	st := newMemory()
	h, m := newTestHistory(t, newTestVault(t), st)
	ctx := testContext(t, 5*time.Second)
	states := []struct {
		key string
		st  ChannelState
	}{
		{channelKey(h, "#Good"), ChannelState{Name: "#Good", Topic: "fine"}},
		{channelKey(h, "#victim"), ChannelState{Name: "#thief", Topic: "forged"}},
	}
	for _, s := range states {
		if err := h.storeState(ctx, s.key, &s.st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.Channels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "#Good" || got[0].Topic != "fine" {
		t.Fatalf("Channels = %+v, want only #Good", got)
	}
	if n := errorCount(t, m, metrics.OpOpen); n != 1 {
		t.Fatalf("HistoryErrors{open} = %v, want 1", n)
	}
}
