package ircd

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBanException checks that +e lets a banned user join and speak, and
// that removing the exception bans them again.
func TestBanException(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob := ts.register("alice"), ts.register("bob")
	alice.Join("#c")
	alice.Send("MODE #c +b bo*!*@*")
	alice.Expect(`MODE #c \+b :?bo\*!\*@\*$`)
	bob.Send("JOIN #c")
	bob.Expect(` 474 bob #c `)

	alice.Send("MODE #c +e *ob!*@*")
	alice.Expect(`^:alice!\S+ MODE #c \+e :?\*ob!\*@\*$`)
	bob.Send("JOIN #c")
	bob.Expect(`^:bob!\S+ JOIN #c`)
	bob.Send("PRIVMSG #c :excepted")
	alice.Expect(`^:bob!\S+ PRIVMSG #c :?excepted$`)

	alice.Send("MODE #c -e *OB!*@*")
	bob.Expect(`MODE #c -e :?\*ob!\*@\*$`)
	bob.Send("PRIVMSG #c :banned again")
	bob.Expect(` 404 bob #c `)
	alice.Sync()
	alice.Quiet(`PRIVMSG`, 100*time.Millisecond)
}

// TestInviteException checks what +I admits past and what it does not.
func TestInviteException(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, modes, joiner, want string
	}{
		{"listed joins +i", "+iI bob", "bob", ` JOIN #c`},
		{"by host", "+iI *!*@127.0.0.1", "bob", ` JOIN #c`},
		{"unlisted refused", "+iI carol", "bob", ` 473 bob #c `},
		{"not past a key", "+ikI pw bob", "bob", ` 475 bob #c `},
		{"not past a ban", "+ibI bob bob", "bob", ` 474 bob #c `},
		{"not past a limit", "+ilI 1 bob", "bob", ` 471 bob #c `},
		{"without +i no effect", "+I carol", "bob", ` JOIN #c`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t)
			alice := ts.register("alice")
			joiner := ts.register(tc.joiner)
			alice.Join("#c")
			alice.Send("MODE #c %s", tc.modes)
			alice.Expect(`MODE #c `)
			joiner.Send("JOIN #c")
			joiner.Expect(tc.want)
		})
	}
}

// TestInviteExceptionRemoved checks that -I takes the admission back.
func TestInviteExceptionRemoved(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob := ts.register("alice"), ts.register("bob")
	alice.Join("#c")
	alice.Send("MODE #c +iI Bob")
	alice.Expect(`MODE #c \+iI :?bob!\*@\*$`)
	bob.Join("#c")
	bob.Send("PART #c")
	bob.Expect(` PART #c`)
	alice.Send("MODE #c -I bob")
	alice.Expect(`MODE #c -I :?bob!\*@\*$`)
	bob.Send("JOIN #c")
	bob.Expect(` 473 bob #c `)
}

// TestExceptionLists checks the list numerics of +e and +I, that they are
// shown to channel operators only, and that one MODE may ask for several
// lists.
func TestExceptionLists(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob := ts.register("alice"), ts.register("bob")
	alice.Join("#c")
	bob.Join("#c")
	alice.Send("MODE #c +eeI good *@trusted.example friend")
	bob.Expect(`MODE #c \+eeI good!\*@\* \*!\*@trusted.example :?friend!\*@\*$`)

	alice.Send("MODE #c e")
	alice.Expect(` 348 alice #c good!\*@\* alice!\S+ \d+$`)
	alice.Expect(` 348 alice #c \*!\*@trusted.example alice!\S+ \d+$`)
	alice.Expect(` 349 alice #c :End of channel exception list$`)
	alice.Send("MODE #c +I")
	alice.Expect(` 346 alice #c friend!\*@\* alice!\S+ \d+$`)
	alice.Expect(` 347 alice #c :End of channel invite exception list$`)

	// Several lists in one command come in the order asked for.
	alice.Send("MODE #c Ib")
	end, before := alice.ExpectAfter(` 368 alice #c `)
	var got []string
	for _, l := range append(before, end.String()) {
		if f := strings.Fields(l); len(f) > 1 && f[1] >= "346" && f[1] <= "368" {
			got = append(got, f[1])
		}
	}
	if want := []string{"346", "347", "368"}; !slices.Equal(got, want) {
		t.Fatalf("numerics %v, want %v", got, want)
	}

	// The exception lists name trusted hosts: operators only.
	bob.Send("MODE #c e")
	bob.Expect(` 482 bob #c `)
	bob.Send("MODE #c I")
	bob.Expect(` 482 bob #c `)
	bob.Send("MODE #c b")
	bob.Expect(` 368 bob #c `)
}

