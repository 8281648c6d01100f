package ircd

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"securechat/config"
	"securechat/ircd/webclient"
)

// chromiumPath is Debian's Chromium; .ci/install-deps installs it.
const chromiumPath = "/usr/bin/chromium"

// startWebClient starts the web listener and returns the page's URL.
func (ts *testServer) startWebClient() string {
	ts.t.Helper()
	return strings.TrimSuffix(strings.Replace(ts.startWeb(), "wss://", "https://", 1), WebSocketPath) + "/"
}

// newBrowser starts a headless Chromium with its own profile and returns
// a context for driving one tab, cancelled when the test ends. A missing
// Chromium fails the test: the browser tests are the web client's proof.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("web client tests need Chromium at %s (apt-get install chromium, or .ci/install-deps): %v", chromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The test server's certificate is self-signed.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first run starts the browser, which lives as long as its
	// context: it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// run runs steps in the browser, failing the test on the first error.
func run(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval returns the value of the JavaScript expression js in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// login fills in the login page at url and submits it.
func login(url, nick, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#login-nick")),
		chromedp.SendKeys(chromedp.CSS("#login-nick"), nick),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

// waitFor polls the page until the JavaScript expression js is true.
func waitFor(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second))
}

// waitMessage waits until a message line containing text is shown.
func waitMessage(text string) chromedp.Action[chromedp.Void] {
	return waitFor(fmt.Sprintf(`[...document.querySelectorAll("#messages li")].some(li => li.textContent.includes(%q))`, text))
}

// say sends text from the chat page's input.
func say(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetValue(chromedp.CSS("#message-input"), text),
		chromedp.Click(chromedp.CSS("#send")),
	)
}

// lobby is a test server with its web client, alice on TLS IRC in #lobby,
// and the browser's page URL.
type lobby struct {
	ts    *testServer
	alice *testClient
	url   string
}

// newLobby starts a lobby; opts configure the server.
func newLobby(t *testing.T, opts ...serverOption) *lobby {
	t.Helper()
	ts := newTestServer(t, opts...)
	l := &lobby{ts: ts, url: ts.startWebClient(), alice: ts.register("alice")}
	l.alice.JoinAndSync("#lobby")
	return l
}

// loginBob runs before (such as granting permissions), then logs bob in
// from the browser and waits until alice sees him join #lobby.
func (l *lobby) loginBob(t *testing.T, ctx context.Context, before ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, append(before, login(l.url, "bob", testPassword), chromedp.WaitVisible(chromedp.CSS("#chat-page")))...)
	l.alice.Expect(`:bob!\S+ JOIN #lobby`)
}

