package ircd

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// artefactsDir is where browser tests write screenshots: the directory in
// SECURECHAT_ARTIFACTS if set (created if missing), else a temporary one.
// `SECURECHAT_ARTIFACTS=$PWD/docs go test -run TestWebClientTwoBrowsers
// ./ircd` regenerates the README's pictures.
func artefactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SECURECHAT_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot captures the viewport, checks that it is a PNG of width×height
// pixels, and writes it to dir/name.
func screenshot(t *testing.T, ctx context.Context, dir, name string, width, height int) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", name, err)
	}
	if cfg.Width != width || cfg.Height != height {
		t.Errorf("%s is %d×%d, want the viewport's %d×%d", name, cfg.Width, cfg.Height, width, height)
	}
	if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", filepath.Join(dir, name), len(shot))
}

// fillLogin fills in and submits the login page already shown.
func fillLogin(nick, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#login-nick")),
		chromedp.SendKeys(chromedp.CSS("#login-nick"), nick),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

// TestWebClientTwoBrowsers has two people in two browsers, one on a phone
// and one on a desktop, chat with each other and with an IRC client in
// the same channel; screenshots of both viewports go to the artefacts
// folder. Then the phone reloads the page, logs in again and finds the
// conversation in the replay, each line once.
func TestWebClientTwoBrowsers(t *testing.T) {
	t.Parallel()
	const (
		phoneW, phoneH     = 390, 844
		desktopW, desktopH = 1280, 800
	)
	l := newLobby(t)
	alice := l.alice
	dir := artefactsDir(t)
	alice.Send("TOPIC #lobby :Friday plans")
	alice.Expect(`TOPIC #lobby`)

	bob := newBrowser(t)
	carol := newBrowser(t)
	run(t, bob, chromedp.EmulateViewport(phoneW, phoneH, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	run(t, carol, chromedp.EmulateViewport(desktopW, desktopH))
	l.loginBob(t, bob)
	run(t, carol, login(l.url, "carol", testPassword), chromedp.WaitVisible(chromedp.CSS("#chat-page")))
	alice.Expect(`:carol!\S+ JOIN #lobby`)
	run(t, bob, waitFor(`document.querySelector("#members").textContent.includes("carol")`))
	run(t, carol, waitFor(`document.querySelector("#members").textContent.includes("bob")`))

	run(t, bob, say("carol, are you coming tonight?"))
	alice.Expect(`:bob!\S+ PRIVMSG #lobby :carol, are you coming tonight\?`)
	run(t, carol, waitMessage("carol, are you coming tonight?"), say("yes, see you at eight"))
	alice.Expect(`:carol!\S+ PRIVMSG #lobby :yes, see you at eight`)
	run(t, bob, waitMessage("yes, see you at eight"))
	alice.Send("PRIVMSG #lobby :I'll bring the cake")
	run(t, bob, waitMessage("I'll bring the cake"))
	run(t, carol, waitMessage("I'll bring the cake"))

	// No horizontal scrolling at either size.
	for _, b := range []struct {
		ctx  context.Context
		name string
	}{{bob, "phone"}, {carol, "desktop"}} {
		if wide := eval[bool](t, b.ctx, `document.documentElement.scrollWidth > document.documentElement.clientWidth`); wide {
			t.Errorf("the %s page scrolls sideways", b.name)
		}
	}
	screenshot(t, bob, dir, "webclient-phone.png", phoneW, phoneH)
	screenshot(t, carol, dir, "webclient-desktop.png", desktopW, desktopH)

	// A reload drops bob's connection and shows the login page again.
	run(t, bob, chromedp.Reload())
	alice.Expect(`:bob!\S+ QUIT `)
	run(t, bob, fillLogin("bob", testPassword), chromedp.WaitVisible(chromedp.CSS("#chat-page")))
	alice.Expect(`:bob!\S+ JOIN #lobby`)
	history := []string{"carol, are you coming tonight?", "yes, see you at eight", "I'll bring the cake"}
	for _, text := range history {
		run(t, bob, waitMessage(text))
	}
	for _, text := range history {
		if n := countShown(t, bob, text); n != 1 {
			t.Errorf("after the reload %q is shown %d times, want once", text, n)
		}
	}

	// And the conversation goes on.
	run(t, carol, say("welcome back"))
	run(t, bob, waitMessage("welcome back"))
	alice.Expect(`:carol!\S+ PRIVMSG #lobby :welcome back`)
}
