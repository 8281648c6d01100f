package ircd

import "time"

// relayBurst holds a sender's channel messages while more of its lines are
// already buffered, then delivers them together: each member's send queue
// is locked once for the burst instead of once per message. Under a flood
// that lock is the costliest step of a delivery, a cache miss on a line
// another core wrote last. Messages wait only while the sender's reader
// works through lines it has already read, and anything else the sender
// does goes out after them (see flushBurst's callers), so nobody can see
// its lines out of order. Only the sender's reader goroutine touches it.
type relayBurst struct {
	jobs  []burstJob
	lines [][]byte // one member's lines of a run, reused
}

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
	c.burst.jobs = append(c.burst.jobs, burstJob{members, o, start})
	if !c.streaming || len(c.burst.jobs) >= maxBurst {
		s.flushBurst(c)
	}
}

// flushBurst delivers c's held messages in order, each run of messages to
// the same member snapshot with one push per member.
func (s *Server) flushBurst(c *Client) {
	jobs := c.burst.jobs
	for len(jobs) > 0 {
		n := sameMembers(jobs)
		s.deliverRun(c, jobs[:n])
		jobs = jobs[n:]
	}
	clear(c.burst.jobs) // drop the references to delivered messages
	c.burst.jobs = c.burst.jobs[:0]
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
	lines := c.burst.lines[:0]
	n := 0
	for _, r := range run[0].members {
		if r == c {
			continue
		}
		lines = lines[:0]
		for _, j := range run {
			lines = append(lines, j.o.lineFor(r))
		}
		r.queueAll(lines, pushNow)
		n++
	}
	clear(lines)
	c.burst.lines = lines[:0]
	s.metrics.Deliveries.Add(float64(n * len(run)))
	done := time.Now() // the whole run reached its last member now
	count := 0
	for i, j := range run {
		s.metrics.RelayLatency.Observe(done.Sub(j.start).Seconds())
		// One count per stretch of the same command, not per message.
		count++
		if cmd := j.o.base.Command; i == len(run)-1 || run[i+1].o.base.Command != cmd {
			s.metrics.Out(cmd).Add(float64(n * count))
			count = 0
		}
	}
}
