package ircd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"securechat/config"
	"securechat/ircd/wire"
)

// panicCounter is a slog handler that counts records reporting a handler
// panic or an internal command failure; everything else is dropped.
type panicCounter struct{ n atomic.Int64 }

func (h *panicCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *panicCounter) Handle(_ context.Context, r slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCounter) WithGroup(string) slog.Handler      { return h }

// settleGoroutines waits until at most want goroutines run, and returns
// the count it saw last.
func settleGoroutines(want int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fuzzing reports whether go test runs with -fuzz rather than over the
// seed corpus only.
func fuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}

// fuzzLines splits fuzz input into at most 64 lines for one client. OPER is
// left out: each attempt is paced to one per two seconds by design.
func fuzzLines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if len(out) == 64 {
			break
		}
		if m, err := wire.Parse([]byte(strings.TrimRight(l, "\r"))); err == nil && m.Command == "OPER" {
			continue
		}
		out = append(out, l)
	}
	return out
}

// FuzzSession sends arbitrary lines from a registered client in a channel
// next to two normal clients on one real server: no panic, no goroutine
// left behind once the fuzz client is gone, and the normal clients still
// get their PONG and each other's messages.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add([]byte(s))
	}
	before := runtime.NumGoroutine()
	panics := &panicCounter{}
	ts := newTestServer(f, withLog(panics), withConfig(func(cfg *config.Config) {
		// Failed OPER and AUTHENTICATE attempts would otherwise grow the
		// per-address delay across inputs.
		cfg.FloodExempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	f.Cleanup(func() {
		ts.shutdown()
		// While fuzzing, the engine runs goroutines of its own; each input
		// is checked on its own below.
		if fuzzing() {
			return
		}
		if n := settleGoroutines(before, 5*time.Second); n > before {
			f.Errorf("%d goroutines after shutdown, %d before the server started", n, before)
		}
	})
	alice := ts.registerPass("alice")
	bob := ts.registerPass("bob")
	alice.Join("#fuzz")
	bob.Join("#fuzz")
	bob.Sync()
	alice.Sync()
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, data []byte) {
		n := seq.Add(1)
		idle := runtime.NumGoroutine()
		tts := *ts
		tts.t = t
		a, b := testClient{alice.WithT(t)}, testClient{bob.WithT(t)}
		fz := tts.registerPass(fmt.Sprintf("fz%d", n))
		fz.Join("#fuzz")
		for _, l := range fuzzLines(data) {
			_ = fz.Conn().SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(fz.Conn(), l+"\n"); err != nil {
				break // the server hung up (QUIT, ERROR): fine
			}
		}
		_, _ = io.WriteString(fz.Conn(), "\r\nPING :fuzzdone\r\n")
		drainUntil(fz, "fuzzdone")
		_ = fz.Conn().Close()
		if p := panics.n.Load(); p > 0 {
			t.Fatalf("%d errors logged (handler panic or internal error) for input %q", p, data)
		}
		tok := fmt.Sprintf("check%d", n)
		b.Send("PRIVMSG #fuzz :%s", tok)
		a.Expect(`^:bob!\S+ PRIVMSG #fuzz :?` + tok + `$`)
		a.Sync()
		b.Sync()
		if g := settleGoroutines(idle, 5*time.Second); g > idle {
			t.Fatalf("%d goroutines after the fuzz client left, %d before", g, idle)
		}
	})
}

// drainUntil reads the fuzz client's replies until the PONG for token or
// until the server closes the connection.
func drainUntil(c *testClient, token string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		line, err := c.ReadLine(time.Until(deadline))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.T().Fatalf("fuzz client got neither PONG nor a hang-up")
			}
			return
		}
		if strings.HasPrefix(line, "PONG ") || strings.Contains(line, " PONG ") {
			if strings.HasSuffix(line, token) {
				return
			}
		}
	}
	c.T().Fatalf("fuzz client got neither PONG nor a hang-up")
}

// sessionSeeds are lines worth starting from: odd parameters, tags, CTCP,
// CAP and AUTHENTICATE sequences, long and malformed lines.
var sessionSeeds = []string{
	"PRIVMSG #fuzz :hello",
	"PRIVMSG #fuzz :\x01ACTION waves\x01\nPRIVMSG alice :\x01VERSION\x01",
	"@+draft/react=x;+typing=active TAGMSG #fuzz\n@label=1;+a=b\\:c\\sd\\\\ PRIVMSG #fuzz :tags",
	"@a \n@ \n@\n:\n: PING\n:prefix\n@a :p \n",
	"CAP LS 302\nCAP REQ :message-tags echo-message labeled-response batch\nCAP LIST\nCAP END\nCAP REQ :-cap-notify bogus",
	"AUTHENTICATE PLAIN\nAUTHENTICATE *\nAUTHENTICATE +\nPASS x\nUSER a b c d",
	"JOIN\nJOIN #a,#b,,#c key1,key2\nJOIN 0\nPART #fuzz,#nope :bye\nJOIN #fuzz",
	"MODE #fuzz +kl-b+o key 5 *!*@* alice\nMODE #fuzz\nMODE fz1 +iw\nMODE #fuzz +bbbbbbbb a b c d e f g h",
	"TOPIC #fuzz :new\nKICK #fuzz alice,bob :x\nINVITE alice #fuzz\nINVITE x #y",
	"NICK alice\nNICK 0bad\nNICK fzz\nWHOIS fzz\nWHOWAS alice\nWHO #fuzz %tcuhnfar,42\nUSERHOST a b c\nISON alice bob",
	"CHATHISTORY LATEST #fuzz * 10\nCHATHISTORY BEFORE #fuzz msgid=x 5\nCHATHISTORY TARGETS timestamp=2020-01-01T00:00:00.000Z timestamp=2030-01-01T00:00:00.000Z 5\nCHATHISTORY AROUND #fuzz timestamp=bogus 9999999999",
	"PRIVMSG #fuzz :a\rPRIVMSG #fuzz :evil\nPRIVMSG #fuzz :a\x00b\nPRIVMSG #fuzz :\xff\xfe",
	"PRIVMSG a,b,c,d,e,f,g :too many\nPRIVMSG , :x\nPRIVMSG #fuzz :\nNOTICE #fuzz :n\nNOTICE nobody :x",
	"PRIVMSG #fuzz :" + strings.Repeat("long ", 120),
	"@" + strings.Repeat("+t=v;", 1000) + " PRIVMSG #fuzz :many tags",
	"AWAY :gone\nAWAY\nSETNAME :new name\nLIST\nLIST >1\nNAMES\nNAMES #fuzz,#x\nMOTD\nLUSERS\nVERSION\nTIME",
	"KILL alice :x\nREHASH\nFOO bar\n123 456\nPING\nPONG\nQUIT :bye\nPRIVMSG #fuzz :after quit",
}