func TestWebClientChatsWithIRCClient(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWebClient()
	alice := ts.register("alice", "echo-message", "server-time")
	alice.JoinAndSync("#lobby")
	alice.Send("TOPIC #lobby :welcome <b>home</b>")
	alice.Expect(`TOPIC #lobby`)
	alice.Send("PRIVMSG #lobby :before you came")
	earlier := alice.Expect(`PRIVMSG #lobby :before you came`)

	ctx := newBrowser(t)
	run(t, ctx, login(url, "bob", testPassword),
		chromedp.WaitVisible(chromedp.CSS("#chat-page")),
		waitMessage("before you came"))
	alice.Expect(`:bob!\S+ JOIN #lobby`)
	// Logging in opens the channel and nothing else (no server tab for
	// routine numerics such as a missing MOTD).
	if convs := eval[[]string](t, ctx, `[...document.querySelectorAll("#conversation-list button")].map(b => b.textContent)`); strings.Join(convs, ",") != "#lobby" {
		t.Errorf("conversations after login: %q, want only #lobby", convs)
	}

	// The replay shows the message's original time, not the time it arrived.
	shown := eval[string](t, ctx, `[...document.querySelectorAll("#messages li")].find(li => li.textContent.includes("before you came")).querySelector("time").dateTime`)
	want, err := time.Parse(time.RFC3339Nano, earlier.Tags["time"])
	if err != nil {
		t.Fatalf("echo without server-time: %v", err)
	}
	if got, err := time.Parse(time.RFC3339Nano, shown); err != nil || !got.Equal(want.Truncate(time.Millisecond)) {
		t.Fatalf("replayed message shown at %q, want %s", shown, want)
	}

	run(t, ctx, waitFor(`document.querySelector("#members").textContent.includes("alice")`))
	// Channel operators come first.
	if members := eval[[]string](t, ctx, `[...document.querySelectorAll("#members li")].map(li => li.textContent)`); strings.Join(members, ",") != "@alice,bob" {
		t.Errorf("members listed as %q, want @alice then bob", members)
	}
	topic := eval[string](t, ctx, `document.querySelector("#topic").textContent`)
	if topic != "welcome <b>home</b>" {
		t.Errorf("topic shown as %q", topic)
	}

	run(t, ctx, say("hello from the browser"))
	alice.Expect(`:bob!\S+ PRIVMSG #lobby :hello from the browser`)
	alice.Send("PRIVMSG #lobby :hello from IRC")
	run(t, ctx, waitMessage("hello from IRC"))

	run(t, ctx, say("/me waves"))
	alice.Expect(`:bob!\S+ PRIVMSG #lobby :\x01ACTION waves\x01`)
	run(t, ctx, waitMessage("* bob waves"))

	// A private message opens its own conversation.
	alice.Send("PRIVMSG bob :just you")
	run(t, ctx, waitFor(`[...document.querySelectorAll("#conversation-list button")].some(b => b.textContent.startsWith("alice"))`))
	run(t, ctx, say("/msg alice and you"))
	alice.Expect(`:bob!\S+ PRIVMSG alice :and you`)
	run(t, ctx, waitMessage("just you"))
	current := eval[string](t, ctx, `document.querySelector("#conversation-name").textContent`)
	if current != "alice" {
		t.Errorf("after /msg the conversation shown is %q, want alice", current)
	}

	// Web storage never holds the password (or anything else).
	if stored := eval[int](t, ctx, `localStorage.length + sessionStorage.length`); stored != 0 {
		t.Errorf("%d items in web storage", stored)
	}
}

// TestWebClientRendersTextOnly checks that markup in messages, notices,
// topics and part reasons, formatting codes and links from the server
// never become live HTML.
func TestWebClientRendersTextOnly(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	alice := l.alice
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	alice.Send("PRIVMSG #lobby :<img src=x onerror=window.pwned=1>")
	alice.Send("PRIVMSG #lobby :\x02bold\x02 and \x0304,01red\x03 text")
	alice.Send("PRIVMSG #lobby :see https://example.org/page, not javascript:window.pwned=2")
	alice.Send("TOPIC #lobby :<img src=x onerror=window.pwned=3>")
	alice.Send("NOTICE #lobby :<script>window.pwned=4</script>")
	carol := l.ts.register("carol")
	carol.JoinAndSync("#lobby")
	carol.Send("PART #lobby :<img src=x onerror=window.pwned=5>")
	run(t, ctx, waitMessage("<img src=x onerror=window.pwned=1>"), waitMessage("bold and red text"), waitMessage("see https://"),
		waitMessage("<script>window.pwned=4</script>"), waitMessage("carol left (<img src=x onerror=window.pwned=5>)"))
	if topic := eval[string](t, ctx, `document.querySelector("#topic").textContent`); topic != "<img src=x onerror=window.pwned=3>" {
		t.Errorf("topic shown as %q", topic)
	}
	if scripts := eval[int](t, ctx, `document.querySelectorAll("body script").length`); scripts != 0 {
		t.Errorf("%d <script> elements in the page's body", scripts)
	}

	images := eval[int](t, ctx, `document.querySelectorAll("img").length`)
	links := eval[int](t, ctx, `document.querySelectorAll("#messages a").length`)
	pwned := eval[bool](t, ctx, `"pwned" in window`)
	href := eval[string](t, ctx, `document.querySelector("#messages a").getAttribute("href")`)
	rel := eval[string](t, ctx, `document.querySelector("#messages a").rel`)
	if images != 0 || pwned {
		t.Errorf("markup in a message became HTML: %d <img>, pwned=%v", images, pwned)
	}
	if links != 1 || href != "https://example.org/page" || !strings.Contains(rel, "noopener") {
		t.Errorf("links: %d, href %q rel %q; want one https link with rel=noopener", links, href, rel)
	}
}

