package cluster

import (
	"context"
	"time"
)

// outgoing is one envelope waiting for the publish loop.
type outgoing struct {
	ch  string
	env []byte
}

// Publish seals payload and queues it for every node subscribed to key.
// It never waits for Redis: a full queue drops the message and returns
// ErrQueueFull. Messages to one key leave in the order Publish was called
// (one queue, one pipeline), and each carries the next sequence number of
// this node for that key.
func (c *Cluster) Publish(key string, payload []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return c.fan.publish(c.names.channel(key), key, false, payload)
}

// SendNode seals payload and queues it for the node id alone (private
// messages and commands for that node's users).
func (c *Cluster) SendNode(id string, payload []byte) error {
	if err := checkKey(id); err != nil {
		return err
	}
	return c.fan.publish(c.names.node(id), id, true, payload)
}

// publish assigns the sequence number, seals and queues in one critical
// section, so sequence order is queue order is wire order.
func (f *fanout) publish(ch, key string, direct bool, payload []byte) error {
	f.pubMu.Lock()
	defer f.pubMu.Unlock()
	if f.pubClosed {
		return ErrClosed
	}
	if len(f.queue) >= f.c.cfg.PublishQueue {
		f.c.stats.publishDropped.Add(1)
		return ErrQueueFull
	}
	h := header{origin: f.c.id, inc: f.c.inc, seq: f.seq[ch] + 1, direct: direct}
	env := h.append(nil)
	sealed, err := f.c.cfg.Sealer.Seal(payload, aad(env, key))
	if err != nil {
		return err
	}
	f.seq[ch] = h.seq
	f.queue = append(f.queue, outgoing{ch, append(env, sealed...)})
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

// publishLoop sends what is queued, one pipeline per batch, until ctx
// ends and the queue is empty.
func (f *fanout) publishLoop(ctx context.Context) {
	for {
		select {
		case <-f.wake:
		case <-ctx.Done():
			f.flush()
			return
		}
		f.flush()
	}
}

// flush sends the queued messages in one pipeline. A failed batch is
// counted and dropped: live traffic is not retried (history, written by
// the sender's node, keeps the record).
func (f *fanout) flush() {
	f.pubMu.Lock()
	batch := f.queue
	f.queue = nil
	f.pubMu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.c.cfg.Lease/3+time.Second)
	defer cancel()
	pipe := f.c.client.Pipeline()
	for _, m := range batch {
		pipe.SPublish(ctx, m.ch, m.env)
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		f.c.log.Warn("cluster: publish failed", "err", err)
	}
	for _, cmd := range cmds {
		if cmd.Err() != nil {
			f.c.stats.publishErrors.Add(1)
		} else {
			f.c.stats.published.Add(1)
		}
	}
}

// closePublish refuses further messages; the loop sends what is queued.
func (f *fanout) closePublish() {
	f.pubMu.Lock()
	f.pubClosed = true
	f.pubMu.Unlock()
}