// TestListsShareLimit checks that bans and both exception lists count
// against the one limit ISUPPORT MAXLIST=beI advertises.
func TestListsShareLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Join("#c")
	addBans(alice, "#c", maxBans-2)
	alice.Send("MODE #c +eI e1 i1")
	alice.Expect(`MODE #c \+eI e1!\*@\* :?i1!\*@\*$`)
	alice.Send("MODE #c +I i2")
	alice.Expect(` 478 alice #c I :`)
	alice.Send("MODE #c -e+I e1 i2")
	alice.Expect(`MODE #c -e\+I e1!\*@\* :?i2!\*@\*$`)
}

// TestExceptionListsLapse checks that +e and +I lapse with the other
// access settings when the channel empties, as bans do.
func TestExceptionListsLapse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice")
	alice.Join("#keep")
	alice.Send("MODE #keep +eI good friend")
	alice.Expect(`MODE #keep \+eI good!\*@\* :?friend!\*@\*$`)
	alice.Send("PART #keep")
	alice.Expect(` PART #keep`)
	alice.Join("#keep")
	for _, mode := range []string{"e", "I"} {
		alice.Send("MODE #keep " + mode)
		if _, skipped := alice.ExpectAfter(` (349|347) alice #keep `); len(skipped) > 0 {
			t.Fatalf("+%s list after the channel emptied: %q", mode, skipped)
		}
	}
}

// TestExceptionsAdvertised checks the ISUPPORT tokens that tell clients
// about +e and +I, and that the lists are type A modes sharing MAXLIST.
func TestExceptionsAdvertised(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.dial()
	tokens := map[string]bool{}
	for _, l := range c.RegisterSASL("alice", testPassword) {
		if f := strings.Fields(l); len(f) > 3 && f[1] == "005" {
			for _, tok := range f[3:] {
				tokens[tok] = true
			}
		}
	}
	for _, want := range []string{"EXCEPTS=e", "INVEX=I", "CHANMODES=beI,k,l,imnst", fmt.Sprintf("MAXLIST=beI:%d", maxBans)} {
		if !tokens[want] {
			t.Errorf("ISUPPORT lacks %s", want)
		}
	}
}

// TestInviteList checks that INVITE without parameters lists the
// channels the caller is invited to and has not joined, and that one
// parameter is still too few.
func TestInviteList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice, bob, carol := ts.register("alice"), ts.register("bob"), ts.register("carol")
	bob.Send("INVITE")
	bob.Expect(` 337 bob :End of /INVITE list$`)

	for _, ch := range []string{"#b", "#a", "#c"} {
		alice.Join(ch)
		alice.Send("INVITE bob %s", ch)
		alice.Expect(` 341 alice bob ` + ch)
	}
	carol.Join("#d")
	carol.Send("INVITE alice #d") // someone else's invite is not bob's
	carol.Expect(` 341 carol alice #d`)
	bob.Join("#c") // joining uses the invite up

	bob.Send("INVITE")
	end, before := bob.ExpectAfter(` 337 bob `)
	var got []string
	for _, l := range append(before, end.String()) {
		if f := strings.Fields(l); len(f) > 3 && f[1] == "336" && f[2] == "bob" {
			got = append(got, f[3])
		}
	}
	if want := []string{"#a", "#b"}; !slices.Equal(got, want) {
		t.Fatalf("invites listed %v, want %v", got, want)
	}

	bob.Send("INVITE alice")
	bob.Expect(` 461 bob INVITE `)
}
