package main

import (
	"crypto/tls"
	"regexp"
	"strings"
	"testing"
	"time"

	"securechat/ircd/irctest"
)

var webListeningRe = regexp.MustCompile(`msg=listening addr=(\S+) web=true`)

// TestSessionOverWebSocket runs the daemon with --web-listen and chats
// over WSS, as a browser would, with a client on the IRC TLS port: both
// ways, with the replay on JOIN, and a wrong password turned away.
func TestSessionOverWebSocket(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--web-listen=127.0.0.1:0"}})
	url := "wss://" + d.waitLog(webListeningRe, 10*time.Second)[1] + "/ws"
	ws := func(protos ...string) *irctest.Client {
		c, _ := irctest.DialWebSocket(t, url, irctest.WebSocketOptions{
			TLS: &tls.Config{InsecureSkipVerify: true}, Subprotocols: protos})
		return c
	}

	alice, _ := d.register("alice", roomPassword)
	alice.JoinAndSync("#web")
	alice.Send("PRIVMSG #web :said before bob came")

	bob := ws("text.ircv3.net")
	bob.RegisterSASL("bob", roomPassword)
	if replay := strings.Join(bob.JoinAndSync("#web"), "\n"); !strings.Contains(replay, "said before bob came") {
		t.Fatalf("no replay over WebSocket:\n%s", replay)
	}
	bob.Send("PRIVMSG #web :hello over wss")
	alice.Expect(`:bob!\S+ PRIVMSG #web :hello over wss$`)
	alice.Send("PRIVMSG #web :hello over tls")
	bob.Expect(`:alice!\S+ PRIVMSG #web :hello over tls$`)

	carol := ws("binary.ircv3.net")
	carol.RegisterPass("carol", roomPassword)
	carol.Send("PRIVMSG bob :binary works")
	bob.Expect(`:carol!\S+ PRIVMSG bob :binary works$`)

	eve := ws()
	eve.Send("PASS :wrong")
	eve.Send("NICK eve")
	eve.Send("USER eve 0 * :Eve")
	if all := strings.Join(eve.ExpectClosed(), "\n"); !strings.Contains(all, " 464 ") || strings.Contains(all, " 001 ") {
		t.Fatalf("wrong password over WebSocket: want 464 and no welcome, got:\n%s", all)
	}
}
