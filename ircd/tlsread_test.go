package ircd

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"securechat/config"
)

// heldConn collects a client's TLS records and sends them in one write on
// flush, so they reach the server together and crypto/tls reads them from
// the socket in one go.
type heldConn struct {
	net.Conn
	held bytes.Buffer
	hold bool
}

func (h *heldConn) Write(b []byte) (int, error) {
	if h.hold {
		return h.held.Write(b)
	}
	return h.Conn.Write(b)
}

func (h *heldConn) flush() error {
	h.hold = false
	_, err := h.Conn.Write(h.held.Bytes())
	return err
}

// tlsPair returns the server side of a real TLS connection over loopback
// TCP, read through newConnReader, and the client's side, which offers at
// most maxVersion.
func tlsPair(t *testing.T, maxVersion uint16) (*tlsReader, *tls.Conn, *heldConn) {
	t.Helper()
	certs, err := config.NewCertificates(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	srvRaw, raw := tcpPair(t, loopbackListener(t))
	held := &heldConn{Conn: raw}
	client := tls.Client(held, &tls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion})
	srv := tls.Server(newPollConn(srvRaw), certs.TLSConfig())
	t.Cleanup(func() { _ = client.Close(); _ = srv.Close() })
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	in, ok := newConnReader(srv).(*tlsReader)
	if !ok {
		t.Fatalf("newConnReader on TLS over TCP = %T, want *tlsReader", newConnReader(srv))
	}
	if err := srv.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return in, client, held
}

// readAll reads from in with buf-sized reads until it has n bytes.
func readAll(t *testing.T, in io.Reader, n, buf int) string {
	t.Helper()
	var got []byte
	b := make([]byte, buf)
	for len(got) < n {
		m, err := in.Read(b)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), n, err)
		}
		got = append(got, b[:m]...)
	}
	return string(got)
}

// Two records that arrive in one segment: crypto/tls reads both from the
// socket with the first, so the second must come from its buffer, not from
// a wait on a socket that has nothing more.
func TestTLSReaderReturnsRecordsAlreadyRead(t *testing.T) {
	in, client, held := tlsPair(t, tls.VersionTLS13)
	held.hold = true
	for _, l := range []string{"PING :a\r\n", "PING :b\r\n", "PING :c\r\n"} {
		if _, err := client.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := held.flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, in, 27, 512), "PING :a\r\nPING :b\r\nPING :c\r\n"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

// A record larger than the reader's buffer is handed out over several
// reads from crypto/tls's decrypted buffer.
func TestTLSReaderReturnsRestOfLargeRecord(t *testing.T) {
	in, client, _ := tlsPair(t, tls.VersionTLS13)
	line := "PRIVMSG #c :" + strings.Repeat("x", 3000) + "\r\n"
	if _, err := client.Write([]byte(line)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, in, len(line), 100); got != line {
		t.Errorf("read %d bytes, want the %d-byte line", len(got), len(line))
	}
}

func TestTLSReaderWaitsForLaterData(t *testing.T) {
	in, client, _ := tlsPair(t, tls.VersionTLS13)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = client.Write([]byte("PING :late\r\n"))
	}()
	if got := readAll(t, in, 12, 512); got != "PING :late\r\n" {
		t.Errorf("read %q", got)
	}
}

func TestTLSReaderDeadlines(t *testing.T) {
	in, _, _ := tlsPair(t, tls.VersionTLS13)
	b := make([]byte, 512)

	_ = in.tc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := in.Read(b); !isTimeout(err) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}

	// disconnect wakes a parked reader by moving its deadline to now.
	_ = in.tc.SetReadDeadline(time.Now().Add(time.Minute))
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = in.tc.SetReadDeadline(time.Now())
	}()
	if _, err := in.Read(b); !isTimeout(err) {
		t.Fatalf("read after another goroutine's deadline: %v, want a timeout", err)
	}
}

// A slow client is cut off by closing its socket from another goroutine
// (afterPush); the parked reader must see that at once.
func TestTLSReaderSocketClosed(t *testing.T) {
	in, _, _ := tlsPair(t, tls.VersionTLS13)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = in.pc.Conn.Close() // the TCP connection, as afterPush closes c.raw
	}()
	if _, err := in.Read(make([]byte, 512)); err == nil || isTimeout(err) {
		t.Errorf("read after the socket was closed: %v, want a closed-connection error", err)
	}
}

// After a record's data crypto/tls looks ahead for a close_notify alert,
// which only TLS 1.2 shows unencrypted; when only part of that record has
// arrived, the data must come back without an error, and the alert as the
// end of the stream once complete.
func TestTLSReaderDataBeforePartialAlert(t *testing.T) {
	in, client, held := tlsPair(t, tls.VersionTLS12)
	held.hold = true
	if _, err := client.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := client.CloseWrite(); err != nil { // queues close_notify behind the data
		t.Fatal(err)
	}
	_ = held.Conn.SetWriteDeadline(time.Time{}) // CloseWrite left it expired
	recs := held.held.Bytes()
	first := 5 + (int(recs[3])<<8 | int(recs[4]))
	if _, err := held.Conn.Write(recs[:first+3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // both parts are in the socket
	b := make([]byte, 512)
	if n, err := in.Read(b); string(b[:n]) != "QUIT\r\n" || err != nil {
		t.Fatalf("read = %q, %v; want the line and no error", b[:n], err)
	}
	if _, err := held.Conn.Write(recs[first+3:]); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Read(b); err != io.EOF {
		t.Errorf("read after close_notify: %v, want EOF", err)
	}
}

func TestTLSReaderEndOfStream(t *testing.T) {
	in, client, _ := tlsPair(t, tls.VersionTLS13)
	if _, err := client.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = client.Close()
	if got := readAll(t, in, 6, 512); got != "QUIT\r\n" {
		t.Errorf("read %q", got)
	}
	if _, err := in.Read(make([]byte, 512)); err == nil || isTimeout(err) {
		t.Errorf("read after the client closed: %v, want end of stream", err)
	}
}
