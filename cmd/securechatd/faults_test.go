package main

// Fault tests: a load of raw TLS clients chats in a few channels while the
// real daemon's Redis goes away, turns slow, or the daemon itself is told
// to reload or stop. Every message carries a unique marker, so delivery,
// acknowledgement (echo-message) and history can be checked one by one.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/store/redistest"
)

// loadArgs exempt loopback from flood and connection limits, so the load
// is not throttled by the defences it is not testing.
var loadArgs = []string{"--flood-exempt=127.0.0.0/8"}

// sentMsg is one message a load client wrote.
type sentMsg struct {
	at      time.Time
	channel string
	from    string
}

// load is a set of clients chatting in channels. mu guards the maps.
type load struct {
	t       *testing.T
	prefix  string // marker prefix, unique per test
	clients []*loadClient
	members map[string][]string // channel -> nicks

	mu       sync.Mutex
	sent     map[string]sentMsg
	acked    map[string]time.Time            // marker -> echo received by its sender
	got      map[string]map[string]time.Time // marker -> receiver -> when
	sendErrs int

	stopSend chan struct{}
	senders  sync.WaitGroup
}

// loadClient is one registered client whose lines a reader goroutine
// consumes. wmu serializes writes; mu guards errors.
type loadClient struct {
	l       *load
	nick    string
	channel string
	nc      net.Conn
	r       *bufio.Reader
	wmu     sync.Mutex
	pongs   chan string
	done    chan struct{} // closed when the reader goroutine ends

	mu      sync.Mutex
	errors  []string // ERROR lines received
	readErr error
}

// startLoad registers n clients spread over the channels, joins them and
// starts their reader goroutines.
func startLoad(t *testing.T, d *running, password, prefix string, n int, channels ...string) *load {
	t.Helper()
	l := &load{
		t: t, prefix: prefix, members: map[string][]string{},
		sent: map[string]sentMsg{}, acked: map[string]time.Time{}, got: map[string]map[string]time.Time{},
	}
	for i := range n {
		nick := fmt.Sprintf("%s%02d", prefix, i)
		ch := channels[i%len(channels)]
		c := d.registerWith(t, nick, password, "echo-message")
		c.JoinAndSync(ch)
		lc := &loadClient{l: l, nick: nick, channel: ch, nc: c.Conn(), r: c.Reader(), pongs: make(chan string, 16), done: make(chan struct{})}
		_ = lc.nc.SetReadDeadline(time.Time{})
		l.clients = append(l.clients, lc)
		l.members[ch] = append(l.members[ch], nick)
		go lc.read()
	}
	t.Cleanup(func() {
		l.stop()
		for _, c := range l.clients {
			_ = c.nc.Close()
			<-c.done
		}
	})
	return l
}

// registerWith logs in with SASL PLAIN, also asking for caps, and waits
// for the end of the MOTD.
func (d *running) registerWith(t *testing.T, nick, password string, caps ...string) *client {
	t.Helper()
	c := d.dialT(t)
	c.RegisterSASL(nick, password, caps...)
	return c
}

// read is the client's reader goroutine: it answers server PINGs and
// records markers, echoes, PONGs and ERROR lines until the socket ends.
func (c *loadClient) read() {
	defer close(c.done)
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		m, err := irc.ParseMessage(line)
		if err != nil {
			continue
		}
		switch m.Command {
		case "PING":
			_ = c.write("PONG :" + m.Trailing())
		case "PONG":
			select {
			case c.pongs <- m.Trailing():
			default:
			}
		case "ERROR":
			c.mu.Lock()
			c.errors = append(c.errors, strings.TrimRight(line, "\r\n"))
			c.mu.Unlock()
		case "PRIVMSG":
			marker, _, _ := strings.Cut(m.Trailing(), " ")
			if m.Prefix != nil && strings.HasPrefix(marker, c.l.prefix+"-") {
				c.l.record(marker, m.Prefix.Name, c.nick, time.Now())
			}
		}
	}
}

