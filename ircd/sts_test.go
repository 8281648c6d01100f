package ircd

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"securechat/ircd/irctest"
)

// TestSTSPolicy checks the IRCv3 sts capability: offered only when a
// plaintext listener exists, pointing plaintext clients at the TLS port
// and telling TLS clients how long to insist on TLS.
func TestSTSPolicy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tlsClient := ts.dial()
	tlsClient.Send("CAP LS 302")
	if ls := tlsClient.Expect(`CAP \* LS`); strings.Contains(ls.Trailing(), "sts") {
		t.Fatalf("sts offered without a plaintext listener: %q", ls.Trailing())
	}

	ln := loopbackListener(t)
	ts.srv.Start(ln, false)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	plain := irctest.NewClient(t, raw)
	plain.Nick = "plain"
	plain.Send("CAP LS 302")
	_, tlsPort, _ := net.SplitHostPort(ts.addr)
	if ls := plain.Expect(`CAP \* LS`); !strings.Contains(ls.Trailing(), "sts=port="+tlsPort) {
		t.Fatalf("plaintext CAP LS = %q, want sts=port=%s", ls.Trailing(), tlsPort)
	}
	plain.Send("CAP REQ :sts")
	plain.Expect(`CAP \* NAK :?sts`)

	tlsClient.Send("CAP LS 302")
	want := "sts=duration=" + strconv.Itoa(int(stsDuration.Seconds()))
	if ls := tlsClient.Expect(`CAP \* LS`); !strings.Contains(ls.Trailing(), want) {
		t.Fatalf("TLS CAP LS = %q, want %s", ls.Trailing(), want)
	}
}
