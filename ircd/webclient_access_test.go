package ircd

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The tests in this file hold the web client to issue 15's list for phones
// and for people who do not use a mouse or do not see the screen.

// minTarget is the smallest touch target allowed, in CSS pixels (the
// size Apple's and WCAG 2.5.5's guidelines give).
const minTarget = 44

// layoutProblems returns what breaks the phone layout on the page shown:
// a page or message list wider than the screen, and visible controls
// smaller than a finger.
const layoutProblems = `(() => {
	const problems = [];
	const doc = document.documentElement;
	if (doc.scrollWidth > doc.clientWidth) problems.push("the page scrolls sideways: " + doc.scrollWidth + " > " + doc.clientWidth);
	const ol = document.querySelector("#messages");
	if (ol.offsetParent && ol.scrollWidth > ol.clientWidth) problems.push("the messages scroll sideways");
	for (const el of document.querySelectorAll("button, input, summary")) {
		const r = el.getBoundingClientRect();
		if (r.width === 0 && r.height === 0) continue; // not shown
		if (r.width < %[1]d || r.height < %[1]d) problems.push((el.id || el.textContent) + " is " + Math.round(r.width) + "×" + Math.round(r.height));
	}
	return problems;
})()`

// TestWebClientPhoneLayout shows the login and chat pages on the smallest
// phone the issue names, 360 px wide, with content that pushes sideways
// (long channel names, a long topic, an unbroken word, a long link), and
// checks that nothing scrolls sideways and every control is large enough
// to touch.
func TestWebClientPhoneLayout(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	l.alice.Send("TOPIC #lobby :%s", strings.Repeat("a-topic-without-any-spaces-", 8))
	l.alice.Expect(`TOPIC #lobby`)
	ctx := newBrowser(t)
	check := func(page string) {
		t.Helper()
		for _, p := range eval[[]string](t, ctx, fmt.Sprintf(layoutProblems, minTarget)) {
			t.Errorf("%s at 360 px: %s", page, p)
		}
	}
	run(t, ctx, chromedp.EmulateViewport(360, 640, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(l.url), chromedp.WaitVisible(chromedp.CSS("#login-nick")))
	check("the login page")

	run(t, ctx, fillLogin("bob", testPassword), chromedp.WaitVisible(chromedp.CSS("#chat-page")))
	l.alice.Expect(`:bob!\S+ JOIN #lobby`)
	for i := range 3 {
		run(t, ctx, say(fmt.Sprintf("/join #a-rather-long-channel-name-%d", i)))
	}
	word := strings.Repeat("x", 300)
	link := "https://example.org/" + strings.Repeat("long-path/", 30)
	l.alice.Send("PRIVMSG #lobby :%s", word)
	l.alice.Send("PRIVMSG #lobby :see %s", link)
	run(t, ctx, waitMessage(word), waitMessage(link),
		waitFor(`[...document.querySelectorAll("#conversation-list button")].some(b => b.textContent === "#a-rather-long-channel-name-2")`))
	check("the chat page")
	run(t, ctx, chromedp.Click(chromedp.CSS("#members-summary")), waitFor(`document.querySelector("#members-box").open`))
	check("the chat page with the member list open")
}

// TestWebClientThemes switches the system's colour scheme between light
// and dark and checks that the page follows it, and that in both themes
// every pair of colours that carries text reads at the WCAG AA contrast
// of 4.5:1.
func TestWebClientThemes(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWebClient()
	ctx := newBrowser(t)
	backgrounds := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		run(t, ctx, devtools(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}),
			chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#login-nick")))
		vars := eval[map[string]string](t, ctx, `(() => {
			const s = getComputedStyle(document.documentElement), v = {};
			for (const name of ["bg", "fg", "muted", "panel", "accent", "accent-fg", "error", "mention"]) v[name] = s.getPropertyValue("--" + name).trim();
			v.shown = s.backgroundColor;
			return v;
		})()`)
		backgrounds[scheme] = vars["shown"]
		if want := cssRGB(t, vars["bg"]); vars["shown"] != want {
			t.Errorf("%s: the page's background is %s, want its --bg %s", scheme, vars["shown"], want)
		}
		// Text colour on the backgrounds it is shown on.
		for _, pair := range [][2]string{{"fg", "bg"}, {"fg", "panel"}, {"fg", "mention"}, {"muted", "bg"},
			{"muted", "panel"}, {"muted", "mention"}, {"accent", "bg"}, {"accent", "mention"}, {"accent-fg", "accent"}, {"error", "bg"}} {
			if c := contrast(t, vars[pair[0]], vars[pair[1]]); c < 4.5 {
				t.Errorf("%s: --%s %s on --%s %s has contrast %.2f, under 4.5", scheme, pair[0], vars[pair[0]], pair[1], vars[pair[1]], c)
			}
		}
	}
	if backgrounds["light"] == backgrounds["dark"] {
		t.Errorf("the page looks the same in both schemes: %s", backgrounds["light"])
	}
}

