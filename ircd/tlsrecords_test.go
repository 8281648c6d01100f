package ircd

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordCounter counts the TLS records a client receives, reading their
// 5-byte headers as the bytes pass.
type recordCounter struct {
	net.Conn
	mu      sync.Mutex
	records int
	left    int // bytes of the current record still to pass
	header  []byte
}

func (r *recordCounter) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range b[:n] {
		if r.left > 0 {
			r.left--
			continue
		}
		r.header = append(r.header, c)
		if len(r.header) == 5 {
			r.records++
			r.left = int(r.header[3])<<8 | int(r.header[4])
			r.header = r.header[:0]
		}
	}
	return n, err
}

func (r *recordCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records
}

// TestWelcomeBurstInOneRecord registers over TLS in one write and counts
// the records the replies arrive in: the whole burst fits one record.
func TestWelcomeBurstInOneRecord(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	raw, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	rc := &recordCounter{Conn: raw}
	tc := tls.Client(rc, ts.tlsConf)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	// The session tickets come in the server's last handshake flight,
	// read with its Finished message.
	r := bufio.NewReader(tc)
	before := rc.count()
	if _, err := tc.Write([]byte("PASS :" + testPassword + "\r\nNICK one\r\nUSER one 0 * :One\r\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, r, " 376 one ", " 422 one ")
	if got := rc.count() - before; got != 1 {
		t.Fatalf("the welcome burst came in %d TLS records, want 1", got)
	}
}

// readUntil reads lines from r until one contains any of want.
func readUntil(t *testing.T, r *bufio.Reader, want ...string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		for _, w := range want {
			if strings.Contains(line, w) {
				return
			}
		}
	}
}
