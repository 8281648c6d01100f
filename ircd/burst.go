package ircd

import "time"

// A burst is a sender's channel messages held while more of its lines are
// already buffered, then delivered together with deliverAll, so each
// member's send queue is locked once for the burst instead of once per
// message. Messages wait only while the sender's reader works through lines
// it has already read, and anything else the sender does goes out after
// them (see flushBurst's callers), so nobody can see its lines out of
// order. Client.burst holds it; only the sender's reader goroutine touches
// it.

// burstJob is one held message.
type burstJob struct {
	members []*Client // the snapshot taken when the message was recorded
	o       *outMsg
	start   time.Time // when the server took the message up
}

// maxBurst bounds how many messages a burst holds.
const maxBurst = 32

// relayChannel delivers a PRIVMSG or NOTICE to a channel's members now,
// or, while c has more lines buffered, with the rest of its burst.
func (s *Server) relayChannel(c *Client, members []*Client, o *outMsg, start time.Time) {
	c.burst = append(c.burst, burstJob{members, o, start})
	if !c.streaming || len(c.burst) >= maxBurst {
		s.flushBurst(c)
	}
}

// flushBurst delivers c's held messages in order, each run of messages to
// the same member snapshot with one push per member.
func (s *Server) flushBurst(c *Client) {
	jobs := c.burst
	for len(jobs) > 0 {
		n := sameMembers(jobs)
		s.deliverRun(c, jobs[:n])
		jobs = jobs[n:]
	}
	clear(c.burst) // drop the references to delivered messages
	c.burst = c.burst[:0]
}

// sameMembers returns how many jobs from the first share its member
// snapshot. Snapshots are replaced, never changed, so the same backing
// array means the same members.
func sameMembers(jobs []burstJob) int {
	first := jobs[0].members
	n := 1
	for n < len(jobs) && sameSlice(jobs[n].members, first) {
		n++
	}
	return n
}

func sameSlice(a, b []*Client) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// deliverRun queues a run of c's messages for every member but c.
func (s *Server) deliverRun(c *Client, run []burstJob) {
	var room [maxBurst]*outMsg
	msgs := room[:0]
	for _, j := range run {
		msgs = append(msgs, j.o)
	}
	s.deliverAll(run[0].members, msgs, wantMessage(c, msgs[0].base.Command))
	done := time.Now() // the whole run reached its last member now
	for _, j := range run {
		s.metrics.RelayLatency.Observe(done.Sub(j.start).Seconds())
	}
}
