package ircd

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestSTSPolicy checks the IRCv3 sts capability: offered only when a
// plaintext listener exists, pointing plaintext clients at the TLS port
// and telling TLS clients how long to insist on TLS.
func TestSTSPolicy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tlsClient := ts.dial()
	tlsClient.send("CAP LS 302")
	if ls := tlsClient.expect(`CAP \* LS`); strings.Contains(ls.Trailing(), "sts") {
		t.Fatalf("sts offered without a plaintext listener: %q", ls.Trailing())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.srv.Start(ln, false)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	plain := &testClient{t: t, nc: raw, r: bufio.NewReader(raw), nick: "plain"}
	plain.send("CAP LS 302")
	_, tlsPort, _ := net.SplitHostPort(ts.addr)
	if ls := plain.expect(`CAP \* LS`); !strings.Contains(ls.Trailing(), "sts=port="+tlsPort) {
		t.Fatalf("plaintext CAP LS = %q, want sts=port=%s", ls.Trailing(), tlsPort)
	}
	plain.send("CAP REQ :sts")
	plain.expect(`CAP \* NAK :?sts`)

	tlsClient.send("CAP LS 302")
	want := "sts=duration=" + strconv.Itoa(int(stsDuration.Seconds()))
	if ls := tlsClient.expect(`CAP \* LS`); !strings.Contains(ls.Trailing(), want) {
		t.Fatalf("TLS CAP LS = %q, want %s", ls.Trailing(), want)
	}
}
