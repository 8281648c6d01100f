package ircd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The tests in this file measure the web client in a real headless
// Chromium and log the figures BENCHMARKS.md records; they assert only
// that the page did what was measured, never how fast.

// paintTiming is what the Performance API reports of one page load, in
// milliseconds from the start of the navigation.
type paintTiming struct {
	FirstPaint, FirstContentfulPaint, ResponseEnd, DOMContentLoaded float64
}

const readPaintTiming = `(() => {
	const p = Object.fromEntries(performance.getEntriesByType("paint").map(e => [e.name, e.startTime]));
	const n = performance.getEntriesByType("navigation")[0];
	return { FirstPaint: p["first-paint"] || 0, FirstContentfulPaint: p["first-contentful-paint"] || 0,
		ResponseEnd: n.responseEnd, DOMContentLoaded: n.domContentLoadedEventEnd };
})()`

// TestWebClientFirstPaint loads the login page in a fresh browser (cold:
// nothing cached; the browser has shown about:blank, so its own start-up
// is not counted) and then reloads it five times (warm: every file
// revalidated with its ETag), and logs first paint and first contentful
// paint from the Performance API's paint entries.
func TestWebClientFirstPaint(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	url := ts.startWebClient()
	ctx := newBrowser(t)
	run(t, ctx, chromedp.Navigate("about:blank"))
	var warm []float64
	for i := range 6 {
		nav := chromedp.Navigate(url)
		if i > 0 {
			nav = chromedp.Reload()
		}
		run(t, ctx, nav, chromedp.WaitVisible(chromedp.CSS("#login-form")),
			waitFor(`performance.getEntriesByName("first-contentful-paint").length > 0`))
		p := eval[paintTiming](t, ctx, readPaintTiming)
		if p.FirstPaint <= 0 || p.FirstContentfulPaint < p.FirstPaint {
			t.Fatalf("load %d: paint entries %+v", i, p)
		}
		if i == 0 {
			t.Logf("cold: first paint %.1f ms, first contentful paint %.1f ms (response end %.1f, DOMContentLoaded %.1f)",
				p.FirstPaint, p.FirstContentfulPaint, p.ResponseEnd, p.DOMContentLoaded)
			continue
		}
		warm = append(warm, p.FirstContentfulPaint)
	}
	t.Logf("warm (reload, revalidated): first contentful paint median %.1f ms of %v", median(warm), warm)
}

// scrollThousandLines is what the page measures while scrolling: the
// time between frames, where it ended and what it showed.
type scrollRun struct {
	Frames    []float64 // ms between successive animation frames
	Top       float64   // scrollTop at the end
	Steps     int
	Height    float64 // the message list's scrollHeight
	LongTasks []float64
}

// scrollUp scrolls the message list from the bottom to the top by steps
// of 100 px (about one notch of a mouse wheel), one step per animation
// frame, and records the frame times.
const scrollUp = `(async () => {
	const ol = document.querySelector("#messages");
	const frame = () => new Promise(r => requestAnimationFrame(r));
	ol.scrollTop = ol.scrollHeight;
	await frame();
	const frames = [];
	let last = await frame(), steps = 0;
	while (ol.scrollTop > 0 && steps < 10000) {
		ol.scrollTop = Math.max(0, ol.scrollTop - 100);
		const now = await frame();
		frames.push(now - last);
		last = now;
		steps++;
	}
	return { Frames: frames, Top: ol.scrollTop, Steps: steps, Height: ol.scrollHeight, LongTasks: window.longTasks || [] };
})()`

// watchLongTasks records the duration of every main-thread task over
// 50 ms from now on in window.longTasks.
const watchLongTasks = `(() => {
	window.longTasks = [];
	new PerformanceObserver(l => { for (const e of l.getEntries()) window.longTasks.push(e.duration); })
		.observe({ type: "longtask" });
})()`

