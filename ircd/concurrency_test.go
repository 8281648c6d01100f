package ircd

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
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
		c.Sync()
	}
	// Each client ends in #final; NAMES must list all of them.
	names := clients[0]
	names.Send("NAMES #final")
	got := 0
	for {
		m, _ := names.ExpectAfter(` (353|366) `)
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
		c.Send("JOIN %s", ch)
		c.Send("PRIVMSG %s :round %d from %d", ch, round, i)
		if round%3 == 0 {
			c.Send("NICK u%d_%d", i, round)
		}
		c.Send("PART %s", ch)
	}
	c.Send("JOIN #final")
	drain(c)
}

// drain reads until the client has been quiet briefly, so the server's
// send queue never fills during the churn.
func drain(c *testClient) {
	for {
		if _, err := c.ReadLine(300 * time.Millisecond); err != nil {
			return
		}
	}
}

// TestSlowReaderIsDisconnected fills a non-reading client's send queue; it
// must be cut off with SendQ exceeded while the others keep chatting.
func TestSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withConfig(slowReaderConfig))
	slow := ts.dialWith(4096)
	slow.RegisterPass("slow", testPassword)
	expectSlowReaderCutOff(t, ts, slow)
}

// slowReaderConfig gives slow-reader tests a small send queue and no
// flood limits, so the talker can fill it quickly.
func slowReaderConfig(cfg *config.Config) {
	cfg.SendQ = 64 << 10
	cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// expectSlowReaderCutOff floods a channel that slow, a registered client
// that never reads, has joined, until slow is cut off with SendQ exceeded;
// the others must keep chatting.
func expectSlowReaderCutOff(t *testing.T, ts *testServer, slow *testClient) {
	t.Helper()
	slow.Join("#busy")
	talker := ts.registerPass("talker")
	talker.Join("#busy")
	listener := ts.registerPass("listener")
	listener.Join("#busy")
	text := strings.Repeat("x", 400)
	// Batches are paced by the listener, which keeps up; only the client
	// that never reads falls behind, until its queue overflows.
	sawQuit := false
	for batch := 0; batch < 400 && !sawQuit; batch++ {
		for i := 0; i < 100; i++ {
			talker.Send("PRIVMSG #busy :%d-%d %s", batch, i, text)
		}
		_, skipped := listener.ExpectAfter(fmt.Sprintf(`PRIVMSG #busy :%d-99 `, batch))
		sawQuit = quitIn(skipped, slow.Nick)
	}
	if !sawQuit {
		t.Fatalf("the client that never reads was not disconnected (drops %v)", counterValue(t, ts, "securechat_sendq_drops_total", nil))
	}
	talker.Send("PRIVMSG #busy :after")
	listener.Expect(`PRIVMSG #busy :?after`)
	listener.Send("WHOIS " + slow.Nick)
	listener.Expect(` 401 listener ` + slow.Nick + ` `)
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

// TestJoinDuringTrafficSeesEachMessageOnce joins and parts a busy channel
// again and again. Each time the joiner must see its JOIN before any of
// the channel's messages, and then every message exactly once and in
// order: the replayed tail followed seamlessly by the live stream.
func TestJoinDuringTrafficSeesEachMessageOnce(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	const talkers = 6
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range talkers {
		talker := ts.register(fmt.Sprintf("talker%d", i))
		talker.Join("#busy")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
				talker.Send("PRIVMSG #busy :t%d seq=%d", i, n)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	seqRe := regexp.MustCompile(`PRIVMSG #busy :?.*t(\d+) seq=(\d+)$`)
	for round := range 30 {
		// A new client each round: one that parted may still get a line
		// that was on its way when it left.
		joiner := ts.register(fmt.Sprintf("joiner%d", round))
		joiner.Send("JOIN #busy")
		joined, seen := false, 0
		last := make(map[int]int)
		for seen < 150 {
			line, err := joiner.ReadLine(5 * time.Second)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if strings.Contains(line, " JOIN #busy") {
				joined = joined || strings.HasPrefix(line, fmt.Sprintf(":joiner%d!", round))
				continue
			}
			m := seqRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if !joined {
				t.Fatalf("round %d: %q arrived before the JOIN", round, line)
			}
			who, _ := strconv.Atoi(m[1])
			n, _ := strconv.Atoi(m[2])
			if prev, ok := last[who]; ok && n != prev+1 {
				t.Fatalf("round %d: talker%d's seq %d after %d: a message was lost or repeated", round, who, n, prev)
			}
			last[who], seen = n, seen+1
		}
		joiner.Send("QUIT")
	}
}
