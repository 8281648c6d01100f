package ircd

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"securechat/config"
)

// TestManyClientsChurn runs 60 clients joining, parting, renaming and
// talking at once; under -race it proves the shared state is guarded, and
// afterwards every client must still answer and the channel member counts
// must match what the server reports in NAMES.
func TestManyClientsChurn(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const n = 60
	clients := make([]*testClient, n)
	for i := range clients {
		clients[i] = ts.registerPass(fmt.Sprintf("user%d", i))
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			churn(c, i)
		}()
	}
	wg.Wait()
	for _, c := range clients {
		c.sync()
	}
	// Each client ends in #final; NAMES must list all of them.
	names := clients[0]
	names.send("NAMES #final")
	got := 0
	for {
		m, _ := names.expectAfter(` (353|366) `)
		if m.Command == "366" {
			break
		}
		got += len(strings.Fields(m.Trailing()))
	}
	if got != n {
		t.Fatalf("NAMES #final lists %d members, want %d", got, n)
	}
}

// churn drives one client through joins, parts, nick changes and messages
// without waiting for replies, as a busy client would, then joins #final.
func churn(c *testClient, i int) {
	for round := 0; round < 10; round++ {
		ch := fmt.Sprintf("#c%d", (i+round)%5)
		c.send("JOIN %s", ch)
		c.send("PRIVMSG %s :round %d from %d", ch, round, i)
		if round%3 == 0 {
			c.send("NICK u%d_%d", i, round)
		}
		c.send("PART %s", ch)
	}
	c.send("JOIN #final")
	drain(c)
}

// drain reads until the client has been quiet briefly, so the server's
// send queue never fills during the churn.
func drain(c *testClient) {
	for {
		if _, err := c.readLine(300 * time.Millisecond); err != nil {
			return
		}
	}
}

// TestSlowReaderIsDisconnected fills a non-reading client's send queue; it
// must be cut off with SendQ exceeded while the others keep chatting.
func TestSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(func(cfg *config.Config) {
		cfg.SendQ = 64 << 10
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	slow := ts.dialWith(4096)
	slow.nick = "slow"
	slow.send("PASS :%s", testPassword)
	slow.send("NICK slow")
	slow.send("USER slow 0 * :Slow")
	slow.expect(` 001 `)
	slow.join("#busy")
	talker := ts.registerPass("talker")
	talker.join("#busy")
	listener := ts.registerPass("listener")
	listener.join("#busy")
	text := strings.Repeat("x", 400)
	// Batches are paced by the listener, which keeps up; only the client
	// that never reads falls behind, until its queue overflows.
	sawQuit := false
	for batch := 0; batch < 400 && !sawQuit; batch++ {
		for i := 0; i < 100; i++ {
			talker.send("PRIVMSG #busy :%d-%d %s", batch, i, text)
		}
		_, skipped := listener.expectAfter(fmt.Sprintf(`PRIVMSG #busy :%d-99 `, batch))
		sawQuit = quitIn(skipped, "slow")
	}
	if !sawQuit {
		t.Fatalf("the client that never reads was not disconnected (drops %v)", counterValue(t, ts, "securechat_sendq_drops_total", nil))
	}
	talker.send("PRIVMSG #busy :after")
	listener.expect(`PRIVMSG #busy :?after`)
	listener.send("WHOIS slow")
	listener.expect(` 401 listener slow `)
	if v := counterValue(t, ts, "securechat_sendq_drops_total", nil); v != 1 {
		t.Fatalf("sendq drops = %v, want 1", v)
	}
}

func quitIn(lines []string, nick string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, ":"+nick+"!") && strings.Contains(l, " QUIT :SendQ exceeded") {
			return true
		}
	}
	return false
}
