package push_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"securechat/ircd/push"
	"securechat/ircd/push/pushtest"
)

const line = "@msgid=01JD4S8VQ4;time=2026-12-03T09:00:00.000Z :alice!a@host PRIVMSG bob :meet me at the hidden door"

// TestSendDecrypts is a push as a phone gets it: the loopback push
// service sees a VAPID-signed request whose body only the subscriber's
// private key opens, and inside is the exact IRC line.
func TestSendDecrypts(t *testing.T) {
	t.Parallel()
	key := newVAPIDKey(t)
	ps := pushtest.NewService(t, http.StatusCreated)
	sub := pushtest.NewSubscriber(t, ps.Endpoint())
	s := newSender(t, key, push.Config{TTL: time.Hour})

	if err := s.Send(t.Context(), sub.Sub, []byte(line), push.UrgencyHigh); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ps.Next(t)
	if !strings.HasSuffix(sub.Sub.Endpoint, got.Path) {
		t.Errorf("posted to %s, want the endpoint %s", got.Path, sub.Sub.Endpoint)
	}
	for h, want := range map[string]string{
		"Content-Encoding": "aes128gcm",
		"Content-Type":     "application/octet-stream",
		"TTL":              "3600",
		"Urgency":          "high",
	} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	claims, err := pushtest.CheckVAPID(got.Header.Get("Authorization"), key.Public(), ps.Srv.URL)
	if err != nil {
		t.Errorf("VAPID: %v", err)
	}
	if claims.Sub != "mailto:ops@example.com" {
		t.Errorf("sub claim %q, want mailto:ops@example.com", claims.Sub)
	}
	plain, err := sub.Decrypt(got.Body)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if string(plain) != line {
		t.Errorf("decrypted %q, want %q", plain, line)
	}
	checkOpaque(t, got.Body, line)
	if st := s.Stats(); st.Sent != 1 || st.Failed != 0 {
		t.Errorf("stats %+v, want one sent", st)
	}
}

// checkOpaque fails if any word of the line, or its msgid, shows in body.
func checkOpaque(t *testing.T, body []byte, line string) {
	t.Helper()
	for _, w := range strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(" :;=@!", r) }) {
		if len(w) >= 4 && bytes.Contains(body, []byte(w)) {
			t.Errorf("push body holds %q in the clear", w)
		}
	}
}

