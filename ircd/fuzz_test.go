package ircd

import (
	"bytes"
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

// twoHalves delivers data in two reads split at cut, as a socket might,
// never returning more than the caller's buffer holds.
type twoHalves struct {
	parts [][]byte
}

func (r *twoHalves) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// expectedLines is the line reader's contract written out plainly: every
// LF-terminated segment is one result; a segment longer than the read
// buffer, or whose tags or body break the limits, is errLineTooLong; an
// unterminated tail is never returned.
func expectedLines(data []byte) []string {
	var out []string
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out
		}
		seg := data[:i+1]
		data = data[i+1:]
		line := bytes.TrimRight(seg, "\r\n")
		if len(seg) > readBufSize || !lineFitsSpec(line) {
			out = append(out, "<too long>")
			continue
		}
		out = append(out, string(line))
	}
}

// lineFitsSpec restates the message-tags limits independently of
// withinLimits: at most 8191 bytes of tags including '@' and the space,
// and 510 bytes of body (512 with the CRLF).
func lineFitsSpec(line []byte) bool {
	if len(line) > 0 && line[0] == '@' {
		tags, body, found := bytes.Cut(line, []byte(" "))
		if !found {
			return len(line) <= maxTagBytes
		}
		return len(tags)+1 <= 8191 && len(body) <= 510
	}
	return len(line) <= 510
}

func FuzzLineReader(f *testing.F) {
	seeds := []string{
		"PING a\r\n",
		"PING a\nPING b\r\nPING c",
		"PRIVMSG #x :a\rPRIVMSG #x :evil\r\n",
		"@+t=v PRIVMSG #x :hi\r\n",
		"@a \r\n",
		"\r\n\r\n\n\n",
		"PRIVMSG #x :" + strings.Repeat("x", 497) + "\r\n",
		"PRIVMSG #x :" + strings.Repeat("x", 498) + "\r\nPING after\r\n",
		"@" + strings.Repeat("t", 8189) + " PING x\r\nPING after\r\n",
		"@" + strings.Repeat("t", 8190) + " PING x\r\nPING after\r\n",
		strings.Repeat("y", readBufSize+100) + "\nPING after\r\n",
		strings.Repeat("z", readBufSize-1) + "\n",
		"NICK a\x00b\r\n",
		"\xff\xfe\r\n",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		k := int(cut) % (len(data) + 1)
		lr := newLineReader(&twoHalves{parts: [][]byte{data[:k:k], data[k:]}})
		var got []string
		for {
			line, err := lr.next()
			if errors.Is(err, errLineTooLong) {
				got = append(got, "<too long>")
				continue
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if !withinLimits(line) || !lineFitsSpec(line) {
				t.Fatalf("line over the limits returned: %d bytes", len(line))
			}
			if bytes.IndexByte(line, '\n') >= 0 || bytes.HasSuffix(line, []byte("\r")) {
				t.Fatalf("line keeps its terminator: %q", line)
			}
			// A CR inside a line reaches handleLine, which must refuse it
			// before it is parsed, so it can never be relayed.
			if bytes.IndexByte(line, '\r') >= 0 && func() bool { code, _ := lineProblem(line); return code == "" }() {
				t.Fatalf("line with a CR would be dispatched: %q", line)
			}
			if m, err := wire.Parse(line); err == nil && m.Command == "" {
				t.Fatalf("parsed a line without a command: %q", line)
			}
			got = append(got, string(line))
		}
		want := expectedLines(data)
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d (cut %d)", len(got), len(want), k)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("line %d = %q, want %q (cut %d)", i, got[i], want[i], k)
			}
		}
	})
}

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