func (c *loadClient) write(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(3 * time.Second))
	_, err := c.nc.Write([]byte(line + "\r\n"))
	return err
}

// alive reports whether the reader still runs, i.e. the server has not
// closed the connection.
func (c *loadClient) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// ping sends a PING and waits for its PONG.
func (c *loadClient) ping(timeout time.Duration) error {
	tok := fmt.Sprintf("p%d", time.Now().UnixNano())
	if err := c.write("PING " + tok); err != nil {
		return err
	}
	deadline := time.After(timeout)
	for {
		select {
		case got := <-c.pongs:
			if got == tok {
				return nil
			}
		case <-c.done:
			return fmt.Errorf("connection closed while waiting for PONG")
		case <-deadline:
			return fmt.Errorf("no PONG within %v", timeout)
		}
	}
}

func (l *load) record(marker, from, to string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from == to {
		l.acked[marker] = at
		return
	}
	if l.got[marker] == nil {
		l.got[marker] = map[string]time.Time{}
	}
	l.got[marker][to] = at
}

// start makes every client send one channel message per interval until
// stop; each message's first word is its marker.
func (l *load) start(interval time.Duration) {
	l.stopSend = make(chan struct{})
	for i, c := range l.clients {
		l.senders.Add(1)
		go func() {
			defer l.senders.Done()
			// Stagger the clients so the load is spread over the interval.
			first := time.NewTimer(interval * time.Duration(i) / time.Duration(len(l.clients)))
			defer first.Stop()
			select {
			case <-first.C:
			case <-l.stopSend:
				return
			}
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for seq := 0; ; seq++ {
				if !l.sendOne(c, seq) {
					return
				}
				select {
				case <-tick.C:
				case <-l.stopSend:
					return
				}
			}
		}()
	}
}

// sendOne sends one marked message from c; false when the socket failed.
func (l *load) sendOne(c *loadClient, seq int) bool {
	marker := fmt.Sprintf("%s-%s-%d", l.prefix, c.nick, seq)
	l.mu.Lock()
	l.sent[marker] = sentMsg{at: time.Now(), channel: c.channel, from: c.nick}
	l.mu.Unlock()
	if err := c.write("PRIVMSG " + c.channel + " :" + marker + " load text"); err != nil {
		l.mu.Lock()
		delete(l.sent, marker)
		l.sendErrs++
		l.mu.Unlock()
		return false
	}
	return true
}

// stop ends the senders and waits for them. It may be called twice.
func (l *load) stop() {
	if l.stopSend != nil {
		select {
		case <-l.stopSend:
		default:
			close(l.stopSend)
		}
	}
	l.senders.Wait()
}

// sentWhere returns the markers of messages sent in [from, to), by channel.
func (l *load) sentWhere(from, to time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for m, s := range l.sent {
		if !s.at.Before(from) && s.at.Before(to) {
			out[s.channel] = append(out[s.channel], m)
		}
	}
	return out
}

// undelivered returns the deliveries missing for messages sent in
// [from, to): "marker -> receiver" for every member but the sender.
func (l *load) undelivered(from, to time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var missing []string
	for m, s := range l.sent {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		for _, nick := range l.members[s.channel] {
			if _, ok := l.got[m][nick]; nick != s.from && !ok {
				missing = append(missing, m+" -> "+nick)
			}
		}
	}
	slices.Sort(missing)
	return missing
}

// waitDelivered waits until every message sent in [from, to) reached
// every other member of its channel, and fails the test if one has not
// within the timeout. It returns how many deliveries were checked.
func (l *load) waitDelivered(from, to time.Time, timeout time.Duration) int {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := l.undelivered(from, to)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%d deliveries missing after %v, e.g. %q", len(missing), timeout, missing[:min(5, len(missing))])
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := 0
	for ch, ms := range l.sentWhere(from, to) {
		n += len(ms) * (len(l.members[ch]) - 1)
	}
	return n
}

// latencies returns send-to-receive times of the deliveries of messages
// sent in [from, to).
func (l *load) latencies(from, to time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for m, s := range l.sent {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		for _, at := range l.got[m] {
			out = append(out, at.Sub(s.at))
		}
	}
	slices.Sort(out)
	return out
}

