package ircd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securechat/ircd/accounts"
)

// The tests in this file drive the web client's account login and
// registration (issue 15's "account credentials", issue 16 §1) in a real
// Chromium against a server with accounts on.

// accountForm is what a test enters on the login page: the nick, the room
// password, and the fields behind the "Account (optional)" disclosure.
type accountForm struct {
	nick, room, account, personal string
	create                        bool // press "Create account", not "Log in"
}

// submit loads the login page at url and fills it in. It logs in with
// Enter in the last field, as a keyboard user would (so Enter must never
// create an account), and creates with the "Create account" button.
func (f accountForm) submit(url string) chromedp.Action[chromedp.Void] {
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#login-nick")),
		chromedp.Click(chromedp.CSS("#account-box summary")),
		chromedp.WaitVisible(chromedp.CSS("#login-account-password")),
	}
	var typed []string // selector, then text
	for _, field := range [][2]string{{"#login-nick", f.nick}, {"#login-password", f.room},
		{"#login-account", f.account}, {"#login-account-password", f.personal}} {
		if field[1] != "" {
			typed = append(typed, field[0], field[1])
		}
	}
	if !f.create {
		typed[len(typed)-1] += kb.Enter
	}
	for i := 0; i < len(typed); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(typed[i]), typed[i+1]))
	}
	if f.create {
		steps = append(steps, chromedp.Click(chromedp.CSS("#create-account")))
	}
	return chromedp.Steps(steps...)
}

// refusal submits f and returns the login page's message, failing the
// test if the chat page shows too.
func refusal(t *testing.T, ctx context.Context, url string, f accountForm) string {
	t.Helper()
	run(t, ctx, f.submit(url), waitFor(`document.querySelector("#login-error").textContent !== ""`))
	if !eval[bool](t, ctx, `document.querySelector("#chat-page").hidden`) {
		t.Errorf("nick %s: the chat page shows beside the refusal", f.nick)
	}
	return eval[string](t, ctx, `document.querySelector("#login-error").textContent`)
}

// assertNothingStored checks that the page keeps none of secrets anywhere
// a later visitor of the browser could read them: web storage and cookies
// are empty, and no secret is in the address (as a form sent by GET
// would leave it, in the history too).
func assertNothingStored(t *testing.T, ctx context.Context, secrets ...string) {
	t.Helper()
	stored := eval[string](t, ctx, `JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie, location.href])`)
	if !strings.HasPrefix(stored, `[[],[],"",`) {
		t.Errorf("web storage or cookies hold something: %s", stored)
	}
	for _, s := range secrets {
		if strings.Contains(stored, s) {
			t.Errorf("a password is kept in the browser: %s", stored)
		}
	}
}

// waitStatus waits until the chat page's status reads want.
func waitStatus(want string) chromedp.Action[chromedp.Void] {
	return waitFor(fmt.Sprintf(`document.querySelector("#status").textContent === %q`, want))
}

// TestWebClientAccountCreateAndLogin creates an account from the page,
// checks that a raw IRC client sees it in WHOIS and that a reconnect
// after a drop logs in to it again, then reloads the page and logs in to
// the account under another nick. No password is ever left in the
// browser's storage or in the form after the reload.
func TestWebClientAccountCreateAndLogin(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), withOper(operHash(t)))
	url := ts.startWebClient()
	alice := ts.register("alice")
	ctx := newBrowser(t)

	create := accountForm{nick: "zebra", room: testPassword, personal: personalPassword, create: true}
	run(t, ctx, create.submit(url), chromedp.WaitVisible(chromedp.CSS("#chat-page")),
		waitStatus("Connected as zebra (account zebra)"))
	alice.Send("WHOIS zebra")
	alice.Expect(` 330 alice zebra zebra :is logged in as$`)
	assertNothingStored(t, ctx, testPassword, personalPassword)

	// After a drop the page logs in again, to the account it created.
	root := operUp(ts, "root")
	root.Send("KILL zebra :testing the account reconnect")
	run(t, ctx, waitMessage("Disconnected from the server."), waitMessage("Reconnected."),
		waitStatus("Connected as zebra (account zebra)"))
	alice.Send("WHOIS zebra")
	alice.Expect(` 330 alice zebra zebra :is logged in as$`)

	run(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#login-nick")))
	if left := eval[string](t, ctx, `document.querySelector("#login-password").value + document.querySelector("#login-account-password").value`); left != "" {
		t.Errorf("after a reload the login form holds %q", left)
	}
	assertNothingStored(t, ctx, testPassword, personalPassword)

	login := accountForm{nick: "zeb", room: testPassword, account: "zebra", personal: personalPassword}
	run(t, ctx, login.submit(url), chromedp.WaitVisible(chromedp.CSS("#chat-page")),
		waitStatus("Connected as zeb (account zebra)"))
	alice.Send("WHOIS zeb")
	alice.Expect(` 330 alice zeb zebra :is logged in as$`)
	assertNothingStored(t, ctx, testPassword, personalPassword)
}

