package push_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"securechat/ircd/push"
	"securechat/ircd/push/pushtest"
)

// stalled starts a push service that answers nothing until the test
// ends, a subscriber on it and a sender with cfg.
func stalled(t *testing.T, cfg push.Config) (*pushtest.Service, *pushtest.Subscriber, *push.Sender) {
	t.Helper()
	hold := make(chan struct{})
	ps := pushtest.StartService(t, http.StatusCreated, hold)
	sub := pushtest.NewSubscriber(t, ps.Endpoint())
	s := newSender(t, newVAPIDKey(t), cfg)
	t.Cleanup(func() { close(hold) }) // runs first: the sender's Close waits for its sends
	return ps, sub, s
}

// newSender starts a sender for a loopback push service and closes it
// when the test ends.
func newSender(t *testing.T, key *push.VAPIDKey, cfg push.Config) *push.Sender {
	t.Helper()
	cfg.Key = key
	if cfg.Subject == "" {
		cfg.Subject = "mailto:ops@example.com"
	}
	cfg.AllowInternal = true
	s, err := push.NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newVAPIDKey(t *testing.T) *push.VAPIDKey {
	t.Helper()
	k, err := push.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
