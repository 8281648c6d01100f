package ircd

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/wire"
	"securechat/store"
)

// TestBurstKeepsEachSendersOrder has four clients flood one channel at once,
// each in one write, so the server holds their messages in bursts,
// and then half of them send a private message and all part. A member must
// see every sender's channel messages complete and in order, and its
// private message and PART only after them.
func TestBurstKeepsEachSendersOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	watcher := ts.registerPass("watcher")
	watcher.JoinAndSync("#r")
	const senders, perSender = 4, 400
	clients := make([]*testClient, senders)
	for i := range clients {
		clients[i] = ts.registerPass(fmt.Sprintf("s%d", i))
		clients[i].JoinAndSync("#r")
	}
	var wg sync.WaitGroup
	dms := func(i int) bool { return i%2 == 0 }
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for k := range perSender {
				fmt.Fprintf(&b, "PRIVMSG #r :%d\r\n", k)
			}
			if dms(i) {
				fmt.Fprintf(&b, "PRIVMSG watcher :done\r\n")
			}
			fmt.Fprintf(&b, "PART #r\r\n")
			c.SendRaw(b.String())
			drain(c)
		}()
	}
	next := make([]int, senders) // each sender's next expected message; perSender+1: saw its private message
	parted := 0
	deadline := time.Now().Add(30 * time.Second)
	for parted < senders && time.Now().Before(deadline) {
		line, err := watcher.ReadLine(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d PARTs: %v (progress %v)", parted, err, next)
		}
		var i int
		if _, err := fmt.Sscanf(line, ":s%d!", &i); err != nil || i < 0 || i >= senders {
			continue
		}
		switch fields := strings.Fields(line); {
		case fields[1] == "PRIVMSG" && fields[2] == "#r":
			if got := strings.TrimPrefix(fields[3], ":"); got != fmt.Sprint(next[i]) {
				t.Fatalf("s%d: got message %s, want %d", i, got, next[i])
			}
			next[i]++
		case fields[1] == "PRIVMSG":
			if next[i] != perSender {
				t.Fatalf("s%d: private message after %d of %d channel messages", i, next[i], perSender)
			}
			next[i]++
		case fields[1] == "PART":
			if want := perSender + btoi(dms(i)); next[i] != want {
				t.Fatalf("s%d: PART after %d channel messages (private message seen: %v)", i, min(next[i], perSender), next[i] > perSender)
			}
			parted++
		}
	}
	if parted < senders {
		t.Fatalf("saw %d of %d PARTs (progress %v)", parted, senders, next)
	}
	wg.Wait()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestBurstCountsEveryDelivery: a burst of mixed PRIVMSG and NOTICE lines,
// sent in one write, is counted per command and per delivery exactly as
// the same lines sent one at a time would be.
func TestBurstCountsEveryDelivery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	a, b, c := ts.registerPass("a"), ts.registerPass("b"), ts.registerPass("c")
	for _, cl := range []*testClient{a, b, c} {
		cl.JoinAndSync("#m")
	}
	out := func(cmd string) float64 {
		return counterValue(t, ts, "securechat_messages_sent_total", map[string]string{"command": cmd})
	}
	privmsg, notice := out("PRIVMSG"), out("NOTICE")
	deliveries := counterValue(t, ts, "securechat_fanout_deliveries_total", nil)
	a.SendRaw("PRIVMSG #m :1\r\nPRIVMSG #m :2\r\nNOTICE #m :3\r\nPRIVMSG #m :4\r\n")
	for _, cl := range []*testClient{b, c} {
		cl.Expect(`PRIVMSG #m :?4$`)
	}
	a.Sync() // the burst's accounting is done before a's next command
	if got := out("PRIVMSG") - privmsg; got != 6 {
		t.Errorf("PRIVMSG sent rose by %v, want 6 (3 messages to 2 members)", got)
	}
	if got := out("NOTICE") - notice; got != 2 {
		t.Errorf("NOTICE sent rose by %v, want 2", got)
	}
	if got := counterValue(t, ts, "securechat_fanout_deliveries_total", nil) - deliveries; got != 8 {
		t.Errorf("deliveries rose by %v, want 8", got)
	}
}

