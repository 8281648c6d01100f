package ircd

import (
	"strings"
	"testing"
)

// TestNoAccountReported checks that, with accounts off, every place an
// account shows agrees that nobody is logged in to one: the room password
// is shared, so a SASL login names no account.
func TestNoAccountReported(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", "extended-join")
	bob := ts.register("bob")
	alice.Join("#a")
	bob.Join("#a")
	alice.Expect(`:bob!\S+ JOIN #a \* :Real bob$`)

	alice.Send("WHO bob %na,7")
	alice.Expect(` 354 alice bob 0$`)

	alice.Send("WHOIS bob")
	lines := collectUntil(alice, ` 318 `)
	for _, l := range lines {
		if strings.Contains(l, " 330 ") {
			t.Fatalf("WHOIS reports an account no one is logged in to: %q", l)
		}
	}
	matchInOrder(t, lines, []string{` 311 alice bob `, ` 318 alice bob `})

	alice.Send("CAP LS 302")
	ls := alice.Expect(`CAP alice LS`).Trailing()
	for _, c := range []string{"account-tag", "account-notify"} {
		if strings.Contains(" "+ls+" ", " "+c+" ") {
			t.Fatalf("CAP LS offers %s, but there are no accounts: %s", c, ls)
		}
	}
}
