package irctest

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeServer answers the few commands the helpers send, on a loopback
// connection (buffered, unlike net.Pipe), and hangs up on QUIT.
func fakeServer(t *testing.T) *Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer srv.Close()
		r := bufio.NewReader(srv)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			var out []string
			switch f[0] {
			case "PING":
				out = []string{":irc.test PONG irc.test :" + f[1]}
			case "JOIN":
				out = []string{":a!a@h JOIN " + f[1], ":irc.test 353 a = " + f[1] + " :a", ":irc.test 366 a " + f[1] + " :End", ":b!b@h PRIVMSG " + f[1] + " :replayed"}
			case "QUIT":
				fmt.Fprint(srv, "ERROR :bye\r\nERROR :parti")
				return
			}
			for _, o := range out {
				fmt.Fprint(srv, o+"\r\n")
			}
		}
	}()
	return NewClient(t, cli)
}

func TestTranscript(t *testing.T) {
	t.Parallel()
	c := fakeServer(t)
	c.Nick = "a"
	joined := c.Join("#c")
	if want := []string{":a!a@h JOIN #c", ":irc.test 353 a = #c :a", ":irc.test 366 a #c :End"}; !slices.Equal(joined, want) {
		t.Errorf("Join = %q, want %q", joined, want)
	}
	if got := c.Sync(); !slices.Equal(got, []string{":b!b@h PRIVMSG #c :replayed"}) {
		t.Errorf("Sync = %q, want the replayed line", got)
	}
	if got := c.JoinAndSync("#d"); len(got) != 4 || !strings.HasSuffix(got[3], ":replayed") {
		t.Errorf("JoinAndSync = %q, want echo, names, end and replay", got)
	}
	c.Send("JOIN #e")
	m, skipped := c.ExpectAfter(` 366 `)
	if m.Command != "366" || m.Params[1] != "#e" || len(skipped) != 2 {
		t.Errorf("ExpectAfter = %v after %q", m, skipped)
	}
	c.Quiet(`NOTHING`, 20*time.Millisecond) // reads past the replayed line
	c.Send("QUIT")
	if got := c.ExpectClosed(); !slices.Equal(got, []string{"ERROR :bye", "ERROR :parti"}) {
		t.Errorf("ExpectClosed = %q", got)
	}
}

func TestSASLPlain(t *testing.T) {
	t.Parallel()
	if got, want := SASLPlain("alice", "pw"), "AGFsaWNlAHB3"; got != want {
		t.Errorf("SASLPlain = %q, want %q", got, want)
	}
}