func TestWebClientWrongPassword(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := newBrowser(t)
	run(t, ctx, login(ts.startWebClient(), "eve", "not the password"),
		waitFor(`document.querySelector("#login-error").textContent !== ""`))
	msg := eval[string](t, ctx, `document.querySelector("#login-error").textContent`)
	chatHidden := eval[bool](t, ctx, `document.querySelector("#chat-page").hidden`)
	if msg != "Wrong room password" || !chatHidden {
		t.Fatalf("login error %q, chat hidden %v; want only \"Wrong room password\"", msg, chatHidden)
	}
}

// TestWebClientChecksLoginForm checks that the login page says what to
// fix in a nick the server would refuse or a missing password, before
// connecting.
func TestWebClientChecksLoginForm(t *testing.T) {
	t.Parallel()
	url := newTestServer(t).startWebClient()
	ctx := newBrowser(t)
	for _, tc := range []struct{ nick, password, want string }{
		{"two words", testPassword, "Choose a nick: letters, digits and _-[]{}|^` (no spaces)."},
		{"9lives", testPassword, "Choose a nick: letters, digits and _-[]{}|^` (no spaces)."},
		{"eve", "", "Enter the room password."},
	} {
		run(t, ctx, login(url, tc.nick, tc.password),
			waitFor(`document.querySelector("#login-error").textContent !== ""`))
		msg := eval[string](t, ctx, `document.querySelector("#login-error").textContent`)
		if msg != tc.want || !eval[bool](t, ctx, `document.querySelector("#chat-page").hidden`) {
			t.Errorf("nick %q, password %q: error %q, want %q", tc.nick, tc.password, msg, tc.want)
		}
	}
}

// TestWebClientHeaders checks the security headers over the real
// listener, and that HSTS follows the server's STS policy.
func TestWebClientHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWebClient()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConf}}
	fetch := func(path string) *http.Response {
		t.Helper()
		resp, err := client.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	resp := fetch("")
	want := map[string]string{
		"Content-Type":              "text/html; charset=utf-8",
		"Content-Security-Policy":   webclient.CSP,
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"Strict-Transport-Security": "", // no plaintext listener, no STS
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if ct := fetch("app.js").Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("app.js Content-Type %q", ct)
	}

	ts.srv.Start(loopbackListener(t), false)
	waitUntil(t, func() bool { return fetch("").Header.Get("Strict-Transport-Security") == webclient.HSTS })
}

// messageTexts returns the text of every message line shown, in order.
const messageTexts = `[...document.querySelectorAll("#messages li .text")].map(e => e.textContent)`

// countShown returns how many message lines show exactly text.
func countShown(t *testing.T, ctx context.Context, text string) int {
	t.Helper()
	return eval[int](t, ctx, fmt.Sprintf(`%s.filter(s => s === %q).length`, messageTexts, text))
}

// scrollToTop scrolls the message list to the top as a user would, which
// asks the server for older lines.
const scrollToTop = `(() => { const ol = document.querySelector("#messages"); ol.scrollTop = 0; ol.dispatchEvent(new Event("scroll")); })()`

