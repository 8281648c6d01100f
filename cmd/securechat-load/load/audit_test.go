package load

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAuditLooksLostMessagesUp: on a real server, sender 0 puts seqs 0-4
// into the channel and numbers 5 and 6 without sending them. One receiver
// misses 2, 4, 5 and 6, the other 5 and 6. The audit finds 2 and 4 in
// history and reports 5 and 6 absent, sent by a user that never dropped.
func TestAuditLooksLostMessagesUp(t *testing.T) {
	addr, _ := startTwoListeners(t, "integration-pw")
	cfg, err := ParseArgs([]string{"--addr", addr, "--users", "3", "--channels", "1", "--senders", "1", "--reconnect",
		"--password", "integration-pw"}, func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	r := newRunner(&cfg, time.Now())
	ctx := context.Background()
	sender := r.users[0]
	c, err := dialConn(ctx, r.cfg, addr, "tcp", r.cfg.tlsConfig(addr), sender.nick, r.runID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.register(r.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.join(sender.channel, func() {}); err != nil {
		t.Fatal(err)
	}
	for _, u := range r.users[1:] {
		u.rx.open() // windows from seq 0
	}
	var lines []byte
	for seq := range int64(5) {
		lines = sender.payload(lines, seq)
	}
	if err := c.write(append(lines, "PING :sent\r\n"...)); err != nil {
		t.Fatal(err)
	}
	if err := c.until(func(m *message) (bool, error) { return m.command == "PONG", nil }); err != nil {
		t.Fatal(err)
	}
	r.seq[0].Store(7) // 5 and 6 never reached the server
	audit := r.startAudit(ctx)
	if audit == nil {
		t.Fatalf("audit: %s", r.rc.auditErr)
	}
	missed, all := r.users[1], r.users[2]
	for _, seq := range []int64{0, 1, 3} {
		missed.rx.observe(0, seq, 0)
	}
	for seq := range int64(5) {
		all.rx.observe(0, seq, 0)
	}
	missed.rx.gap.drops = 1
	for _, u := range r.users[1:] {
		u.rx.close(r.finalSeq)
	}
	res := &ReconnectResult{}
	r.finishAudit(audit, res, start)
	got := []int64{res.LostByDropped, res.LostMessages, res.LostInHistory, res.SkippedByAfter, res.AbsentFromHistory, res.AbsentSenderStayed}
	if want := []int64{4, 4, 2, 0, 2, 2}; !slices.Equal(got, want) || res.AuditError != "" {
		t.Errorf("lost by dropped, lost, in history, skipped by AFTER, absent, absent from stayed: %v, want %v (error %q)", got, want, res.AuditError)
	}
	slices.Sort(res.AbsentSample)
	if len(res.AbsentSample) != 2 || !strings.HasSuffix(res.AbsentSample[0], "sender 0 seq 5") || !strings.HasSuffix(res.AbsentSample[1], "sender 0 seq 6") {
		t.Errorf("absent sample %q", res.AbsentSample)
	}
}
