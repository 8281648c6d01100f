package main

import (
	"bufio"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
	alice.join("#e2e")
	bob.join("#e2e")
	alice.expect(`^(@\S+ )?:bob!\S+ JOIN :?#e2e`)

	alice.send("PRIVMSG #e2e :hello from alice")
	m, _ := bob.expect(`PRIVMSG #e2e :hello from alice$`)
	if m.Prefix == nil || m.Prefix.Name != "alice" {
		t.Errorf("message from %v, want alice", m.Prefix)
	}
	bob.send("PRIVMSG #e2e :hi alice")
	m, _ = alice.expect(`PRIVMSG #e2e :hi alice$`)
	if m.Prefix.Name != "bob" {
		t.Errorf("message from %v, want bob", m.Prefix)
	}
	bob.send("PRIVMSG alice :just you")
	alice.expect(`^(@\S+ )?:bob!\S+ PRIVMSG alice :just you$`)
}

// TestWrongPassword checks that neither SASL nor PASS with a wrong
// password gets a client registered.
func TestWrongPassword(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword)})

	t.Run("SASL", func(t *testing.T) {
		c := d.dialT(t)
		c.nick = "mallory"
		c.send("CAP LS 302")
		c.send("NICK mallory")
		c.send("USER mallory 0 * :m")
		c.expect(`CAP \* LS`)
		c.send("CAP REQ :sasl")
		c.expect(`CAP \S+ ACK`)
		c.send("AUTHENTICATE PLAIN")
		c.expect(`AUTHENTICATE \+`)
		c.send("AUTHENTICATE %s", saslPlain("mallory", "not the password"))
		_, skipped := c.expect(` 904 `)
		assertNoWelcome(t, skipped)
		// Ending negotiation without a successful login must not register.
		c.send("CAP END")
		lines := c.readUntilClosed()
		assertNoWelcome(t, lines)
		if !containsMatch(lines, `^ERROR :`) {
			t.Errorf("no ERROR before the server hung up: %q", lines)
		}
	})
	t.Run("PASS", func(t *testing.T) {
		c := d.dialT(t)
		c.nick = "eve"
		c.send("PASS :not the password")
		c.send("NICK eve")
		c.send("USER eve 0 * :e")
		lines := c.readUntilClosed()
		assertNoWelcome(t, lines)
		if !containsMatch(lines, ` 464 `) || !containsMatch(lines, `^ERROR :.*Bad password`) {
			t.Errorf("want 464 and ERROR, got %q", lines)
		}
	})
	t.Run("no password", func(t *testing.T) {
		c := d.dialT(t)
		c.send("NICK nopass")
		c.send("USER nopass 0 * :n")
		lines := c.readUntilClosed()
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
	plain := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--listen-plain=" + plain}})
	m := d.waitLog(regexp.MustCompile(`msg=listening addr=(\S+) tls=false`), 5*time.Second)
	ports := listeningPorts(t, d.cmd.Process.Pid)
	slices.Sort(ports)
	want := []int{portOf(t, d.addr), portOf(t, m[1])}
	slices.Sort(want)
	if !slices.Equal(ports, want) {
		t.Errorf("listening on %v, want TLS and plaintext ports %v", ports, want)
	}
	nc, err := net.DialTimeout("tcp", m[1], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: bufio.NewReader(nc), nick: "plain"}
	c.send("PASS :%s", roomPassword)
	c.send("NICK plain")
	c.send("USER plain 0 * :p")
	c.expect(` 001 plain `)
	c.ping()
}