// ackedByChannel returns the markers whose sender saw the echo.
func (l *load) ackedByChannel() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for m := range l.acked {
		s := l.sent[m]
		out[s.channel] = append(out[s.channel], m)
	}
	return out
}

// requireAllAlive checks that no client was dropped and each answers PING.
func (l *load) requireAllAlive() {
	l.t.Helper()
	for _, c := range l.clients {
		if err := c.ping(5 * time.Second); err != nil {
			c.mu.Lock()
			errs, rerr := c.errors, c.readErr
			c.mu.Unlock()
			l.t.Errorf("%s dropped or unresponsive: %v (ERROR lines %q, read error %v)", c.nick, err, errs, rerr)
		}
	}
}

// historyChecker is a client with batch, server-time and message-tags,
// joined to channels, that reads history with CHATHISTORY.
type historyChecker struct {
	c *client
}

func newHistoryChecker(t *testing.T, d *running, password, nick string, channels ...string) *historyChecker {
	t.Helper()
	c := d.registerWith(t, nick, password, "batch", "server-time", "message-tags", "draft/chathistory")
	for _, ch := range channels {
		c.JoinAndSync(ch)
	}
	return &historyChecker{c: c}
}

// markers returns the first words of every PRIVMSG in channel's history
// since `since`, paging through CHATHISTORY AFTER.
func (h *historyChecker) markers(channel string, since time.Time) map[string]bool {
	c := h.c
	c.T().Helper()
	ref := "timestamp=" + since.UTC().Format("2006-01-02T15:04:05.000Z")
	out := map[string]bool{}
	for range 200 {
		c.Send("CHATHISTORY AFTER %s %s 100", channel, ref)
		start := c.Expect(`(BATCH \+\S+ chathistory|FAIL CHATHISTORY)`)
		if start.Command == "FAIL" {
			c.T().Fatalf("CHATHISTORY AFTER %s %s: %s", channel, ref, start)
		}
		id := strings.TrimPrefix(start.Params[0], "+")
		n, last := 0, ""
		for {
			line, err := c.ReadLine(10 * time.Second)
			if err != nil {
				c.T().Fatalf("reading CHATHISTORY batch: %v", err)
			}
			m, err := irc.ParseMessage(line)
			if err != nil {
				continue
			}
			if m.Command == "BATCH" && m.Param(0) == "-"+id {
				break
			}
			if m.Tags["batch"] != id || m.Command != "PRIVMSG" {
				continue
			}
			n++
			last = m.Tags["msgid"]
			marker, _, _ := strings.Cut(m.Trailing(), " ")
			out[marker] = true
		}
		if n < 100 {
			return out
		}
		ref = "msgid=" + last
	}
	c.T().Fatalf("CHATHISTORY AFTER %s: more than 200 pages", channel)
	return nil
}

