package ircd

import (
	"context"
	"time"
)

// maintainLoop runs Maintain periodically until Shutdown.
func (s *Server) maintainLoop() {
	t := time.NewTicker(maintenanceInterval(s.config().KeyEpoch))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.Maintain(ctx); err != nil {
				s.log.Warn("maintenance failed, will retry", "err", err)
			}
			cancel()
		}
	}
}

// Maintain runs the history's housekeeping (keys for the coming epoch,
// retention) and drops expired entries from the channels' replay rings.
func (s *Server) Maintain(ctx context.Context) error {
	s.maintainMu.Lock()
	defer s.maintainMu.Unlock()
	now, maxAge := time.Now(), s.config().HistoryMaxAge
	err := s.history.Maintain(ctx, now, maxAge)
	if maxAge > 0 {
		s.forgetBefore(now.Add(-maxAge))
	}
	return err
}

// forgetBefore drops expired entries from the channels' replay rings.
func (s *Server) forgetBefore(cutoff time.Time) {
	for _, ch := range s.channelSnapshot() {
		ch.mu.Lock()
		ch.ring.ForgetBefore(cutoff)
		ch.mu.Unlock()
	}
}

// maintenanceInterval is how often Maintain runs: often enough to create
// the next epoch's key well before it starts.
func maintenanceInterval(epoch time.Duration) time.Duration {
	return max(min(time.Minute, epoch/4), 50*time.Millisecond)
}