// TestWebClientLoadsOlderHistory checks that scrolling up pages through a
// channel's history with CHATHISTORY BEFORE: every message once, in
// order, the view kept on what was read, and no more requests once the
// server has nothing older.
func TestWebClientLoadsOlderHistory(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	alice := l.alice
	const total = 120 // the JOIN replay shows the latest 50
	var want []string
	for i := range total {
		want = append(want, fmt.Sprintf("old %03d", i))
		alice.Send("PRIVMSG #lobby :%s", want[i])
	}
	alice.Sync()

	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	run(t, ctx, waitMessage(want[total-1]))
	if n := eval[int](t, ctx, `document.querySelectorAll("#messages li").length`); n >= total {
		t.Fatalf("%d lines before scrolling; the replay should hold fewer than %d", n, total)
	}

	for pages := 0; countShown(t, ctx, want[0]) == 0; pages++ {
		if pages == 5 {
			t.Fatalf("the first message is not shown after %d pages", pages)
		}
		// The line at the top before loading must stay where it was.
		before := eval[float64](t, ctx, scrollToTop+`, (() => { const li = document.querySelector("#messages li"); li.id = "was-top"; return li.getBoundingClientRect().top; })()`)
		run(t, ctx, waitFor(`document.querySelector("#messages li").id !== "was-top" && document.querySelector("#messages").dataset.history !== "loading"`))
		after := eval[float64](t, ctx, `document.querySelector("#was-top").getBoundingClientRect().top`)
		if d := after - before; d < -2 || d > 2 {
			t.Errorf("page %d: the line that was on top moved by %.0f px", pages, d)
		}
		run(t, ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector("#was-top").removeAttribute("id")`))
	}

	// Nothing is older: the next request gets an empty batch, and then
	// scrolling up asks no more.
	run(t, ctx, chromedp.Evaluate[chromedp.Void](scrollToTop),
		waitFor(`document.querySelector("#messages").dataset.history === "complete"`))

	got := eval[[]string](t, ctx, messageTexts)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("shown %d lines, want %d in order:\n%s", len(got), total, strings.Join(got, "\n"))
	}
}

// TestWebClientReconnects drops the browser's connection from the server
// side (an operator's KILL) and checks that the page says so, logs in
// again, rejoins, and shows a message sent meanwhile exactly once, with
// the replay of what it had already shown de-duplicated.
func TestWebClientReconnects(t *testing.T) {
	t.Parallel()
	l := newLobby(t, withOper(operHash(t)))
	alice := l.alice
	alice.Send("PRIVMSG #lobby :before the drop")
	alice.Sync()
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	run(t, ctx, waitMessage("before the drop"))

	root := operUp(l.ts, "root")
	root.Send("KILL bob :testing reconnects")
	alice.Expect(`:bob!\S+ QUIT `)
	alice.Send("PRIVMSG #lobby :while you were away")
	alice.Sync()
	run(t, ctx, waitFor(`document.querySelector("#status").classList.contains("down")`),
		waitMessage("Disconnected from the server."))

	alice.Expect(`:bob!\S+ JOIN #lobby`)
	run(t, ctx, waitMessage("Reconnected."), waitMessage("while you were away"),
		waitFor(`document.querySelector("#status").textContent === "Connected as bob"`))
	if eval[bool](t, ctx, `document.querySelector("#status").classList.contains("down")`) {
		t.Error("status still shows the connection as down")
	}
	alice.Send("PRIVMSG #lobby :after the return")
	run(t, ctx, waitMessage("after the return"))
	for _, text := range []string{"before the drop", "while you were away", "after the return"} {
		if n := countShown(t, ctx, text); n != 1 {
			t.Errorf("%q shown %d times, want once", text, n)
		}
	}
}

// TestWebClientMentions checks that a message naming the user is
// highlighted and counted apart in the unread badge of a conversation in
// the background, and that a nick inside a longer word is not a mention.
func TestWebClientMentions(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	alice := l.alice
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	run(t, ctx, say("/join #side"),
		waitFor(`[...document.querySelectorAll("#conversation-list button")].some(b => b.textContent === "#side")`),
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#conversation-list button")].find(b => b.textContent === "#side").click()`),
		waitFor(`document.querySelector("#conversation-name").textContent === "#side"`))

	alice.Send("PRIVMSG #lobby :hello everyone")
	alice.Send("PRIVMSG #lobby :Bob: are you there?")
	alice.Send("PRIVMSG #lobby :the bobcat is not you")
	const badge = `[...document.querySelectorAll("#conversation-list button")].find(b => b.textContent.startsWith("#lobby")).querySelector(".unread")`
	run(t, ctx, waitFor(badge+`?.getAttribute("aria-label") === "3 unread, 1 mention"`))
	if !eval[bool](t, ctx, badge+`.classList.contains("mentioned")`) {
		t.Error("the badge of a conversation with a mention is not marked as such")
	}

	run(t, ctx, chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#conversation-list button")].find(b => b.textContent.startsWith("#lobby")).click()`),
		waitMessage("the bobcat is not you"))
	mentions := eval[[]string](t, ctx, `[...document.querySelectorAll("#messages li.mention .text")].map(e => e.textContent)`)
	if len(mentions) != 1 || mentions[0] != "Bob: are you there?" {
		t.Errorf("highlighted lines %q, want only the one naming bob", mentions)
	}
	if eval[bool](t, ctx, badge+` !== null`) {
		t.Error("the badge stays after the conversation is opened")
	}
}

// TestWebClientNotifies grants the page the notification permission and
// checks that mentions and private messages, and nothing else, raise a
// notification while the tab is hidden. Headless Chromium cannot hide a
// tab, so the test overrides document.hidden, and it records what the
// client passes to the real Notification constructor.
func TestWebClientNotifies(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	alice := l.alice
	ctx := newBrowser(t)
	l.loginBob(t, ctx, grantNotifications(l.url))
	if p := eval[string](t, ctx, `Notification.permission`); p != "granted" {
		t.Fatalf("Notification.permission %q after granting", p)
	}
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		window.hiddenTab = true;
		Object.defineProperty(document, "hidden", { configurable: true, get: () => window.hiddenTab });
		window.notified = [];
		const Real = Notification;
		window.Notification = class extends Real {
			constructor(title, options) { super(title, options); window.notified.push(title + ": " + options.body); }
		};
	})()`))

	alice.Send("PRIVMSG #lobby :nothing for you")
	alice.Send("PRIVMSG #lobby :bob, look")
	alice.Send("PRIVMSG bob :just between us")
	run(t, ctx, waitFor(`window.notified.length >= 2`))
	run(t, ctx, chromedp.Evaluate[chromedp.Void](`window.hiddenTab = false`))
	alice.Send("PRIVMSG #lobby :bob, now you are here")
	run(t, ctx, waitMessage("bob, now you are here"))

	got := eval[[]string](t, ctx, `window.notified`)
	want := []string{"alice in #lobby: bob, look", "alice: just between us"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("notifications %q, want %q", got, want)
	}
}

// TestWebClientFillsShortConversation checks that a conversation too short
// to scroll loads older lines by itself: with a replay of 3, the 10 earlier
// messages all show without scrolling.
func TestWebClientFillsShortConversation(t *testing.T) {
	t.Parallel()
	l := newLobby(t, withConfig(func(cfg *config.Config) { cfg.Replay = 3 }))
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("short %d", i))
		l.alice.Send("PRIVMSG #lobby :%s", want[i])
	}
	l.alice.Sync()
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	// The client asks for the latest lines after its JOIN and may learn
	// nothing is older before it paints the last of them.
	run(t, ctx, waitFor(`document.querySelector("#messages").dataset.history === "complete"`), waitMessage(want[9]))
	if got := eval[[]string](t, ctx, messageTexts); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("shown %q, want %q", got, want)
	}
}