// missing returns the markers of want not in channel's history.
func (h *historyChecker) missing(want map[string][]string, since time.Time) []string {
	var out []string
	for ch, ms := range want {
		have := h.markers(ch, since)
		for _, m := range ms {
			if !have[m] {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

// waitInHistory polls history until every marker of want is there.
func (h *historyChecker) waitInHistory(t *testing.T, want map[string][]string, since time.Time, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing := h.missing(want, since)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages missing from history after %v, e.g. %q", len(missing), timeout, missing[:min(5, len(missing))])
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func count(byChannel map[string][]string) int {
	n := 0
	for _, ms := range byChannel {
		n += len(ms)
	}
	return n
}

var faultChannels = []string{"#fa", "#fb", "#fc"}

// TestRedisOutageUnderLoad stops Redis for several seconds while 15
// clients chat in three channels: nobody is dropped, live chat goes on,
// and once Redis is back every message sent during the outage reaches
// history from the write-behind queue.
func TestRedisOutageUnderLoad(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	const queueSize = 5000
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: append([]string{
		"--redis=" + rs.URL(), fmt.Sprintf("--write-queue-size=%d", queueSize)}, loadArgs...)})
	since := time.Now().Add(-time.Second)
	l := startLoad(t, d, roomPassword, "out", 15, faultChannels...)
	checker := newHistoryChecker(t, d, roomPassword, "checker", faultChannels...)

	l.start(200 * time.Millisecond)
	time.Sleep(time.Second)
	rs.Save() // the keyring must survive the restart, as with a persistent Redis
	rs.Stop()
	outageStart := time.Now()
	time.Sleep(6 * time.Second)
	outageEnd := time.Now()
	rs.Restart()
	time.Sleep(time.Second)
	l.stop()
	end := time.Now()

	n := l.waitDelivered(outageStart, end, 10*time.Second)
	if n < 300 {
		t.Fatalf("only %d deliveries during and after the outage; the load did not run", n)
	}
	l.requireAllAlive()
	during := l.sentWhere(outageStart, outageEnd)
	if c := count(during); c == 0 || c >= queueSize {
		t.Fatalf("%d messages sent during the outage; want some, fewer than the queue size %d", c, queueSize)
	}
	checker.waitInHistory(t, l.sentWhere(outageStart, end), since, 20*time.Second)
	t.Logf("outage %v: %d messages sent during it, %d live deliveries checked, all in history",
		outageEnd.Sub(outageStart).Round(time.Millisecond), count(during), n)
	if !regexp.MustCompile(`history write failed, will retry`).MatchString(d.stderr.String()) {
		t.Errorf("the daemon did not log the failed writes during the outage")
	}
}

// TestSlowRedisKeepsFanOutFast makes Redis block for two seconds at a time
// (DEBUG SLEEP) while clients chat: live delivery stays fast, because no
// store round trip sits on the message path, and history is complete.
func TestSlowRedisKeepsFanOutFast(t *testing.T) {
	t.Parallel()
	// DEBUG is refused unless enabled; "local" allows it from loopback.
	rs := redistest.Start(t, redistest.WithArgs("--enable-debug-command", "local"))
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: append([]string{"--redis=" + rs.URL()}, loadArgs...)})
	since := time.Now().Add(-time.Second)
	l := startLoad(t, d, roomPassword, "slow", 12, faultChannels...)
	checker := newHistoryChecker(t, d, roomPassword, "checker", faultChannels...)
	admin := rs.Client()

	l.start(200 * time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	type window struct{ from, to time.Time }
	var sleeps []window
	for range 3 {
		from := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := admin.Do(ctx, "DEBUG", "SLEEP", "2").Err()
		cancel()
		if err != nil {
			t.Fatalf("DEBUG SLEEP: %v", err)
		}
		to := time.Now()
		if to.Sub(from) < 1900*time.Millisecond {
			t.Fatalf("DEBUG SLEEP 2 returned after %v; Redis did not block", to.Sub(from))
		}
		sleeps = append(sleeps, window{from, to})
		time.Sleep(300 * time.Millisecond)
	}
	l.stop()
	end := time.Now()

	l.waitDelivered(since, end, 10*time.Second)
	var lat []time.Duration
	for _, w := range sleeps {
		lat = append(lat, l.latencies(w.from, w.to)...)
	}
	slices.Sort(lat)
	if len(lat) < 200 {
		t.Fatalf("only %d deliveries measured while Redis slept", len(lat))
	}
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("while Redis slept: %d deliveries, p50 %v, p99 %v, max %v", len(lat), p50, p99, worst)
	if worst >= 500*time.Millisecond {
		t.Errorf("a delivery took %v while Redis slept 2s; fan-out must not wait for the store", worst)
	}
	l.requireAllAlive()
	checker.waitInHistory(t, l.sentWhere(since, end), since, 20*time.Second)
}

// TestSIGHUPUnderLoad replaces the certificate named in the config file
// and sends SIGHUP while clients chat: nobody is dropped, messages keep
// flowing, and new connections get the new certificate.
func TestSIGHUPUnderLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	conf := filepath.Join(dir, "securechatd.conf")
	fp1 := writeCertPair(t, certFile, keyFile, "one.irc.test")
	writeFile(t, conf, "tls-cert = "+certFile+"\ntls-key = "+keyFile+"\nflood-exempt = 127.0.0.0/8\n", 0o644)
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: []string{"--config=" + conf}})
	if d.fingerprint != fp1 {
		t.Fatalf("daemon logged %s, want the configured certificate %s", d.fingerprint, fp1)
	}
	start := time.Now()
	l := startLoad(t, d, roomPassword, "hup", 15, faultChannels...)

	l.start(150 * time.Millisecond)
	time.Sleep(time.Second)
	fp2 := writeCertPair(t, certFile, keyFile, "two.irc.test")
	d.signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`msg="configuration reloaded" tls_sha256=`+fp2), 10*time.Second)
	time.Sleep(time.Second)
	fp3 := writeCertPair(t, certFile, keyFile, "three.irc.test")
	d.signal(syscall.SIGHUP)
	d.waitLog(regexp.MustCompile(`msg="configuration reloaded" tls_sha256=`+fp3), 10*time.Second)
	time.Sleep(time.Second)
	l.stop()

	n := l.waitDelivered(start, time.Now(), 10*time.Second)
	l.requireAllAlive()
	if got := servedFingerprint(t, d.addr); got != fp3 {
		t.Errorf("after SIGHUP served %s, want the new certificate %s", got, fp3)
	}
	d.fingerprint = fp3
	d.registerWith(t, "fresh", roomPassword, "echo-message").Sync()
	t.Logf("%d deliveries across two reloads, none lost, nobody dropped", n)
}

