package push

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
)

// recordSize is the RFC 8188 record size of every push body. webpush-go
// pads each payload to the full record, so every push is the same size
// and its length tells the push service nothing about the line inside.
// 2048 bytes stays well under the 4096 push services accept.
const recordSize = 2048

// MaxPayload is the longest line a push can carry: the record less the
// aes128gcm header (86 bytes), the GCM tag (16) and the padding
// delimiter (1).
const MaxPayload = recordSize - 86 - 16 - 1

// Urgency is the RFC 8030 Urgency header: how soon a phone should wake.
type Urgency string

// The four urgencies of RFC 8030 §5.3.
const (
	UrgencyVeryLow Urgency = "very-low"
	UrgencyLow     Urgency = "low"
	UrgencyNormal  Urgency = "normal"
	UrgencyHigh    Urgency = "high"
)

// Errors from Send and Push.
var (
	// ErrGone means the push service answered 404 or 410: the
	// subscription has ended and the caller should delete it.
	ErrGone        = errors.New("push: subscription is gone")
	ErrTooLarge    = fmt.Errorf("push: payload longer than %d bytes", MaxPayload)
	ErrRateLimited = errors.New("push: subscription is over its rate limit")
	ErrQueueFull   = errors.New("push: send queue is full")
	ErrClosed      = errors.New("push: sender is closed")
)

// Config configures a Sender. Key and Subject are required; zero values
// elsewhere take the defaults named.
type Config struct {
	Key *VAPIDKey
	// Subject is the VAPID "sub" claim, "mailto:…" or "https://…": how
	// the push service's operator reaches the server's.
	Subject string
	// TTL is how long the push service keeps a push for a device that
	// is offline (default 24 hours).
	TTL time.Duration
	// Timeout bounds one send, connection included (default 10 s).
	Timeout time.Duration
	// Workers is how many sends run at once (default 4); QueueSize is how
	// many pushes may wait for one (default 256).
	Workers, QueueSize int
	// Burst and Interval rate-limit each subscription: up to Burst pushes
	// at once, then one per Interval (defaults 5 and 5 s).
	Burst    int
	Interval time.Duration
	// AllowInternal lets the sender dial loopback and private addresses.
	// Only tests, whose push service listens on 127.0.0.1, set it.
	AllowInternal bool
	// Done, if set, is called on a send goroutine with the outcome of
	// each push that Push queued: nil, an error wrapping ErrGone (delete
	// the subscription), one wrapping ErrBlocked (an endpoint on an
	// internal address, never to be reached: delete it too), or another
	// error, such as a push service that is down. It must not block for
	// long: the next queued push waits for it.
	Done func(sub Subscription, err error)
	// Now is the rate limit's clock (default time.Now).
	Now func() time.Time
}

// Stats counts what a Sender did with the pushes it was given.
type Stats struct {
	Sent        uint64 // accepted by the push service
	Gone        uint64 // answered 404 or 410
	Failed      uint64 // any other failure
	RateLimited uint64 // dropped by the per-subscription rate limit
	QueueFull   uint64 // dropped because every worker was busy and the queue full
}

// Sender encrypts and sends pushes. Push never blocks: pushes wait in a
// bounded queue for a small pool of send goroutines, and what does not
// fit is dropped and counted. A Sender is safe for concurrent use.
type Sender struct {
	cfg    Config
	client *http.Client
	limit  *limiter
	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed and sends on queue against Close
	closed bool
	queue  chan job

	sent, gone, failed, rateLimited, queueFull atomic.Uint64
}

type job struct {
	sub     Subscription
	payload []byte
	urgency Urgency
}

// NewSender checks cfg and starts the send goroutines; Close stops them.
func NewSender(cfg Config) (*Sender, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Sender{
		cfg:    cfg,
		client: newClient(cfg),
		limit:  newLimiter(cfg.Burst, cfg.Interval, cfg.Now),
		queue:  make(chan job, cfg.QueueSize),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go s.work()
	}
	return s, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Key == nil {
		return cfg, errors.New("push: a VAPID key is required")
	}
	if !validSubject(cfg.Subject) {
		return cfg, errors.New(`push: the VAPID subject must start with "mailto:" or "https://"`)
	}
	cfg.TTL = orDefault(cfg.TTL, 24*time.Hour)
	cfg.Timeout = orDefault(cfg.Timeout, 10*time.Second)
	cfg.Interval = orDefault(cfg.Interval, 5*time.Second)
	cfg.Workers = orDefault(cfg.Workers, 4)
	cfg.QueueSize = orDefault(cfg.QueueSize, 256)
	cfg.Burst = orDefault(cfg.Burst, 5)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}

