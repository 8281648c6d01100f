package ircd

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestMonitor follows one watcher through the IRCv3 MONITOR spec: status
// on adding, sign-on, nick changes, sign-off, removal, L, S and C.
func TestMonitor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	carol := ts.register("carol")
	w := ts.dial()
	burst := w.RegisterSASL("w", testPassword)
	if !regexp.MustCompile(` 005 w .*\bMONITOR=100\b`).MatchString(strings.Join(burst, "\n")) {
		t.Fatalf("ISUPPORT lacks MONITOR=100:\n%s", strings.Join(burst, "\n"))
	}

	w.Send("MONITOR + bob,Carol,*!x@y")
	w.Expect(` 730 w :?carol!~carol@127\.0\.0\.1$`)
	w.Expect(` 731 w :?bob$`)
	assertNone(t, "w", w.Sync(), ` 73[01] `) // the mask is no nick: not added, not answered

	bob := ts.register("bob")
	w.Expect(` 730 w :?bob!~bob@127\.0\.0\.1$`)

	w.Send("MONITOR L")
	w.Expect(` 732 w :?Carol,bob$`)
	w.Expect(` 733 w :End of MONITOR list$`)
	w.Send("MONITOR S")
	w.Expect(` 730 w :?carol!\S+,bob!\S+$`)

	bob.Send("NICK Bob")
	bob.Expect(`NICK :?Bob$`)
	bob.Sync()
	assertNone(t, "w", w.Sync(), ` 73[01] `) // a change of case is no news

	bob.Send("NICK robert")
	w.Expect(` 731 w :?Bob$`)
	w.Send("MONITOR + robert")
	w.Expect(` 730 w :?robert!~bob@`)
	bob.Send("NICK bob")
	w.Expect(` 731 w :?robert$`)
	w.Expect(` 730 w :?bob!~bob@`)

	w.Send("MONITOR - BOB,robert")
	w.Sync()
	bob.Send("QUIT :bye")
	bob.ExpectClosed()
	carol.Send("QUIT :bye")
	w.Expect(` 731 w :?carol$`) // sent after bob's quit, had it been announced
	w.Send("MONITOR L")
	_, before := w.ExpectAfter(` 733 `)
	assertNone(t, "w", before, ` 73[01] w :?bob`) // bob's quit was not announced
	if len(before) != 1 || !regexpMatch(` 732 w :?Carol$`, before[0]) {
		t.Fatalf("MONITOR L after removing bob and robert: %q, want Carol alone", before)
	}
	w.Send("MONITOR + x1,x2")
	w.Expect(` 731 w :?x1,x2$`)
	w.Send("MONITOR C")
	w.Send("MONITOR L")
	_, before = w.ExpectAfter(` 733 `)
	assertNone(t, "w", before, ` 732 `)

	w.Send("MONITOR +")
	w.Expect(` 461 w MONITOR `)
	w.Send("MONITOR X")
	w.Expect(`FAIL MONITOR INVALID_PARAMS X `)
}

// TestMonitorListFull checks the limit advertised as MONITOR=100: the
// nicks past it are refused with 734, nicks already listed do not count.
func TestMonitorListFull(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	w := ts.register("w")
	nicks := make([]string, 0, monitorLimit+2)
	for i := range monitorLimit + 2 {
		nicks = append(nicks, fmt.Sprintf("n%d", i))
	}
	w.Send("MONITOR + %s", strings.Join(nicks[:monitorLimit-1], ","))
	w.Sync()
	w.Send("MONITOR + n0,%s", strings.Join(nicks[monitorLimit-1:], ","))
	w.Expect(fmt.Sprintf(` 734 w %d n%d,n%d :Monitor list is full\.$`, monitorLimit, monitorLimit, monitorLimit+1))
	w.Expect(fmt.Sprintf(` 731 w :?n0,n%d$`, monitorLimit-1))
	w.Send("MONITOR L")
	_, lines := w.ExpectAfter(` 733 `)
	var listed []string
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, " 732 w "); ok {
			listed = append(listed, strings.Split(strings.TrimPrefix(rest, ":"), ",")...)
		}
	}
	if len(listed) != monitorLimit {
		t.Fatalf("MONITOR L lists %d nicks, want %d", len(listed), monitorLimit)
	}
}

// TestExtendedMonitor checks that AWAY and SETNAME reach a watcher that
// shares no channel only under extended-monitor (and the cap of the
// notification itself), and reach it once when it does share one.
func TestExtendedMonitor(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ext := ts.register("ext", "extended-monitor", "away-notify", "setname")
	plain := ts.register("plain", "away-notify", "setname")
	noAway := ts.register("noaway", "extended-monitor")
	bob := ts.register("bob")
	for _, w := range []*testClient{ext, plain, noAway} {
		w.Send("MONITOR + bob")
		w.Expect(` 730 `)
	}

	bob.Send("AWAY :afk")
	bob.Expect(` 306 `)
	ext.Expect(`^(@\S+ )?:bob!~bob@\S+ AWAY :?afk$`)
	bob.Send("SETNAME :Robert")
	ext.Expect(`^(@\S+ )?:bob!~bob@\S+ SETNAME :?Robert$`)
	bob.Sync()
	assertNone(t, "plain", plain.Sync(), ` (AWAY|SETNAME) `)   // without extended-monitor
	assertNone(t, "noaway", noAway.Sync(), ` (AWAY|SETNAME) `) // without away-notify or setname

	ext.Join("#c")
	bob.Join("#c")
	bob.Send("AWAY")
	bob.Expect(` 305 `)
	bob.Sync()
	lines := ext.Sync()
	n := 0
	for _, l := range lines {
		if strings.HasSuffix(l, " AWAY") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("a watcher sharing a channel got %d AWAY lines, want 1:\n%s", n, strings.Join(lines, "\n"))
	}
}

// TestMonitorForgetsWatcher checks that a watcher's list goes with it,
// so the index does not grow with every client that ever monitored.
func TestMonitorForgetsWatcher(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	gone := ts.register("gone")
	w := ts.register("w")
	gone.Send("MONITOR + someone")
	gone.Expect(` 731 `)
	w.Send("MONITOR + gone")
	w.Expect(` 730 `)
	gone.Send("QUIT")
	w.Expect(` 731 w :?gone$`) // announced after gone's list is dropped
	if left := ts.srv.monitors.watchersOf("someone"); len(left) != 0 {
		t.Fatalf("a client that quit still monitors someone: %v", left)
	}
}
