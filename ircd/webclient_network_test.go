package ircd

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// devtools runs one DevTools protocol command on the tab, as a step.
func devtools[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, _ *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Call(ctx, cmd, params)
		return chromedp.Void{}, err
	}
}

// online sets what the page believes of the network (navigator.onLine,
// and the online and offline events), not the network itself.
func online(on bool) chromedp.Action[chromedp.Void] {
	return devtools(network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: !on, DownloadThroughput: -1, UploadThroughput: -1})
}

// failWebSockets makes the page's WebSocket attempts fail while
// window.failWS is true, as a dead network would: they go to a path where
// the real server answers 404, so each is a real failed handshake.
const failWebSockets = `(() => {
	window.failWS = true;
	const Real = WebSocket;
	window.WebSocket = class extends Real {
		constructor(url, protocols) { super(window.failWS ? url + "-unreachable" : url, protocols); }
	};
})()`

// watchStatus records every text the status line shows in
// window.statusLog.
const watchStatus = `(() => {
	const s = document.querySelector("#status");
	window.statusLog = [s.textContent];
	new MutationObserver(() => window.statusLog.push(s.textContent))
		.observe(s, { childList: true, characterData: true, subtree: true });
})()`

// TestWebClientBacksOff drops the browser's connection while the server
// cannot be reached and checks that the page says when it will try again,
// doubling the wait after each failed attempt; that once the browser
// reports the network gone it waits for it rather than trying; and that it
// reconnects as soon as the network is back, with the messages it missed.
func TestWebClientBacksOff(t *testing.T) {
	t.Parallel()
	l := newLobby(t, withOper(operHash(t)))
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	run(t, ctx, chromedp.Evaluate[chromedp.Void](failWebSockets), chromedp.Evaluate[chromedp.Void](watchStatus))

	operUp(l.ts, "root").Send("KILL bob :testing back-off")
	l.alice.Expect(`:bob!\S+ QUIT `)
	run(t, ctx, waitFor(`window.statusLog.includes("Disconnected. Reconnecting in 4 s…")`),
		online(false),
		waitFor(`document.querySelector("#status").textContent === "Offline. Reconnecting when the network is back…"`),
		chromedp.Evaluate[chromedp.Void](`window.failWS = false`))
	l.alice.Send("PRIVMSG #lobby :while you were offline")
	l.alice.Sync()
	run(t, ctx, online(true))
	l.alice.Expect(`:bob!\S+ JOIN #lobby`)
	run(t, ctx, waitMessage("while you were offline"),
		waitFor(`document.querySelector("#status").textContent === "Connected as bob"`))

	got := slices.Compact(eval[[]string](t, ctx, `window.statusLog`))
	want := []string{"Connected as bob",
		"Disconnected. Reconnecting in 1 s…", "Reconnecting…",
		"Disconnected. Reconnecting in 2 s…", "Reconnecting…",
		"Disconnected. Reconnecting in 4 s…",
		"Offline. Reconnecting when the network is back…", "Reconnecting…",
		"Connected as bob"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status showed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := countShown(t, ctx, "Disconnected from the server."); n != 1 {
		t.Errorf("the drop is reported %d times in the conversation, want once", n)
	}
}