// TestSendPadsToOneSize checks every body is the same size, so its length
// does not tell the push service how long the line was.
func TestSendPadsToOneSize(t *testing.T) {
	t.Parallel()
	key := newVAPIDKey(t)
	ps := pushtest.NewService(t, http.StatusCreated)
	sub := pushtest.NewSubscriber(t, ps.Endpoint())
	s := newSender(t, key, push.Config{})
	for _, payload := range []string{"PING x", line, strings.Repeat("x", push.MaxPayload)} {
		if err := s.Send(t.Context(), sub.Sub, []byte(payload), ""); err != nil {
			t.Fatalf("Send %d bytes: %v", len(payload), err)
		}
		got := ps.Next(t)
		if len(got.Body) != 2048 {
			t.Errorf("%d-byte line: body of %d bytes, want 2048", len(payload), len(got.Body))
		}
		if plain, err := sub.Decrypt(got.Body); err != nil || string(plain) != payload {
			t.Errorf("%d-byte line: decrypted %d bytes, %v", len(payload), len(plain), err)
		}
		if u := got.Header.Get("Urgency"); u != "normal" {
			t.Errorf("default urgency %q, want normal", u)
		}
	}
	big := make([]byte, push.MaxPayload+1)
	if err := s.Send(t.Context(), sub.Sub, big, ""); !errors.Is(err, push.ErrTooLarge) {
		t.Errorf("Send of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if err := s.Push(sub.Sub, big, ""); !errors.Is(err, push.ErrTooLarge) {
		t.Errorf("Push of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	ps.None(t)
}

// TestSendLeavesCallerBuffer checks that encrypting a line taken from a
// larger buffer writes nothing past it: webpush-go pads in place.
func TestSendLeavesCallerBuffer(t *testing.T) {
	t.Parallel()
	ps := pushtest.NewService(t, http.StatusCreated)
	sub := pushtest.NewSubscriber(t, ps.Endpoint())
	s := newSender(t, newVAPIDKey(t), push.Config{})
	buf := []byte(line + "\r\nNEXT LINE")
	if err := s.Send(t.Context(), sub.Sub, buf[:len(line)], ""); err != nil {
		t.Fatal(err)
	}
	ps.Next(t)
	if string(buf) != line+"\r\nNEXT LINE" {
		t.Errorf("caller's buffer became %q", buf)
	}
}

// TestSendStatus maps push service answers to errors: 404 and 410 mean
// the subscription is gone, anything else not 2xx is a plain failure.
func TestSendStatus(t *testing.T) {
	t.Parallel()
	key := newVAPIDKey(t)
	for _, tc := range []struct {
		name   string
		status int
		gone   bool
		ok     bool
	}{
		{"created", http.StatusCreated, false, true},
		{"gone", http.StatusGone, true, false},
		{"not found", http.StatusNotFound, true, false},
		{"too many requests", http.StatusTooManyRequests, false, false},
		{"server error", http.StatusInternalServerError, false, false},
		{"redirect is not followed", http.StatusTemporaryRedirect, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ps := pushtest.NewService(t, tc.status)
			sub := pushtest.NewSubscriber(t, ps.Endpoint())
			s := newSender(t, key, push.Config{})
			err := s.Send(t.Context(), sub.Sub, []byte(line), "")
			if (err == nil) != tc.ok || errors.Is(err, push.ErrGone) != tc.gone {
				t.Fatalf("status %d: err %v, want ok=%v gone=%v", tc.status, err, tc.ok, tc.gone)
			}
			if err != nil && strings.Contains(err.Error(), sub.Sub.Endpoint) {
				t.Errorf("error quotes the endpoint: %v", err)
			}
			want := push.Stats{Failed: 1}
			switch {
			case tc.ok:
				want = push.Stats{Sent: 1}
			case tc.gone:
				want = push.Stats{Gone: 1}
			}
			if st := s.Stats(); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			ps.Next(t)
			ps.None(t) // a redirect was not followed
		})
	}
}

// TestPushGone is the asynchronous path a server uses: a push to a 410
// endpoint reports ErrGone to Done, which is where the caller
// unsubscribes, while a push to a live endpoint reports success.
func TestPushGone(t *testing.T) {
	t.Parallel()
	live, dead := pushtest.NewService(t, http.StatusCreated), pushtest.NewService(t, http.StatusGone)
	liveSub, deadSub := pushtest.NewSubscriber(t, live.Endpoint()), pushtest.NewSubscriber(t, dead.Endpoint())
	outcome := map[string]chan error{liveSub.Sub.Endpoint: make(chan error, 1), deadSub.Sub.Endpoint: make(chan error, 1)}
	s := newSender(t, newVAPIDKey(t), push.Config{Done: func(sub push.Subscription, err error) {
		outcome[sub.Endpoint] <- err
	}})
	for _, sub := range []*pushtest.Subscriber{liveSub, deadSub} {
		if err := s.Push(sub.Sub, []byte(line), push.UrgencyHigh); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	if err := wait(t, outcome[liveSub.Sub.Endpoint]); err != nil {
		t.Errorf("live endpoint: %v", err)
	}
	if err := wait(t, outcome[deadSub.Sub.Endpoint]); !errors.Is(err, push.ErrGone) {
		t.Errorf("410 endpoint: %v, want ErrGone", err)
	}
	if plain, err := liveSub.Decrypt(live.Next(t).Body); err != nil || string(plain) != line {
		t.Errorf("live endpoint decrypted %q, %v", plain, err)
	}
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a push's outcome")
		var zero T
		return zero
	}
}

// fakeClock is a rate-limit clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestPushRateLimit checks the per-subscription token bucket: a burst
// goes through, the excess is dropped and counted, time earns one more,
// and another subscription is not held back.
func TestPushRateLimit(t *testing.T) {
	t.Parallel()
	ps := pushtest.NewService(t, http.StatusCreated)
	a, b := pushtest.NewSubscriber(t, ps.Endpoint()), pushtest.NewSubscriber(t, ps.Endpoint())
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	done := make(chan error, 16)
	s := newSender(t, newVAPIDKey(t), push.Config{
		Burst: 3, Interval: 10 * time.Second, Now: clock.Now,
		Done: func(_ push.Subscription, err error) { done <- err },
	})
	var queued, limited int
	for range 5 {
		switch err := s.Push(a.Sub, []byte(line), ""); {
		case err == nil:
			queued++
		case errors.Is(err, push.ErrRateLimited):
			limited++
		default:
			t.Fatalf("Push: %v", err)
		}
	}
	if queued != 3 || limited != 2 {
		t.Errorf("of 5 pushes %d queued and %d limited, want 3 and 2", queued, limited)
	}
	if err := s.Push(b.Sub, []byte(line), ""); err != nil {
		t.Errorf("another subscription was limited: %v", err)
	}
	clock.Add(9 * time.Second)
	if err := s.Push(a.Sub, []byte(line), ""); !errors.Is(err, push.ErrRateLimited) {
		t.Errorf("9 s later: %v, want ErrRateLimited", err)
	}
	clock.Add(time.Second)
	if err := s.Push(a.Sub, []byte(line), ""); err != nil {
		t.Errorf("10 s later: %v, want one more push", err)
	}
	for range 5 {
		if err := wait(t, done); err != nil {
			t.Errorf("queued push: %v", err)
		}
		ps.Next(t)
	}
	ps.None(t)
	if st := s.Stats(); st.RateLimited != 3 || st.Sent != 5 {
		t.Errorf("stats %+v, want 3 limited and 5 sent", st)
	}
}

// TestPushQueueFull checks that Push never waits: with the one worker
// stuck on a slow push service and the queue full, the next push is
// dropped and counted.
func TestPushQueueFull(t *testing.T) {
	t.Parallel()
	ps, sub, s := stalled(t, push.Config{Workers: 1, QueueSize: 1, Burst: 10})
	if err := s.Push(sub.Sub, []byte(line), ""); err != nil {
		t.Fatal(err)
	}
	ps.Next(t) // the worker is now waiting on the push service
	if err := s.Push(sub.Sub, []byte(line), ""); err != nil {
		t.Fatalf("second push should wait in the queue: %v", err)
	}
	if err := s.Push(sub.Sub, []byte(line), ""); !errors.Is(err, push.ErrQueueFull) {
		t.Fatalf("third push: %v, want ErrQueueFull", err)
	}
	if st := s.Stats(); st.QueueFull != 1 {
		t.Errorf("stats %+v, want one dropped for a full queue", st)
	}
}

// TestSendTimeout checks a push service that never answers costs one
// timeout, not a stuck worker.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	_, sub, s := stalled(t, push.Config{Timeout: 200 * time.Millisecond})
	err := s.Send(context.Background(), sub.Sub, []byte(line), "")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Send to a silent push service: %v, want a timeout", err)
	}
	if strings.Contains(err.Error(), "/push/") {
		t.Errorf("error quotes the endpoint: %v", err)
	}
}

