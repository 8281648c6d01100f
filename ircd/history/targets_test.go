package history

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"securechat/store"
)

func sortedActivity(as []Activity) []Activity {
	out := slices.Clone(as)
	slices.SortFunc(out, func(a, b Activity) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func sameActivity(got, want []Activity) bool {
	return slices.EqualFunc(sortedActivity(got), sortedActivity(want), func(a, b Activity) bool {
		return a.Name == b.Name && a.Latest.Equal(b.Latest)
	})
}

func TestTargetsListsTheOwnersTargets(t *testing.T) {
	t.Parallel()
	h, _ := newTestHistory(t, newTestVault(t), newMemory())
	t0 := baseTime()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	chanKey := h.Key("#chan")
	h.AppendChannel(chanKey, "#chan", msgEntry(t, "c1", at(1), ":Alice!a@h PRIVMSG #Chan :first"))
	h.AppendChannel(chanKey, "#chan", msgEntry(t, "c2", at(3), ":Bob!b@h PRIVMSG #Chan :newest"))
	// The clock went back: an older time never replaces the newest.
	h.AppendChannel(chanKey, "#chan", msgEntry(t, "c3", at(2), ":Bob!b@h PRIVMSG #Chan :late"))
	h.AppendDirect(Party{Nick: "alice"}, Party{Nick: "bob"}, msgEntry(t, "d1", at(4), ":Alice!a@h PRIVMSG Bob :hi bob"))
	h.AppendDirect(Party{Nick: "carol"}, Party{Nick: "alice"}, msgEntry(t, "d2", at(5), ":Carol!c@h PRIVMSG alice :hi alice"))
	h.AppendChannel(h.Key("#other"), "#other", msgEntry(t, "o1", at(6), ":Carol!c@h PRIVMSG #Other :elsewhere"))

	wide := [2]time.Time{t0.Add(-time.Hour), t0.Add(time.Hour)}
	tests := []struct {
		name   string
		owners []string
		lo, hi time.Time
		want   []Activity
	}{
		{"channel with its newest time", []string{"#chan"}, wide[0], wide[1],
			[]Activity{{"#Chan", at(3)}}},
		{"sender sees the recipient", []string{"bob"}, wide[0], wide[1],
			[]Activity{{"Alice", at(4)}}},
		{"nick sees both conversations", []string{"alice"}, wide[0], wide[1],
			[]Activity{{"Bob", at(4)}, {"Carol", at(5)}}},
		{"recipient as the sender wrote it", []string{"carol"}, wide[0], wide[1],
			[]Activity{{"alice", at(5)}}},
		{"channels and nick together", []string{"alice", "#chan"}, wide[0], wide[1],
			[]Activity{{"Bob", at(4)}, {"Carol", at(5)}, {"#Chan", at(3)}}},
		{"bounds are exclusive", []string{"alice", "#chan", "#other"}, at(3), at(5),
			[]Activity{{"Bob", at(4)}}},
		{"no channel for a nick owner", []string{"dave"}, wide[0], wide[1], nil},
		{"nothing in range", []string{"alice", "#chan"}, at(6), wide[1], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := h.Targets(tt.owners, tt.lo, tt.hi); !sameActivity(got, tt.want) {
				t.Fatalf("Targets(%v) = %v, want %v", tt.owners, got, tt.want)
			}
		})
	}
}

func TestMaintainForgetsOldTargets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		maxAge time.Duration
		want   []string
	}{
		{"no retention keeps all", 0, []string{"#new", "#old"}},
		{"retention drops the old", time.Hour, []string{"#new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newMemory()
			v := newTestVault(t)
			saveTestKeyring(t, st, v)
			h, _ := newTestHistory(t, v, st)
			now := baseTime()
			h.AppendChannel(h.Key("#old"), "#old", msgEntry(t, "o", now.Add(-3*time.Hour), ":A!a@h PRIVMSG #old :x"))
			h.AppendChannel(h.Key("#new"), "#new", msgEntry(t, "n", now.Add(-time.Minute), ":A!a@h PRIVMSG #new :x"))
			ctx := testContext(t, 5*time.Second)
			if err := h.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := h.Maintain(ctx, now, tt.maxAge); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range h.Targets([]string{"#old", "#new"}, now.Add(-24*time.Hour), now) {
				got = append(got, a.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Targets after Maintain = %v, want %v", got, tt.want)
			}
		})
	}
}

// After a restart the index is learned again from the store, and only
// from records that really belong to the key they are stored under.
func TestTargetsWarmUpAfterRestart(t *testing.T) {
	t.Parallel()
	st := newMemory()
	v := newTestVault(t)
	first, _ := newTestHistory(t, v, st)
	t0 := baseTime().Add(-time.Minute)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	first.AppendChannel(first.Key("#chan"), "#chan", msgEntry(t, "c1", at(1), ":Alice!a@h PRIVMSG #Chan :hi"))
	first.AppendDirect(Party{Nick: "alice"}, Party{Nick: "bob"}, msgEntry(t, "d1", at(2), ":Alice!a@h PRIVMSG Bob :hi bob"))
	closeHistory(t, first)

	// Forged records, newer than the genuine ones so that the warm-up,
	// newest first, has seen them by the time it lists the genuine ones.
	ctx := testContext(t, 5*time.Second)
	forged := []struct {
		key  string
		line string
	}{
		{first.Key("#victim"), ":Mallory!m@h PRIVMSG #elsewhere :claims another channel"},
		{first.DirectKey("alice", "carol"), ":Eve!e@h PRIVMSG bob :claims another conversation"},
	}
	for i, f := range forged {
		if err := st.Append(ctx, f.key, sealedRecord(t, v, f.key, "f", at(10+i), f.line)); err != nil {
			t.Fatal(err)
		}
	}

	second, _ := newTestHistory(t, v, st)
	lo, hi := t0, t0.Add(time.Hour)
	want := map[string][]Activity{
		"#chan": {{"#Chan", at(1)}},
		"alice": {{"Bob", at(2)}},
		"bob":   {{"Alice", at(2)}},
	}
	eventually(t, "the warm-up to index the stored targets", func() bool {
		for owner, w := range want {
			if !sameActivity(second.Targets([]string{owner}, lo, hi), w) {
				return false
			}
		}
		return true
	})
	for _, owner := range []string{"#victim", "#elsewhere", "carol", "eve", "mallory"} {
		if got := second.Targets([]string{owner}, lo, hi); len(got) != 0 {
			t.Errorf("forged record indexed for %s: %v", owner, got)
		}
	}
	if got := second.Targets([]string{"alice", "bob"}, lo, hi); len(got) != 2 {
		t.Errorf("alice and bob list %v, want only their conversation", got)
	}
	// The forged records do open: the warm-up refused them for naming
	// another target, not for failing to open.
	for _, f := range forged {
		if es, err := second.Read(ctx, f.key, store.Query{Limit: 1, FromNewest: true}); err != nil || len(es) != 1 {
			t.Fatalf("forged record under %s: %d entries, %v", f.key, len(es), err)
		}
	}
}