// TestConcurrentSendersOneOrder has four clients flood one channel at
// once. Every member must see the channel's messages in one and the same
// order, the order the channel recorded them in: the last messages of
// that order are what CHATHISTORY LATEST returns, and a client joining
// afterwards is replayed the same tail.
func TestConcurrentSendersOneOrder(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	const senders, perSender = 4, 25 // 100 messages: one CHATHISTORY page
	watchers := []*testClient{ts.register("w0", fullCaps...), ts.register("w1"), ts.register("w2", "server-time")}
	for _, w := range watchers {
		w.JoinAndSync("#o")
	}
	clients := make([]*testClient, senders)
	for i := range clients {
		clients[i] = ts.registerPass(fmt.Sprintf("s%d", i))
		clients[i].JoinAndSync("#o")
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			var b strings.Builder
			for k := range perSender {
				fmt.Fprintf(&b, "PRIVMSG #o :%d-%d\r\n", i, k)
			}
			c.SendRaw(b.String())
		})
	}
	wg.Wait()
	var first []string
	for _, w := range watchers {
		got := channelTexts(t, w, "#o", senders*perSender)
		if first == nil {
			first = got
		} else if !slices.Equal(got, first) {
			t.Fatalf("%s saw the channel in another order:\n%q\nwant\n%q", w.Nick, got, first)
		}
	}
	watchers[0].Send("CHATHISTORY LATEST #o * %d", senders*perSender)
	if got := texts(watchers[0].historyBatch()); !slices.Equal(got, first) {
		t.Fatalf("history order differs from live order:\n%q\nlive\n%q", got, first)
	}
}

// channelTexts reads n PRIVMSGs to channel from c and returns their texts.
func channelTexts(t *testing.T, c *testClient, channel string, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		m := c.Expect(`PRIVMSG ` + channel + ` `)
		out = append(out, m.Trailing())
	}
	return out
}

// slowQueryStore holds every history read of one key until release is
// closed, as a slow Redis would.
type slowQueryStore struct {
	store.Store
	key     string
	release chan struct{}
}

func (s *slowQueryStore) Query(ctx context.Context, key string, q store.Query) ([]store.Record, error) {
	if key == s.key {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
	}
	return s.Store.Query(ctx, key, q)
}

// TestLabeledJoinComesBeforeLiveTraffic joins, with a label, a channel
// another member talks in and then a channel whose history is slow to
// load: the labeled batch with the first JOIN must reach the joiner before
// any of that channel's messages, while the command is still running.
func TestLabeledJoinComesBeforeLiveTraffic(t *testing.T) {
	t.Parallel()
	v := newTestVault(t)
	slow := &slowQueryStore{Store: store.NewMemory(store.Options{}), key: v.TargetKey("#slow"), release: make(chan struct{})}
	ts := newTestServer(t, withStore(slow, v))
	alice := ts.register("alice")
	alice.Join("#talk")
	bob := ts.register("bob", "labeled-response", "batch")
	bob.Send("@label=j1 JOIN #talk,#slow")
	alice.Expect(` JOIN #talk`) // bob is a member now
	alice.Send("PRIVMSG #talk :live")
	sawJoin := false
	for {
		line, err := bob.ReadLine(5 * time.Second)
		if err != nil {
			t.Fatalf("waiting for the live message: %v", err)
		}
		m, _ := wire.Parse([]byte(line))
		if m != nil && m.Command == "JOIN" {
			sawJoin = true
		}
		if m != nil && m.Command == "PRIVMSG" {
			if !sawJoin {
				t.Fatalf("live message %q before the labeled JOIN", line)
			}
			break
		}
	}
	close(slow.release)
	bob.Expect(`BATCH -`)
}