// validSubject accepts "mailto:" or "https://" with something after it,
// the two forms RFC 8292 §2.1 names.
func validSubject(sub string) bool {
	for _, scheme := range []string{"mailto:", "https://"} {
		if rest, ok := strings.CutPrefix(sub, scheme); ok && rest != "" {
			return true
		}
	}
	return false
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// newClient builds the HTTP client every send uses: guarded dials, no
// proxy from the environment, no redirects (a push service answers, it
// does not send the server elsewhere) and a bound on the whole exchange.
func newClient(cfg Config) *http.Client {
	dial := &guardedDialer{
		dialer:        net.Dialer{Timeout: cfg.Timeout},
		resolver:      net.DefaultResolver,
		allowInternal: cfg.AllowInternal,
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         dial.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: cfg.Workers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: cfg.Timeout,
		},
		Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Push queues payload, one IRC line without CR LF, for sub and returns at
// once: nil when queued, or ErrTooLarge, ErrRateLimited, ErrQueueFull or
// ErrClosed when the push was dropped. The outcome of a queued push goes
// to Config.Done. Push takes only the sender's own short-held locks, so
// it may be called under a channel's lock.
func (s *Sender) Push(sub Subscription, payload []byte, urgency Urgency) error {
	if len(payload) > MaxPayload {
		return ErrTooLarge
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if !s.limit.allow(sub.Endpoint) {
		s.rateLimited.Add(1)
		return ErrRateLimited
	}
	select {
	case s.queue <- job{sub: sub, payload: bytes.Clone(payload), urgency: urgency}:
		return nil
	default:
		s.queueFull.Add(1)
		return ErrQueueFull
	}
}

func (s *Sender) work() {
	defer s.wg.Done()
	for j := range s.queue {
		err := s.Send(s.ctx, j.sub, j.payload, j.urgency)
		if s.cfg.Done != nil {
			s.cfg.Done(j.sub, err)
		}
	}
}

// Send encrypts payload for sub and posts it to the push service, waiting
// for the answer; Push is the way that never blocks. It bypasses the rate
// limit. Errors never quote the endpoint, which is a secret of its
// subscriber.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte, urgency Urgency) error {
	if len(payload) > MaxPayload {
		return ErrTooLarge
	}
	err := s.post(ctx, sub, payload, urgency)
	switch {
	case err == nil:
		s.sent.Add(1)
	case errors.Is(err, ErrGone):
		s.gone.Add(1)
		s.limit.forget(sub.Endpoint)
	default:
		s.failed.Add(1)
	}
	return err
}

func (s *Sender) post(ctx context.Context, sub Subscription, payload []byte, urgency Urgency) error {
	if urgency == "" {
		urgency = UrgencyNormal
	}
	// webpush-go appends its padding to the slice it is given: capping
	// the capacity makes it copy, so a caller's buffer past len(payload)
	// is never written.
	payload = payload[:len(payload):len(payload)]
	resp, err := webpush.SendNotificationWithContext(ctx, payload, &webpush.Subscription{
		Endpoint: sub.Endpoint,
		Keys:     webpush.Keys{P256dh: encodeKey(sub.P256dh), Auth: encodeKey(sub.Auth)},
	}, &webpush.Options{
		HTTPClient: s.client,
		RecordSize: recordSize,
		// webpush-go adds "mailto:" to a subject that is not https.
		Subscriber:      strings.TrimPrefix(s.cfg.Subject, "mailto:"),
		TTL:             int(s.cfg.TTL / time.Second),
		Urgency:         webpush.Urgency(urgency),
		VAPIDPublicKey:  s.cfg.Key.pubString,
		VAPIDPrivateKey: s.cfg.Key.privString,
	})
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL, which names the endpoint
		}
		return fmt.Errorf("push: send: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // lets the connection be reused
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w (HTTP %d)", ErrGone, resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("push: push service answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// encodeKey gives webpush-go a key in the form it tries first.
func encodeKey(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Forget drops the rate-limit state of an endpoint, for a subscription
// the caller deleted.
func (s *Sender) Forget(endpoint string) { s.limit.forget(endpoint) }

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	return Stats{
		Sent:        s.sent.Load(),
		Gone:        s.gone.Load(),
		Failed:      s.failed.Load(),
		RateLimited: s.rateLimited.Load(),
		QueueFull:   s.queueFull.Load(),
	}
}

// Close stops taking pushes and waits for the queued ones to be sent.
// If ctx ends first, sends still running are cancelled and Close returns
// ctx's error once the workers have stopped.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancel()
		<-done
	}
	s.cancel()
	s.client.CloseIdleConnections()
	return err
}