// cssRGB turns "#rgb" or "#rrggbb" into the form getComputedStyle gives.
func cssRGB(t *testing.T, hex string) string {
	r, g, b := hexColor(t, hex)
	return fmt.Sprintf("rgb(%d, %d, %d)", r, g, b)
}

func hexColor(t *testing.T, hex string) (r, g, b uint8) {
	t.Helper()
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if len(h) != 6 || err != nil {
		t.Fatalf("colour %q is not #rgb or #rrggbb", hex)
	}
	return uint8(v >> 16), uint8(v >> 8), uint8(v)
}

// contrast is the WCAG 2 contrast ratio of two colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(hexColor(t, a)), luminance(hexColor(t, b))
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(r, g, b uint8) float64 {
	lin := func(c uint8) float64 {
		s := float64(c) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// TestWebClientKeyboard uses the client with the keyboard alone: focus
// starts on the nick, Tab and Enter log in, the message field has focus
// after login, Enter sends, the message list is reached with Tab and
// scrolled with Home, which loads older history. Then it checks that
// every control has a name in the accessibility tree a screen reader
// reads.
func TestWebClientKeyboard(t *testing.T) {
	t.Parallel()
	l := newLobby(t)
	for i := range 80 { // more than the replay of 50
		l.alice.Send("PRIVMSG #lobby :line %02d", i)
	}
	l.alice.Sync()
	ctx := newBrowser(t)
	const focused = `document.activeElement.id`
	run(t, ctx, chromedp.Navigate(l.url), chromedp.WaitVisible(chromedp.CSS("#login-nick")))
	if id := eval[string](t, ctx, focused); id != "login-nick" {
		t.Errorf("focus starts on %q, want the nick field", id)
	}
	run(t, ctx, chromedp.KeyEvent("bob"+kb.Tab+testPassword+kb.Enter), chromedp.WaitVisible(chromedp.CSS("#chat-page")))
	l.alice.Expect(`:bob!\S+ JOIN #lobby`)
	run(t, ctx, waitMessage("line 79"), waitFor(focused+` === "message-input"`),
		chromedp.KeyEvent("typed, not clicked"+kb.Enter))
	l.alice.Expect(`:bob!\S+ PRIVMSG #lobby :typed, not clicked`)

	run(t, ctx, chromedp.Focus(chromedp.CSS("#leave")), chromedp.KeyEvent(kb.Tab))
	if id := eval[string](t, ctx, focused); id != "messages" {
		t.Fatalf("Tab after Leave goes to %q, want the message list", id)
	}
	run(t, ctx, chromedp.KeyEvent(kb.Home), waitMessage("line 00"))

	tree, err := chromedp.Run(ctx, chromedp.Action[*accessibility.GetFullAXTreeResult](
		func(ctx context.Context, _ *chromedp.Target) (*accessibility.GetFullAXTreeResult, error) {
			res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
			return &res, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	needName := map[string]bool{`"button"`: true, `"textbox"`: true, `"link"`: true, `"navigation"`: true}
	named := map[string]bool{}
	for _, n := range tree.Nodes {
		if n.Ignored || n.Role == nil || !needName[string(n.Role.Value)] {
			continue
		}
		if n.Name == nil || string(n.Name.Value) == `""` || len(n.Name.Value) == 0 {
			t.Errorf("a %s has no accessible name", n.Role.Value)
			continue
		}
		named[string(n.Role.Value)+" "+string(n.Name.Value)] = true
	}
	for _, want := range []string{`"navigation" "Conversations"`, `"button" "#lobby"`, `"button" "Leave"`,
		`"textbox" "Message"`, `"button" "Send"`} {
		if !named[want] {
			t.Errorf("no %s in the accessibility tree (named: %v)", want, named)
		}
	}
}
