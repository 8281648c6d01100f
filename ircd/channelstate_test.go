package ircd

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"securechat/ircd/wire"
	"securechat/store"
)

// gatedStore holds its first SaveChannelState until release is closed,
// as a slow Redis would, and tells entered when that save has begun.
type gatedStore struct {
	store.Store
	entered, release chan struct{}
	once             sync.Once
}

func (g *gatedStore) SaveChannelState(ctx context.Context, key string, data []byte) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Store.SaveChannelState(ctx, key, data)
}

// TestTopicOrderWithSlowStore is the state-ordering bug: alice sets a
// topic whose save hangs, then bob sets another. Every member must see
// the two in the order they were made, the first while its save still
// hangs, and a restart must bring back the last one they saw.
func TestTopicOrderWithSlowStore(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory(store.Options{})
	v := newTestVault(t)
	g := &gatedStore{Store: mem, entered: make(chan struct{}), release: make(chan struct{})}
	ts := newTestServer(t, withStore(g, v))
	alice, bob, carol := ts.register("alice"), ts.register("bob"), ts.register("carol")
	alice.Join("#t")
	bob.Join("#t")
	carol.Join("#t")
	alice.Send("MODE #t +o bob") // ops are not persisted: no save yet
	carol.Expect(`MODE #t \+o bob`)

	alice.Send("TOPIC #t :first")
	<-g.entered // its save now hangs
	bob.Send("TOPIC #t :second")
	// Both reach bob while the first save still hangs, in order.
	if got := topicsSeen(bob, 2); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("bob saw topics %q, want [first second]", got)
	}
	close(g.release)
	if got := topicsSeen(carol, 2); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("carol saw topics %q, want [first second]", got)
	}
	ts.shutdown() // waits for the settings to be stored

	ts2 := newTestServer(t, withStore(mem, v))
	dave := ts2.register("dave")
	dave.Send("TOPIC #t")
	dave.Expect(` 332 dave #t :?second$`)
}

// topicsSeen reads c's lines until it has seen n TOPIC changes and
// returns their texts in the order they arrived.
func topicsSeen(c *testClient, n int) []string {
	var out []string
	for len(out) < n {
		line, err := c.ReadLine(5 * time.Second)
		if err != nil {
			c.T().Fatalf("%s: waiting for TOPIC: %v (got %q)", c.Nick, err, out)
		}
		if m, err := wire.Parse([]byte(line)); err == nil && m.Command == "TOPIC" {
			out = append(out, m.Trailing())
		}
	}
	return out
}

// failingStore refuses its first fails channel-state saves.
type failingStore struct {
	store.Store
	fails atomic.Int32
}

func (f *failingStore) SaveChannelState(ctx context.Context, key string, data []byte) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("store refused the write")
	}
	return f.Store.SaveChannelState(ctx, key, data)
}

// TestTopicSavedAfterStoreFailures checks that a failing store neither
// blocks the broadcast nor loses the setting: the save is retried, each
// failure counted as a channel-state error, until it lands.
func TestTopicSavedAfterStoreFailures(t *testing.T) {
	t.Parallel()
	mem := store.NewMemory(store.Options{})
	v := newTestVault(t)
	f := &failingStore{Store: mem}
	f.fails.Store(2)
	ts := newTestServer(t, withStore(f, v))
	alice := ts.register("alice")
	alice.Join("#t")
	alice.Send("TOPIC #t :kept")
	alice.Expect(` TOPIC #t :?kept$`)
	deadline := time.Now().Add(10 * time.Second)
	for ts.historyErrors("channel_state") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := ts.historyErrors("channel_state"); n != 2 {
		t.Fatalf("channel_state errors = %v, want 2", n)
	}
	ts.shutdown()
	ts2 := newTestServer(t, withStore(mem, v))
	bob := ts2.register("bob")
	bob.Send("TOPIC #t")
	bob.Expect(` 332 bob #t :?kept$`)
}
