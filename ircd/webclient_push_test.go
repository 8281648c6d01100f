package ircd

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"securechat/ircd/push/pushtest"
	"securechat/ircd/webclient"
)

// grantNotifications allows notifications for the page's origin, as a
// user answering the browser's prompt would.
func grantNotifications(url string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"},
			Setting:    browser.PermissionSettingGranted,
			Origin:     strings.TrimSuffix(url, "/"),
		})
		return chromedp.Void{}, err
	}
}

// settle returns the value of the asynchronous JavaScript function body,
// awaited in the page.
func settle[T any](t *testing.T, ctx context.Context, body string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(async () => {"+body+"})()", chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

// untilJS is an asynchronous function body that waits until the
// expression cond, which may await, is true, for at most 15 seconds, and
// returns the expression result then: the caller checks it.
func untilJS(cond, result string) string { return untilJSFor(15*time.Second, cond, result) }

// untilJSFor is untilJS waiting at most d.
func untilJSFor(d time.Duration, cond, result string) string {
	return fmt.Sprintf("for (let i = 0; i < %d && !(%s); i++) await new Promise((r) => setTimeout(r, 20)); return %s;",
		d/(20*time.Millisecond), cond, result)
}

// registrationID returns the DevTools id of the service worker
// registration whose scope is url, which deliverPushMessage needs.
func registrationID(t *testing.T, ctx context.Context, url string) serviceworker.RegistrationID {
	t.Helper()
	found := make(chan serviceworker.RegistrationID, 1)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range e.Registrations {
				if r.ScopeURL == url && !r.IsDeleted {
					select {
					case found <- r.RegistrationID:
					default:
					}
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, devtools(serviceworker.Enable, struct{}{}))
	select {
	case id := <-found:
		return id
	case <-ctx.Done():
		t.Fatal("no service worker registration reported")
		return ""
	}
}

// notifications is an expression for the notifications the service
// worker shows, oldest first.
const notifications = `(await (await navigator.serviceWorker.ready).getNotifications())`

// TestWebClientServiceWorker checks that sw.js is served as a script
// under the strict CSP, that the page registers it active at the root
// scope, and that a push delivered to it through DevTools shows a
// notification whose title and body are the IRC line's sender, target
// and text as plain text: markup in the line stays characters.
func TestWebClientServiceWorker(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWebClient()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConf}}
	resp, err := client.Get(url + "sw.js")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	for k, v := range map[string]string{
		"Content-Type":            "text/javascript; charset=utf-8",
		"Content-Security-Policy": webclient.CSP,
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := resp.Header.Get(k); resp.StatusCode != http.StatusOK || got != v {
			t.Errorf("sw.js: %d, %s %q, want %q", resp.StatusCode, k, got, v)
		}
	}

	ctx := newBrowser(t)
	run(t, ctx, grantNotifications(url), chromedp.Navigate(url))
	if state := settle[string](t, ctx, untilJS(`(await navigator.serviceWorker.ready).active.state === "activated"`,
		`(await navigator.serviceWorker.ready).active.state`)); state != "activated" {
		t.Fatalf("service worker %s", state)
	}
	if scope := settle[string](t, ctx, `return (await navigator.serviceWorker.ready).scope`); scope != url {
		t.Errorf("service worker scope %q, want %q", scope, url)
	}
	id := registrationID(t, ctx, url)
	origin := strings.TrimSuffix(url, "/")
	// Each push is checked as it is shown: under load, headless Chromium
	// may replace one notification with the next.
	for _, c := range []struct{ line, want string }{
		{"@time=2026-01-02T03:04:05.000Z :mallory!m@example.net PRIVMSG bob :<img src=x onerror=alert(1)> look",
			"mallory|<img src=x onerror=alert(1)> look"},
		{":mallory!m@example.net PRIVMSG #lobby :\x02bob\x02, \x034red\x03 <b>here</b>",
			"mallory in #lobby|bob, red <b>here</b>"},
		{":mallory!m@example.net INVITE bob #<i>secret</i>", "mallory|invites you to #<i>secret</i>"},
	} {
		shown := notifications + `.map((n) => n.title + "|" + n.body)`
		var got []string
		// DevTools may hand a push to a worker that is still starting,
		// which loses it: deliver again, a few times at most.
		for try := 0; try < 5 && !slices.Contains(got, c.want); try++ {
			run(t, ctx, devtools(serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: origin, RegistrationID: id, Data: c.line}))
			got = settle[[]string](t, ctx, untilJSFor(3*time.Second, fmt.Sprintf(shown+`.includes(%q)`, c.want), shown))
		}
		if !slices.Contains(got, c.want) {
			t.Errorf("push %q shows %q, want %q", c.line, got, c.want)
		}
	}
}