// TestWebClientScrollsThousandLines fills a channel with 1,000 messages
// from an IRC client while the browser (phone-sized) shows it, then
// scrolls from the bottom to the top, and logs how long the page took to
// show the burst and the frame times of the scroll. It asserts that all
// 1,000 lines were rendered, in order, and that the scroll reached the top.
func TestWebClientScrollsThousandLines(t *testing.T) {
	t.Parallel()
	const total = 1000
	l := newLobby(t)
	ctx := newBrowser(t)
	l.loginBob(t, ctx)
	run(t, ctx, chromedp.Evaluate[chromedp.Void](watchLongTasks))
	want := make([]string, total)
	start := time.Now()
	for i := range want {
		line := chatLine(i)
		l.alice.Send("PRIVMSG #lobby :%s", line)
		want[i] = stripCodes.Replace(line)
	}
	l.alice.Sync()
	sent := time.Since(start)
	run(t, ctx, waitMessage(want[total-1]))
	shown := time.Since(start)
	burstTasks := eval[[]float64](t, ctx, `window.longTasks.splice(0)`)
	t.Logf("burst of %d lines: sent in %v, last shown after %v; %d long tasks, longest %.0f ms",
		total, sent.Round(time.Millisecond), shown.Round(time.Millisecond), len(burstTasks), slices.Max(append(burstTasks, 0)))

	got := eval[[]string](t, ctx, messageTexts)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("shown %d lines, want the %d sent, in order", len(got), total)
	}

	s := scrollAllTheWayUp(t, ctx, want)
	t.Logf("scrolled %.0f px in %d frames: frame time median %.1f ms, max %.1f ms, %d frames > 50 ms; %d long tasks",
		s.Height, len(s.Frames), median(s.Frames), slices.Max(s.Frames), countOver(s.Frames, 50), len(s.LongTasks))

	// Coming back to the channel from another conversation builds its
	// newest lines; scrolling up shows the rest from memory.
	run(t, ctx, say("/msg alice"), waitFor(`document.querySelector("#conversation-name").textContent === "alice"`))
	ms := evalAsync[float64](t, ctx, switchToLobby)
	if shown := eval[[]string](t, ctx, messageTexts); len(shown) == 0 || shown[len(shown)-1] != want[total-1] {
		t.Fatalf("after switching back the last line shown is not the newest")
	}
	t.Logf("switching to the %d-line channel: %.0f ms from the click to the frame after it", total, ms)
	s = scrollAllTheWayUp(t, ctx, want)
	t.Logf("after switching: scrolled %.0f px in %d frames: frame time median %.1f ms, max %.1f ms, %d frames > 50 ms",
		s.Height, len(s.Frames), median(s.Frames), slices.Max(s.Frames), countOver(s.Frames, 50))
}

// evalAsync returns the value of the promise the JavaScript expression js
// gives, allowing two minutes.
func evalAsync[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scrollAllTheWayUp runs scrollUp, checks that it reached the top and that the
// page then shows the lines want, in order, and knows there is no older
// history, and returns what it measured.
func scrollAllTheWayUp(t *testing.T, ctx context.Context, want []string) scrollRun {
	t.Helper()
	s := evalAsync[scrollRun](t, ctx, scrollUp)
	if s.Top != 0 || len(s.Frames) == 0 {
		t.Fatalf("scrolling stopped at %.0f px after %d steps", s.Top, s.Steps)
	}
	run(t, ctx, waitFor(`document.querySelector("#messages").dataset.history === "complete"`))
	if got := eval[[]string](t, ctx, messageTexts); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d lines shown after scrolling to the top, want the %d sent, in order", len(got), len(want))
	}
	return s
}

// switchToLobby clicks #lobby in the conversation list and returns the
// milliseconds until the frame that shows it has been produced.
const switchToLobby = `new Promise(done => {
	const b = [...document.querySelectorAll("#conversation-list button")].find(b => b.textContent.startsWith("#lobby"));
	const start = performance.now();
	b.click();
	requestAnimationFrame(() => setTimeout(() => done(performance.now() - start)));
})`

// chatLine returns the i-th line of a made-up conversation: mixed
// lengths, some long enough to wrap on a phone, some with a link.
func chatLine(i int) string {
	switch i % 5 {
	case 0:
		return fmt.Sprintf("%04d ok", i)
	case 1:
		return fmt.Sprintf("%04d did anyone see the build break on the phone layout this morning?", i)
	case 2:
		return fmt.Sprintf("%04d notes are at https://example.org/notes/%d#section-2, have a look before the meeting", i, i)
	case 3:
		return fmt.Sprintf("%04d %s", i, strings.Repeat("a longer message that wraps over several lines on a narrow screen, ", 3))
	default:
		return fmt.Sprintf("%04d \x02bold\x02 and \x0304colour\x03 codes stripped", i)
	}
}

// stripCodes removes the formatting codes chatLine uses, as the page does.
var stripCodes = strings.NewReplacer("\x02", "", "\x0304", "", "\x03", "")

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func countOver(xs []float64, limit float64) int {
	n := 0
	for _, x := range xs {
		if x > limit {
			n++
		}
	}
	return n
}