// TestWebClientAccountLoginRefusals checks what the login page says when
// the room password or the personal password is wrong, for an account
// that does not exist, and once the account is locked after too many
// failures; each refusal says that and nothing more.
func TestWebClientAccountLoginRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), withThrottle(accounts.ThrottleOptions{FreeFailures: 1, Lockout: time.Hour}))
	ts.registerAccount("zebra", personalPassword).quit()
	url := ts.startWebClient()
	ctx := newBrowser(t)
	const wrongPersonal = "Wrong account name or personal password"
	for _, tc := range []struct {
		name string
		form accountForm
		want string
	}{
		// The personal password is right: the room password alone is wrong.
		{"wrong room password", accountForm{nick: "zeb", room: "not the room password", account: "zebra", personal: personalPassword},
			"Wrong room password"},
		{"wrong personal password", accountForm{nick: "zeb", room: testPassword, account: "zebra", personal: "not my password"},
			wrongPersonal},
		{"no such account", accountForm{nick: "zeb", room: testPassword, account: "nobody", personal: personalPassword},
			wrongPersonal},
		{"second wrong personal password", accountForm{nick: "zeb", room: testPassword, account: "zebra", personal: "still not it"},
			wrongPersonal},
		// Two failures lock the account: now even the right password waits.
		{"locked account", accountForm{nick: "zeb", room: testPassword, account: "zebra", personal: personalPassword},
			"Too many failed logins to this account. Try again later."},
	} {
		if got := refusal(t, ctx, url, tc.form); got != tc.want {
			t.Errorf("%s: the page says %q, want %q", tc.name, got, tc.want)
		}
		if tc.want == wrongPersonal {
			if left := eval[string](t, ctx, `document.querySelector("#login-account-password").value`); left != "" {
				t.Errorf("%s: the refused personal password stays in its field", tc.name)
			}
		}
	}
	assertNothingStored(t, ctx, testPassword, personalPassword)
}

// TestWebClientAccountCreateRefusals runs "Create account" into the
// server's REGISTER refusals and the page's own checks, and an account
// login into a server without accounts; each leaves the login page up
// with a message and creates nothing.
func TestWebClientAccountCreateRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ts.registerAccount("taken", personalPassword).quit()
	ts.register("alice") // holds the nick "alice"
	url := ts.startWebClient()
	noAccounts := newTestServer(t).startWebClient()
	ctx := newBrowser(t)
	for _, tc := range []struct {
		name string
		url  string
		form accountForm
		want string
	}{
		{"account exists", url, accountForm{nick: "taken", room: testPassword, personal: personalPassword, create: true},
			"That account already exists. Log in to it, or choose another nick."},
		{"weak password", url, accountForm{nick: "newbie", room: testPassword, personal: "short", create: true},
			"Choose a personal password of at least 8 characters."},
		// The server gives the page "alice_": it must not name the account.
		{"nick in use", url, accountForm{nick: "alice", room: testPassword, personal: personalPassword, create: true},
			"That nick is in use. An account is named after your nick: choose another."},
		{"wrong room password", url, accountForm{nick: "newbie", room: "not the room password", personal: personalPassword, create: true},
			"Wrong room password"},
		{"no personal password", url, accountForm{nick: "newbie", room: testPassword, create: true},
			"Choose a personal password for the new account."},
		{"another name", url, accountForm{nick: "newbie", room: testPassword, account: "other", personal: personalPassword, create: true},
			"A new account is named after your nick: leave the account name empty."},
		{"login without personal password", url, accountForm{nick: "newbie", room: testPassword, account: "taken"},
			"Enter your personal password, or leave the account name empty."},
		{"server without accounts: create", noAccounts, accountForm{nick: "newbie", room: testPassword, personal: personalPassword, create: true},
			"This server has no personal accounts. Leave the account fields empty."},
		{"server without accounts: login", noAccounts, accountForm{nick: "newbie", room: testPassword, account: "taken", personal: personalPassword},
			"This server has no personal accounts. Leave the account fields empty."},
	} {
		if got := refusal(t, ctx, tc.url, tc.form); got != tc.want {
			t.Errorf("%s: the page says %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, name := range []string{"newbie", "alice", "alice_"} {
		if _, ok := ts.srv.accounts.Lookup(name); ok {
			t.Errorf("account %s was created", name)
		}
	}
	assertNothingStored(t, ctx, testPassword, personalPassword)
}

// TestWebClientAccountFieldsLayout opens the account disclosure on a
// 360 px phone screen: nothing scrolls sideways, every control is large
// enough to touch, and every field has a label a screen reader reads.
func TestWebClientAccountFieldsLayout(t *testing.T) {
	t.Parallel()
	url := newTestServer(t).startWebClient()
	ctx := newBrowser(t)
	run(t, ctx, chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#login-nick")),
		chromedp.Click(chromedp.CSS("#account-box summary")), chromedp.WaitVisible(chromedp.CSS("#create-account")))
	for _, p := range eval[[]string](t, ctx, fmt.Sprintf(layoutProblems, minTarget)) {
		t.Errorf("the login page with the account fields at 360 px: %s", p)
	}
	unlabelled := eval[[]string](t, ctx, `[...document.querySelectorAll("#login-form input")].filter(i => !i.labels.length || !i.labels[0].textContent.trim()).map(i => i.id)`)
	if len(unlabelled) > 0 {
		t.Errorf("login fields without a label: %q", unlabelled)
	}
}