// TestSendRefused checks a push service that is down is a plain failure,
// not ErrGone, and that the error does not quote the endpoint, whose path
// is the subscriber's secret.
func TestSendRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + "/push/secret-token"
	ln.Close()
	sub := pushtest.NewSubscriber(t, endpoint)
	s := newSender(t, newVAPIDKey(t), push.Config{})
	err = s.Send(t.Context(), sub.Sub, []byte(line), "")
	if err == nil || errors.Is(err, push.ErrGone) {
		t.Fatalf("Send to a closed port: %v, want a failure other than ErrGone", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error quotes the endpoint: %v", err)
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Errorf("stats %+v, want one failure", st)
	}
}

// TestSendBlocksInternal checks the production dialer: an endpoint on a
// loopback or private address is refused before any connection, so a
// user cannot aim the server at its own network.
func TestSendBlocksInternal(t *testing.T) {
	t.Parallel()
	ps := pushtest.NewService(t, http.StatusCreated)
	sub := pushtest.NewSubscriber(t, ps.Endpoint())
	s, err := push.NewSender(push.Config{Key: newVAPIDKey(t), Subject: "https://chat.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	// Only loopback addresses here: should the guard fail, the test must
	// still send nothing off this machine. dial_test.go covers the other
	// internal ranges without dialling.
	for _, endpoint := range []string{sub.Sub.Endpoint, "https://127.0.0.2:1/push", "https://[::1]:1/push", "https://localhost:1/push"} {
		target := sub.Sub
		target.Endpoint = endpoint
		if err := s.Send(t.Context(), target, []byte(line), ""); !errors.Is(err, push.ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", endpoint, err)
		}
	}
	ps.None(t)
}

// TestPushAfterClose checks a closed sender drops pushes instead of
// panicking on its closed queue.
func TestPushAfterClose(t *testing.T) {
	t.Parallel()
	s, err := push.NewSender(push.Config{Key: newVAPIDKey(t), Subject: "mailto:ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := pushtest.NewSubscriber(t, "https://push.example.com/x")
	if err := s.Push(sub.Sub, []byte(line), ""); !errors.Is(err, push.ErrClosed) {
		t.Errorf("Push after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNewSenderChecksConfig checks the required settings.
func TestNewSenderChecksConfig(t *testing.T) {
	t.Parallel()
	key := newVAPIDKey(t)
	for name, cfg := range map[string]push.Config{
		"no key":          {Subject: "mailto:ops@example.com"},
		"no subject":      {Key: key},
		"bare address":    {Key: key, Subject: "ops@example.com"},
		"http subject":    {Key: key, Subject: "http://example.com"},
		"subject is junk": {Key: key, Subject: "mailto"},
		"empty mailto":    {Key: key, Subject: "mailto:"},
	} {
		if s, err := push.NewSender(cfg); err == nil {
			s.Close(context.Background())
			t.Errorf("%s: NewSender accepted %+v", name, cfg)
		}
	}
}

// BenchmarkSend is the cost of one push end to end on loopback: a fresh
// ECDH key and aes128gcm encryption, the VAPID JWT signed anew, the POST
// and the 201, over a kept-alive connection.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	key, _ := push.GenerateVAPIDKey()
	s, err := push.NewSender(push.Config{Key: key, Subject: "mailto:ops@example.com", AllowInternal: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	priv, _ := ecdh.P256().GenerateKey(rand.Reader)
	sub, err := push.ParseSubscription(srv.URL+"/push/bench", "p256dh="+pushtest.B64(priv.PublicKey().Bytes())+";auth="+pushtest.B64(make([]byte, 16)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(context.Background(), sub, []byte(line), push.UrgencyHigh); err != nil {
			b.Fatal(err)
		}
	}
}
