package main

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"securechat/ircd/irctest"
	"securechat/store/redistest"
)

const roomPassword = "e2e room password 42"

func passwordEnv(pw string) []string { return []string{"SECURECHAT_PASSWORD=" + pw} }

// TestSessionOverTLS is a whole chat over TLS against the binary: two
// clients log in with SASL PLAIN, join a channel and talk both ways, and a
// third one with the wrong password is turned away before 001.
func TestSessionOverTLS(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword)})

	alice, burst := d.register("alice", roomPassword)
	if !strings.Contains(strings.Join(burst, "\n"), " 001 alice :Welcome") {
		t.Errorf("welcome burst lacks 001 for alice:\n%s", strings.Join(burst, "\n"))
	}
	bob, _ := d.register("bob", roomPassword)
	alice.JoinAndSync("#e2e")
	bob.JoinAndSync("#e2e")
	alice.Expect(`^(@\S+ )?:bob!\S+ JOIN :?#e2e`)

	alice.Send("PRIVMSG #e2e :hello from alice")
	m := bob.Expect(`PRIVMSG #e2e :hello from alice$`)
	if m.Prefix == nil || m.Prefix.Name != "alice" {
		t.Errorf("message from %v, want alice", m.Prefix)
	}
	bob.Send("PRIVMSG #e2e :hi alice")
	m = alice.Expect(`PRIVMSG #e2e :hi alice$`)
	if m.Prefix.Name != "bob" {
		t.Errorf("message from %v, want bob", m.Prefix)
	}
	bob.Send("PRIVMSG alice :just you")
	alice.Expect(`^(@\S+ )?:bob!\S+ PRIVMSG alice :just you$`)
}

// TestWrongPassword checks that neither SASL nor PASS with a wrong
// password gets a client registered.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword)})

	t.Run("SASL", func(t *testing.T) {
		c := d.dialT(t)
		c.Nick = "mallory"
		c.Send("CAP LS 302")
		c.Send("NICK mallory")
		c.Send("USER mallory 0 * :m")
		c.Expect(`CAP \* LS`)
		c.Send("CAP REQ :sasl")
		c.Expect(`CAP \S+ ACK`)
		c.Send("AUTHENTICATE PLAIN")
		c.Expect(`AUTHENTICATE \+`)
		c.Send("AUTHENTICATE %s", irctest.SASLPlain("mallory", "not the password"))
		_, skipped := c.ExpectAfter(` 904 `)
		assertNoWelcome(t, skipped)
		// Ending negotiation without a successful login must not register.
		c.Send("CAP END")
		lines := c.ExpectClosed()
		assertNoWelcome(t, lines)
		if !containsMatch(lines, `^ERROR :`) {
			t.Errorf("no ERROR before the server hung up: %q", lines)
		}
	})
	t.Run("PASS", func(t *testing.T) {
		c := d.dialT(t)
		c.Nick = "eve"
		c.Send("PASS :not the password")
		c.Send("NICK eve")
		c.Send("USER eve 0 * :e")
		lines := c.ExpectClosed()
		assertNoWelcome(t, lines)
		if !containsMatch(lines, ` 464 `) || !containsMatch(lines, `^ERROR :.*Bad password`) {
			t.Errorf("want 464 and ERROR, got %q", lines)
		}
	})
	t.Run("no password", func(t *testing.T) {
		c := d.dialT(t)
		c.Send("NICK nopass")
		c.Send("USER nopass 0 * :n")
		lines := c.ExpectClosed()
		assertNoWelcome(t, lines)
		if !containsMatch(lines, ` 464 `) {
			t.Errorf("want 464, got %q", lines)
		}
	})
}

func assertNoWelcome(t *testing.T, lines []string) {
	t.Helper()
	if containsMatch(lines, `^(@\S+ )?:\S+ 00[1-5] `) {
		t.Fatalf("registered despite a wrong password: %q", lines)
	}
}

func containsMatch(lines []string, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

// TestPlaintextListenerWhenAsked checks --listen-plain on loopback opens a
// second, plaintext port where the same login works.
func TestPlaintextListenerWhenAsked(t *testing.T) {
	t.Parallel()
	// Not :0, which config rejects as equal to the TLS --listen=127.0.0.1:0.
	plain := net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--listen-plain=" + plain}})
	m := d.waitLog(regexp.MustCompile(`msg=listening addr=(\S+) tls=false`), 5*time.Second)
	ports := listeningPorts(t, d.cmd.Process.Pid)
	slices.Sort(ports)
	want := []int{portOf(t, d.addr), portOf(t, m[1])}
	slices.Sort(want)
	if !slices.Equal(ports, want) {
		t.Errorf("listening on %v, want TLS and plaintext ports %v", ports, want)
	}
	c := dialPlain(t, m[1])
	c.Send("PASS :%s", roomPassword)
	c.Send("NICK plain")
	c.Send("USER plain 0 * :p")
	c.Expect(` 001 plain `)
	c.Sync()
}