// TestSIGTERMUnderLoad stops the daemon while clients chat: each client is
// told the server is shutting down, the process exits 0 promptly, and
// every message acknowledged (echoed to its sender) before the signal is
// in Redis, as a second daemon on the same data shows. Redis writes are
// paused just before the signal, so the queue is not empty when it comes.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.WithPassword("redis secret for sigterm"))
	pwFile := filepath.Join(t.TempDir(), "redis.pw")
	writeFile(t, pwFile, rs.Password()+"\n", 0o600)
	args := append([]string{"--redis=" + rs.URL(), "--redis-password-file=" + pwFile}, loadArgs...)
	d := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: args})
	since := time.Now().Add(-time.Second)
	l := startLoad(t, d, roomPassword, "term", 15, faultChannels...)

	l.start(100 * time.Millisecond)
	time.Sleep(1500 * time.Millisecond)
	// Hold Redis writes for a moment so the queue still has acknowledged
	// records when the signal arrives: shutdown must flush them.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rs.Client().Do(ctx, "CLIENT", "PAUSE", "1500", "WRITE").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	signalled := time.Now()
	d.signal(syscall.SIGTERM)
	code := d.wait(5 * time.Second)
	took := time.Since(signalled)
	l.stop()
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, d.stderr.String())
	}
	for _, c := range l.clients {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still connected after the daemon exited", c.nick)
		}
		if !containsMatch(c.errors, `^ERROR :.*Server shutting down`) {
			t.Errorf("%s got ERROR lines %q, want ERROR :...Server shutting down", c.nick, c.errors)
		}
	}
	acked := l.ackedByChannel()
	if count(acked) < 100 {
		t.Fatalf("only %d messages acknowledged before SIGTERM; the load did not run", count(acked))
	}

	d2 := startDaemon(t, daemonSpec{env: passwordEnv(roomPassword), args: args})
	checker := newHistoryChecker(t, d2, roomPassword, "checker", faultChannels...)
	if missing := checker.missing(acked, since); len(missing) > 0 {
		t.Errorf("%d of %d acknowledged messages lost by SIGTERM, e.g. %q", len(missing), count(acked), missing[:min(5, len(missing))])
	} else {
		t.Logf("SIGTERM: exit %d after %v; %d acknowledged messages all in history", code, took.Round(time.Millisecond), count(acked))
	}
	d2.stop()
}
