package push

import (
	"sync"
	"time"
)

// limiter is a token bucket per endpoint: a burst of up to burst pushes,
// then one per interval. A phone being mentioned in a busy channel gets
// the first few mentions at once and then a trickle, which is all a
// notification shade can show, and the push service does not throttle
// the server for flooding one subscriber. Its mutex guards the map.
type limiter struct {
	burst    float64
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// sweepAt is the map size past which allow forgets full buckets, at most
// once an interval so a map of busy buckets is not walked on every push.
// A full bucket is the same as no bucket, so forgetting it changes
// nothing, and the map stays about as large as the set of recently pushed
// endpoints.
const sweepAt = 4096

func newLimiter(burst int, interval time.Duration, now func() time.Time) *limiter {
	return &limiter{
		burst:    float64(max(burst, 1)),
		interval: interval,
		now:      now,
		buckets:  make(map[string]*bucket),
	}
}

// allow spends a token of endpoint's bucket, reporting false when none is
// left.
func (l *limiter) allow(endpoint string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) >= sweepAt && now.Sub(l.swept) >= l.interval {
		l.sweep(now)
		l.swept = now
	}
	b := l.buckets[endpoint]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[endpoint] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if l.interval <= 0 {
		b.tokens = l.burst
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+float64(d)/float64(l.interval))
	}
	b.at = now
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// forget drops endpoint's bucket, for a subscription that is gone.
func (l *limiter) forget(endpoint string) {
	l.mu.Lock()
	delete(l.buckets, endpoint)
	l.mu.Unlock()
}
