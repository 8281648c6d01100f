package load

import (
	"slices"
	"testing"
	"time"
)

// TestTrackerMergesHistory: with merging, a message seen live and in a
// gap fill counts once, one seen live twice is a duplicate, one seen in
// neither is lost, and messages a sender lost with its connection are not
// expected (unless somebody saw one: accepted, yet not in history).
func TestTrackerMergesHistory(t *testing.T) {
	voids := map[int][]span{1: {{3, 5}}}
	tr := NewTracker(2, []int{0, 1})
	tr.EnableMerge(func(s int) []span { return voids[s] })
	tr.Open(func(int) int64 { return 0 })
	live := func(s int, seq int64) bool { return tr.Observe(s, seq, time.Millisecond, phaseMain) }
	fresh := []bool{
		live(0, 0), live(0, 1),
		tr.Recover(0, 1), tr.Recover(0, 2), tr.Recover(0, 3), // the gap fill overlaps seq 1
		live(0, 3),                                     // after the fill, live again: counted by the fill
		live(0, 1),                                     // a live duplicate
		live(1, 0), live(1, 1), live(1, 2), live(1, 3), // seq 3 was void
	}
	if want := []bool{true, true, false, true, true, false, false, true, true, true, true}; !slices.Equal(fresh, want) {
		t.Errorf("fresh %v, want %v", fresh, want)
	}
	tr.Close(func(int) int64 { return 5 })
	// Sender 0: 0-4 expected, 4 lost. Sender 1: 3 and 4 void, 3 seen.
	want := Counts{Expected: 8, Received: 7, Lost: 1, Duplicates: 1, Recovered: 2, Unconfirmed: 2, Unstored: 1}
	if got := tr.Totals(); got != want {
		t.Errorf("totals %+v, want %+v", got, want)
	}
	var missing []msgKey
	tr.Missing(func(s int, seq int64) { missing = append(missing, msgKey{s, seq}) })
	if !slices.Equal(missing, []msgKey{{0, 4}}) {
		t.Errorf("missing %v, want sender 0 seq 4", missing)
	}
}

// TestTrackerWithoutMergeCountsEveryRepeat: without --reconnect a second
// copy is a duplicate whatever its origin, as before.
func TestTrackerWithoutMergeCountsEveryRepeat(t *testing.T) {
	tr := NewTracker(1, []int{0})
	tr.Open(func(int) int64 { return 0 })
	tr.Observe(0, 0, 0, phaseMain)
	tr.Observe(0, 0, 0, phaseMain)
	tr.Close(func(int) int64 { return 1 })
	if got := tr.Totals(); got != (Counts{Expected: 1, Received: 1, Duplicates: 1}) {
		t.Errorf("totals %+v", got)
	}
}

func TestTagValue(t *testing.T) {
	for _, tc := range []struct{ line, key, want string }{
		{"@msgid=abc;time=2026-01-01T00:00:00.000Z :n PRIVMSG #c :x", "msgid", "abc"},
		{"@time=t;msgid=abc :n PRIVMSG #c :x", "msgid", "abc"},
		{"@batch=1;msgid=m1 :n PRIVMSG #c :x", "time", ""},
		{"@xmsgid=no;msgid=yes :n PRIVMSG #c :x", "msgid", "yes"},
		{":n PRIVMSG #c :@msgid=no", "msgid", ""},
		{"@msgid", "msgid", ""},
	} {
		if got := string(tagValue([]byte(tc.line), tc.key)); got != tc.want {
			t.Errorf("tagValue(%q, %s) = %q, want %q", tc.line, tc.key, got, tc.want)
		}
	}
}

// TestFillFrom: a receiver fills from its last live message, by msgid or,
// with an overlap, by that message's time minus the overlap; a sender
// from the message it had seen one acknowledgement before its last; with
// no message yet, from the join.
func TestFillFrom(t *testing.T) {
	g := &gapState{}
	joined := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	if got := g.fillFrom(false, joined, 0); got != "timestamp=2026-12-03T11:59:59.000Z" {
		t.Errorf("nothing seen: %s", got)
	}
	see := func(id, at string) {
		g.noteLive([]byte("@msgid=" + id + ";time=" + at + " :n!u@h PRIVMSG #c :LT r 0 1 2"))
	}
	see("a", "2026-12-03T12:00:01.000Z")
	g.pong("ack-10")
	see("b", "2026-12-03T12:00:02.000Z")
	g.pong("ack-20")
	see("c", "2026-12-03T12:00:03.500Z")
	for _, tc := range []struct {
		sender  bool
		overlap time.Duration
		want    string
	}{
		{false, 0, "msgid=c"},
		{false, 2 * time.Second, "timestamp=2026-12-03T12:00:01.500Z"},
		{true, 0, "msgid=a"},
		{true, time.Second, "timestamp=2026-12-03T12:00:00.000Z"},
	} {
		if got := g.fillFrom(tc.sender, joined, tc.overlap); got != tc.want {
			t.Errorf("sender %v overlap %v: %s, want %s", tc.sender, tc.overlap, got, tc.want)
		}
	}
	if g.ackSeq.Load() != 20 {
		t.Errorf("acknowledged up to %d, want 20", g.ackSeq.Load())
	}
}