// fakeSubscribe makes the page's pushManager.subscribe resolve to a
// subscription to endpoint with the keys of sub, standing in for the
// browser's push service, which headless Chromium cannot reach here. The
// server still checks the endpoint and keys the page sends.
func fakeSubscribe(endpoint string, sub *pushtest.Subscriber) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const bytes = (b) => Uint8Array.from(atob(b.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
		let current = null;
		PushManager.prototype.subscribe = async function(opts) {
			window.subscribedWith = opts;
			current = { endpoint: %q, getKey: (k) => bytes(k === "auth" ? %q : %q),
				unsubscribe: async () => { current = null; return true; } };
			return current;
		};
		PushManager.prototype.getSubscription = async function() { return current; };
	})()`, endpoint, pushtest.B64(sub.Auth), pushtest.B64(sub.Priv.PublicKey().Bytes())))
}

// pushNote waits for the push note to contain text.
func pushNote(text string) chromedp.Action[chromedp.Void] {
	return waitFor(fmt.Sprintf(`document.querySelector("#push-note").textContent.includes(%q)`, text))
}

// pushPressed is the toggle's aria-pressed.
const pushPressed = `document.querySelector("#push-toggle").getAttribute("aria-pressed")`

// TestWebClientPushToggle logs in to an account on a server with
// draft/webpush and checks the "Notify me on this device" toggle. Offline,
// Chromium's real subscribe fails and the page says so. With a
// subscription standing in for the push service, a FAIL from the server
// is shown and leaves the toggle off; a good one is sent as WEBPUSH
// REGISTER in the form the server accepts, subscribed with the server's
// VAPID key; turning it off unregisters, so a private message while the
// account is away is not pushed; turned on again, the next one is.
func TestWebClientPushToggle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	url := ts.startWebClient()
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := ts.register("alice")
	alice.JoinAndSync("#lobby")
	ctx := newBrowser(t)
	create := accountForm{nick: "bob", room: testPassword, personal: personalPassword, create: true}
	run(t, ctx, grantNotifications(url), create.submit(url), chromedp.WaitVisible(chromedp.CSS("#chat-page")),
		waitStatus("Connected as bob (account bob)"), chromedp.WaitVisible(chromedp.CSS("#push-toggle")))

	run(t, ctx, chromedp.Click(chromedp.CSS("#push-toggle")), pushNote("Could not turn notifications on: "))
	if p := eval[string](t, ctx, pushPressed); p != "false" {
		t.Errorf("toggle pressed %q after subscribe failed", p)
	}

	bad := pushtest.NewSubscriber(t, ps.Endpoint())
	run(t, ctx, fakeSubscribe("ftp://example.net/push", bad), chromedp.Click(chromedp.CSS("#push-toggle")),
		pushNote("Notifications refused by the server: endpoint must be an https URL"))
	if p := eval[string](t, ctx, pushPressed); p != "false" {
		t.Errorf("toggle pressed %q after FAIL", p)
	}

	first := pushtest.NewSubscriber(t, ps.Endpoint())
	run(t, ctx, fakeSubscribe(first.Sub.Endpoint, first), chromedp.Click(chromedp.CSS("#push-toggle")),
		pushNote("Notifications on for this device."), waitFor(pushPressed+` === "true"`),
		chromedp.Click(chromedp.CSS("#push-toggle")), pushNote("Notifications off for this device."),
		waitFor(pushPressed+` === "false"`))
	away(t, ctx, alice)
	alice.Send("PRIVMSG bob :not pushed: you turned it off")

	relogin := accountForm{nick: "bob", room: testPassword, account: "bob", personal: personalPassword}
	second := pushtest.NewSubscriber(t, ps.Endpoint())
	run(t, ctx, relogin.submit(url), waitStatus("Connected as bob (account bob)"),
		chromedp.WaitVisible(chromedp.CSS("#push-toggle")),
		fakeSubscribe(second.Sub.Endpoint, second), chromedp.Click(chromedp.CSS("#push-toggle")),
		pushNote("Notifications on for this device."))
	key := eval[string](t, ctx, `btoa(String.fromCharCode(...new Uint8Array(window.subscribedWith.applicationServerKey)))
		.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")`)
	if !eval[bool](t, ctx, `window.subscribedWith.userVisibleOnly === true`) {
		t.Error("subscribed without userVisibleOnly")
	}
	away(t, ctx, alice)
	alice.Send("PRIVMSG bob :are you <b>there</b>?")
	// expectPush checks the push is signed with key: the page subscribed
	// with the server's VAPID key. Had the first message been pushed, it
	// would come first and fail the match.
	expectPush(t, ps, second, key, ` PRIVMSG bob :are you <b>there</b>\?$`)
}

// away quits from the page and waits until alice, in #lobby with bob,
// sees him go: his account has no client left, so messages to it push.
func away(t *testing.T, ctx context.Context, alice *testClient) {
	t.Helper()
	run(t, ctx, say("/quit"))
	alice.Expect(`:bob!\S+ QUIT`)
}
