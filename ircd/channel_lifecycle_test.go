package ircd

import (
	"testing"
)

// TestEmptiedChannelReopens is the unjoinable-channel bug: a channel set
// +i, +k, +l or +b that empties must let the next user in, as its
// operator, with the modes of a new channel.
func TestEmptiedChannelReopens(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, modes, expect string }{
		{"invite only", "+i", `MODE #c :?\+i$`},
		{"key", "+k pw", `MODE #c \+k :?pw$`},
		{"limit", "+l 1", `MODE #c \+l :?1$`},
		{"ban", "+b bob!*@*", `MODE #c \+b :?bob!\*@\*$`},
		{"all of them", "+iklb pw 1 bob!*@*", `MODE #c \+iklb pw 1 :?bob!\*@\*$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			alice, bob := ts.register("alice"), ts.register("bob")
			alice.Join("#c")
			alice.Send("MODE #c %s", tc.modes)
			alice.Expect(tc.expect)
			alice.Send("PART #c")
			alice.Expect(`PART #c`)

			bob.Send("JOIN #c")
			bob.Expect(`:bob!\S+ JOIN #c`)
			bob.Expect(` 353 bob = #c :?@bob$`)
			bob.Send("MODE #c")
			bob.Expect(` 324 bob #c :?\+nt$`)
			bob.Expect(` 329 bob #c `)
			bob.Send("MODE #c b")
			if _, skipped := bob.ExpectAfter(` 368 bob #c `); len(skipped) != 0 {
				t.Errorf("bans survived the channel emptying: %q", skipped)
			}
		})
	}
}

// TestEmptiedChannelForgetsInvites: an invite to a channel that then
// empties does not let its holder past a +i the next owner sets.
func TestEmptiedChannelForgetsInvites(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob, carol := ts.register("alice"), ts.register("bob"), ts.register("carol")
	alice.Join("#c")
	alice.Send("MODE #c +i")
	alice.Expect(`MODE #c :?\+i$`)
	alice.Send("INVITE carol #c")
	carol.Expect(`INVITE carol :?#c$`)
	alice.Send("PART #c")
	alice.Expect(`PART #c`)

	bob.Join("#c")
	bob.Send("MODE #c +i")
	bob.Expect(`MODE #c :?\+i$`)
	carol.Send("JOIN #c")
	carol.Expect(` 473 carol #c `)
}

// TestTopicSurvivesEmptiness: the topic is all an emptied channel keeps
// of its settings, and the next joiner sees it.
func TestTopicSurvivesEmptiness(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob := ts.register("alice"), ts.register("bob")
	alice.Join("#c")
	alice.Send("TOPIC #c :what we talk about")
	alice.Expect(`TOPIC #c :?what we talk about$`)
	alice.Send("MODE #c +k pw")
	alice.Expect(`MODE #c \+k :?pw$`)
	alice.Send("QUIT")
	alice.ExpectClosed()

	bob.Send("JOIN #c")
	bob.Expect(` 332 bob #c :?what we talk about$`)
	bob.Expect(` 333 bob #c alice!`)
	bob.Expect(` 353 bob = #c :?@bob$`)
	st, kept := ts.srv.lookupChannel("#c").state()
	if !kept || st.Topic != "what we talk about" || st.Key != "" {
		t.Fatalf("stored state %+v (kept %v), want the topic and no key", st, kept)
	}
}

// TestOperCannotSetModesOnEmptyChannel: an operator outside an empty
// channel cannot make it unjoinable, since an empty channel holds a new
// channel's settings.
func TestOperCannotSetModesOnEmptyChannel(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withOper(operHash(t)))
	alice := ts.register("alice")
	alice.Join("#c")
	alice.Send("TOPIC #c :kept")
	alice.Expect(`TOPIC #c`)
	alice.Send("PART #c")
	alice.Expect(`PART #c`)
	op := operUp(ts, "op")
	op.Send("MODE #c +i")
	op.Expect(` 442 op #c `)
	bob := ts.register("bob")
	bob.Send("JOIN #c")
	bob.Expect(` 353 bob = #c :?@bob$`)
}