// TestAckPingOneOutstanding: a sender asks for an acknowledgement only
// when the previous one has come back.
func TestAckPingOneOutstanding(t *testing.T) {
	g := &gapState{}
	if got := string(g.ackPing(nil, 5)); got != "PING :ack-5\r\n" {
		t.Fatalf("first: %q", got)
	}
	g.pingAt = time.Time{} // as if ackEvery had passed
	if got := g.ackPing(nil, 9); got != nil {
		t.Errorf("with ack-5 outstanding: %q", got)
	}
	g.pong("ack-5")
	if got := string(g.ackPing(nil, 9)); got != "PING :ack-9\r\n" {
		t.Errorf("after the PONG: %q", got)
	}
}

// TestSettleVoidsUnacceptedSends: what a sender wrote after both its last
// acknowledged message and the last of its own found in history is void.
func TestSettleVoidsUnacceptedSends(t *testing.T) {
	cfg := Config{Users: 4, Channels: 1, Senders: 2, Addrs: []string{"127.0.0.1:1"}, Reconnect: true}
	r := newRunner(&cfg, time.Now())
	for _, tc := range []struct {
		acked, ownMax, sent int64
		want                []span
	}{
		{5, 7, 10, []span{{8, 10}}},
		{9, 3, 10, []span{{9, 10}}},
		{4, 9, 10, nil},
	} {
		u := r.users[0]
		r.rc.voids = map[int][]span{}
		u.rx.gap.ackSeq.Store(tc.acked)
		u.rx.gap.ownMax = tc.ownMax
		u.settle(tc.sent)
		if got := r.rc.voidsOf(0); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: voids %v", tc, got)
		}
	}
	// A second drop settles only what was sent since the first.
	u := r.users[0]
	r.rc.voids = map[int][]span{}
	u.rx.gap.ownMax = -1
	u.settle(10)
	u.settle(12)
	if got := r.rc.voidsOf(0); !slices.Equal(got, []span{{10, 12}}) {
		t.Errorf("after a second drop: voids %v, want [10,12)", got)
	}
	r.rc.voids = map[int][]span{}
	r.users[3].settle(10) // not a sender
	if len(r.rc.voids) != 0 {
		t.Errorf("a receiver voided %v", r.rc.voids)
	}
}

// TestOutageClasses: deliveries are classed by whether some user is away
// and whether the receiver dropped in the current outage.
func TestOutageClasses(t *testing.T) {
	rc := newReconnects()
	dropped, stayed := &gapState{rc: rc}, &gapState{rc: rc}
	if dropped.class() != outsideOutage {
		t.Fatal("no outage yet")
	}
	dropped.dropEpoch = rc.out.begin()
	second := &gapState{rc: rc}
	second.dropEpoch = rc.out.begin() // a second user drops in the same outage
	if dropped.class() != droppedInOutage || second.class() != droppedInOutage || stayed.class() != othersInOutage {
		t.Errorf("in the outage: %v %v %v", dropped.class(), second.class(), stayed.class())
	}
	rc.out.end()
	if stayed.class() != othersInOutage {
		t.Error("the outage ended with a user still away")
	}
	rc.out.end()
	if dropped.class() != outsideOutage || rc.out.windows != 1 {
		t.Errorf("after: %v, %d outages", dropped.class(), rc.out.windows)
	}
	stayed.dropEpoch = rc.out.begin()
	if dropped.class() != othersInOutage || stayed.class() != droppedInOutage || rc.out.windows != 2 {
		t.Errorf("next outage: %v %v, %d outages", dropped.class(), stayed.class(), rc.out.windows)
	}
}

func TestParseArgsReconnect(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "reconnect with jitter", env: "pw", args: []string{"--scenario", "steady", "--reconnect", "--reconnect-jitter", "3s"}, check: func(t *testing.T, c Config) {
			if !c.Reconnect || c.ReconnectJitter != 3*time.Second {
				t.Errorf("reconnect %v jitter %v", c.Reconnect, c.ReconnectJitter)
			}
		}},
		{name: "jitter without reconnect", env: "pw", args: []string{"--scenario", "steady", "--reconnect-jitter", "3s"}, wantErr: "--reconnect-jitter applies with --reconnect"},
		{name: "reconnect with an overlap", env: "pw", args: []string{"--scenario", "steady", "--reconnect", "--fill-overlap", "2s"}, check: func(t *testing.T, c Config) {
			if !c.Reconnect || c.FillOverlap != 2*time.Second {
				t.Errorf("reconnect %v overlap %v", c.Reconnect, c.FillOverlap)
			}
		}},
		{name: "maxrate reconnects", env: "pw", args: []string{"--scenario", "maxrate", "--reconnect"}, check: func(t *testing.T, c Config) {
			if !c.Reconnect || c.FillOverlap != 0 {
				t.Errorf("reconnect %v overlap %v", c.Reconnect, c.FillOverlap)
			}
		}},
		{name: "churn does not", env: "pw", args: []string{"--scenario", "churn", "--reconnect"}, wantErr: "--reconnect applies to the steady and maxrate scenarios only"},
		{name: "overlap alone", env: "pw", args: []string{"--fill-overlap", "1s"}, wantErr: "--fill-overlap applies with --reconnect"},
		{name: "negative overlap", env: "pw", args: []string{"--reconnect", "--fill-overlap", "-1s"}, wantErr: "must not be negative"},
	})
}
