package ircd

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/push"
	"securechat/ircd/push/pushtest"
	"securechat/store"
	"securechat/store/redistest"
)

// testPushTuning lets the test servers push to the loopback push
// service, one push at a time so they arrive in the order they were
// made (a push that should not have been made shows up before the next
// one that should), and without a rate limit in the way of a test's
// handful of pushes.
func testPushTuning(c *push.Config) {
	c.AllowInternal = true
	c.Workers = 1
	c.Burst = 100
}

// vapidKey returns the VAPID= token of the welcome burst.
func vapidKey(t *testing.T, welcome []string) string {
	t.Helper()
	re := regexp.MustCompile(` VAPID=([A-Za-z0-9_-]+)( |$)`)
	for _, l := range welcome {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no VAPID token in ISUPPORT: %q", welcome)
	return ""
}

// subscribe registers a new subscription on ps for c and returns its
// subscriber, who holds the keys to decrypt its pushes.
func subscribe(c *testClient, ps *pushtest.Service) *pushtest.Subscriber {
	c.T().Helper()
	sub := pushtest.NewSubscriber(c.T(), ps.Endpoint())
	c.Send("WEBPUSH REGISTER %s %s", sub.Sub.Endpoint, sub.Keys)
	c.Expect(`^:irc\.test WEBPUSH REGISTER ` + regexp.QuoteMeta(sub.Sub.Endpoint) + `$`)
	return sub
}

// pushCount checks securechat_push_notifications_total{result}.
func pushCount(t *testing.T, ts *testServer, result string, want float64) {
	t.Helper()
	if n := counterValue(t, ts, "securechat_push_notifications_total", map[string]string{"result": result}); n != want {
		t.Errorf("push metric %s=%v, want %v", result, n, want)
	}
}

// expectPush waits for the next push on ps, checks its VAPID signature
// against the server's key, decrypts it as the subscriber's phone would
// and checks the IRC line inside matches pattern. It returns the line.
func expectPush(t *testing.T, ps *pushtest.Service, sub *pushtest.Subscriber, vapid, pattern string) string {
	t.Helper()
	got := ps.Next(t)
	if !strings.HasSuffix(sub.Sub.Endpoint, got.Path) {
		t.Fatalf("push to %s, want the endpoint %s", got.Path, sub.Sub.Endpoint)
	}
	if _, err := pushtest.CheckVAPID(got.Header.Get("Authorization"), vapid, ps.Srv.URL); err != nil {
		t.Errorf("VAPID: %v", err)
	}
	plain, err := sub.Decrypt(got.Body)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if !regexp.MustCompile(pattern).Match(plain) {
		t.Fatalf("push holds %q, want %q", plain, pattern)
	}
	return string(plain)
}

// TestWebpushPrivateMessageWhileOffline registers a subscription, leaves,
// and receives a PM as a push that only the subscriber's key opens,
// carrying the text and the msgid the sender saw; a mention in a channel
// the account left pushes too, a plain line there does not, and so does
// an INVITE.
func TestWebpushPrivateMessageWhileOffline(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := ts.dial()
	vapid := vapidKey(t, alice.RegisterAccount("alice", personalPassword, testPassword, "draft/webpush"))
	sub := subscribe(alice, ps)
	alice.Join("#room")
	alice.quit()

	bob := ts.register("bob", "echo-message", "message-tags")
	bob.Join("#room")
	bob.Send("PRIVMSG alice :meet me at the hidden door")
	echo := bob.Expect(`PRIVMSG alice :meet me at the hidden door$`)
	msgid := echo.Tags["msgid"]
	if msgid == "" {
		t.Fatal("echo without msgid")
	}
	line := expectPush(t, ps, sub, vapid, `^@.*:bob!~?bob@127\.0\.0\.1 PRIVMSG alice :meet me at the hidden door$`)
	if !strings.Contains(line, "msgid="+msgid) {
		t.Errorf("push %q lacks msgid=%s", line, msgid)
	}

	bob.Send("PRIVMSG #room :nobody named here")
	bob.Send("PRIVMSG #room :alice: are you there?")
	expectPush(t, ps, sub, vapid, ` PRIVMSG #room :alice: are you there\?$`)

	bob.Join("#secret")
	bob.Send("MODE #secret +i")
	bob.Send("INVITE alice #secret")
	bob.Expect(` 341 bob alice #secret$`)
	expectPush(t, ps, sub, vapid, `^@time=\S+ :bob!\S+ INVITE alice #secret$`)

	bob.Send("PRIVMSG nobody :hello")
	bob.Expect(` 401 bob nobody :No such nick/channel$`) // no account, no push: still unknown
	bob.Send("INVITE nobody #secret")
	bob.Expect(` 401 bob nobody :No such nick/channel$`)
	// Shutdown waits for the sender, which counts a push once answered.
	ts.shutdown()
	pushCount(t, ts, "sent", 3)
}

// TestWebpushOnlyWhileAway checks a connected account that is not away
// gets no push; once away, a PM, a mention (not a plain message) and an
// INVITE each push.
func TestWebpushOnlyWhileAway(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := ts.dial()
	vapid := vapidKey(t, alice.RegisterAccount("alice", personalPassword, testPassword))
	sub := subscribe(alice, ps)
	bob := ts.register("bob")
	alice.Join("#room")
	bob.Join("#room")
	bob.Join("#other")

	bob.Send("PRIVMSG alice :while you are here")
	alice.Expect(`PRIVMSG alice :while you are here$`)
	alice.Send("AWAY :lunch")
	alice.Expect(` 306 alice `)
	bob.Send("PRIVMSG alice :while you are away")
	// One sender goroutine: had the first PM pushed, it would come first.
	expectPush(t, ps, sub, vapid, ` PRIVMSG alice :while you are away$`)

	bob.Send("PRIVMSG #room :lunch, anyone?")
	bob.Send("PRIVMSG #room :@alice, lunch?")
	expectPush(t, ps, sub, vapid, ` PRIVMSG #room :@alice, lunch\?$`)

	bob.Send("INVITE alice #other")
	bob.Expect(` 341 bob alice #other$`)
	expectPush(t, ps, sub, vapid, `^@time=\S+ :bob!\S+ INVITE alice #other$`)

	// Back from away, nothing more; an own message never pushes.
	alice.Send("AWAY")
	alice.Expect(` 305 alice `)
	bob.Send("PRIVMSG alice :welcome back")
	alice.Expect(`PRIVMSG alice :welcome back$`)
	alice.Send("AWAY :gone again")
	alice.Expect(` 306 alice `)
	alice.Send("PRIVMSG #room :alice here, leaving")
	bob.Send("PRIVMSG alice :last one")
	expectPush(t, ps, sub, vapid, ` PRIVMSG alice :last one$`)
}

// TestWebpushGoneUnsubscribes answers 410 for one of two subscriptions:
// the next push skips it, and after a restart it is gone from the
// sealed subscriptions while the other remains and still pushes.
func TestWebpushGoneUnsubscribes(t *testing.T) {
	t.Parallel()
	st, vault := store.NewMemory(store.Options{}), newTestVault(t)
	ts := newTestServer(t, withAccounts(), withStore(st, vault))
	gone := pushtest.NewService(t, http.StatusGone)
	live := pushtest.NewService(t, http.StatusCreated)
	alice := ts.dial()
	vapid := vapidKey(t, alice.RegisterAccount("alice", personalPassword, testPassword))
	deadSub := subscribe(alice, gone) // first: its push is sent, and its 410 handled, first
	liveSub := subscribe(alice, live)
	alice.quit()

	bob := ts.register("bob")
	bob.Send("PRIVMSG alice :first")
	expectPush(t, gone, deadSub, vapid, `PRIVMSG alice :?first$`)
	expectPush(t, live, liveSub, vapid, `PRIVMSG alice :?first$`)
	bob.Send("PRIVMSG alice :second")
	expectPush(t, live, liveSub, vapid, `PRIVMSG alice :?second$`)
	gone.None(t) // its push would have been sent before the live one's
	pushCount(t, ts, "gone", 1)
	ts.shutdown()

	again := newTestServer(t, withAccounts(), withStore(st, vault))
	subs := again.srv.push.subsOf("alice")
	if len(subs) != 1 || subs[0].Endpoint != liveSub.Sub.Endpoint {
		t.Fatalf("after restart alice has %d subscriptions, want only the live one", len(subs))
	}
	again.register("bob").Send("PRIVMSG alice :after the restart")
	expectPush(t, live, liveSub, vapid, `PRIVMSG alice :after the restart$`)
	gone.None(t)
}

// TestWebpushInternalEndpointDropped runs the sender as production does,
// refusing internal addresses: a subscription whose endpoint is on
// loopback gets no request, and is dropped as if gone.
func TestWebpushInternalEndpointDropped(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts(), func(s *testServerSetup) {
		s.push = func(c *push.Config) { c.Workers = 1 }
	})
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := ts.dial()
	alice.RegisterAccount("alice", personalPassword, testPassword)
	subscribe(alice, ps)
	alice.quit()
	bob := ts.register("bob", "echo-message")
	bob.Send("PRIVMSG alice :knock knock")
	bob.Expect(`PRIVMSG alice :knock knock$`)
	// Shutdown waits for the sender to finish what was queued.
	ts.shutdown()
	ps.None(t)
	if subs := ts.srv.push.subsOf("alice"); len(subs) != 0 {
		t.Errorf("%d subscriptions left, want the internal one dropped", len(subs))
	}
	pushCount(t, ts, "failed", 1)
}

// TestWebpushRegisterErrors runs WEBPUSH into each refusal, and checks
// the cap, the ISUPPORT token and the command exist only with accounts.
func TestWebpushRegisterErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, withAccounts())
	ps := pushtest.NewService(t, http.StatusCreated)
	anon := ts.register("anon")
	good := pushtest.NewSubscriber(t, ps.Endpoint())
	anon.Send("WEBPUSH REGISTER %s %s", good.Sub.Endpoint, good.Keys)
	anon.Expect(`^:irc\.test FAIL WEBPUSH ACCOUNT_REQUIRED REGISTER :`)

	c := ts.dial()
	c.RegisterAccount("alice", personalPassword, testPassword)
	for _, tc := range []struct{ line, want string }{
		{"WEBPUSH REGISTER https://push.example.com/x", ` 461 alice WEBPUSH :Not enough parameters$`},
		{"WEBPUSH UNREGISTER", ` 461 alice WEBPUSH :Not enough parameters$`},
		{"WEBPUSH LIST", `^:irc\.test FAIL WEBPUSH INVALID_PARAMS LIST :`},
		{"WEBPUSH :two words", `^:irc\.test FAIL WEBPUSH INVALID_PARAMS \* :`},
		{"WEBPUSH REGISTER http://push.example.com/x " + good.Keys, `^:irc\.test FAIL WEBPUSH INVALID_PARAMS REGISTER :endpoint must be an https URL`},
		{"WEBPUSH REGISTER " + good.Sub.Endpoint + " p256dh=abc;auth=def", `^:irc\.test FAIL WEBPUSH INVALID_PARAMS REGISTER :keys must`},
		{"WEBPUSH REGISTER " + good.Sub.Endpoint + " auth=" + pushtest.B64(good.Auth), `^:irc\.test FAIL WEBPUSH INVALID_PARAMS REGISTER :keys must`},
	} {
		c.Send("%s", tc.line)
		c.Expect(tc.want)
	}
	var first *pushtest.Subscriber
	for i := range maxPushRegistrations {
		s := subscribe(c, ps)
		if i == 0 {
			first = s
		}
	}
	extra := pushtest.NewSubscriber(t, ps.Endpoint())
	c.Send("WEBPUSH REGISTER %s %s", extra.Sub.Endpoint, extra.Keys)
	c.Expect(`^:irc\.test FAIL WEBPUSH MAX_REGISTRATIONS REGISTER :`)
	// The same endpoint again replaces its keys rather than adding one.
	renewed := pushtest.NewSubscriber(t, first.Sub.Endpoint)
	c.Send("WEBPUSH REGISTER %s %s", first.Sub.Endpoint, renewed.Keys)
	c.Expect(`^:irc\.test WEBPUSH REGISTER ` + regexp.QuoteMeta(first.Sub.Endpoint) + `$`)
	if subs := ts.srv.push.subsOf("alice"); len(subs) != maxPushRegistrations || string(subs[0].Auth) != string(renewed.Auth) {
		t.Errorf("after re-registering: %d subscriptions, first has the new keys: %v", len(subs), string(subs[0].Auth) == string(renewed.Auth))
	}
	c.Send("WEBPUSH UNREGISTER %s", first.Sub.Endpoint)
	c.Expect(`^:irc\.test WEBPUSH UNREGISTER ` + regexp.QuoteMeta(first.Sub.Endpoint) + `$`)
	c.Send("WEBPUSH UNREGISTER %s", first.Sub.Endpoint) // unknown: still fine
	c.Expect(`^:irc\.test WEBPUSH UNREGISTER `)
	subscribe(c, ps) // room again

	off := newTestServer(t).dial()
	welcome := off.RegisterSASL("bob", testPassword)
	if strings.Contains(strings.Join(welcome, "\n"), "VAPID=") {
		t.Error("VAPID in ISUPPORT with accounts off")
	}
	off.Send("CAP REQ draft/webpush")
	off.Expect(`CAP bob NAK :?draft/webpush$`)
	off.Send("WEBPUSH REGISTER %s %s", good.Sub.Endpoint, good.Keys)
	off.Expect(` 421 bob WEBPUSH :Unknown command$`)
}

// TestWebpushSurvivesRestartRedis keeps a subscription and the VAPID key
// across a restart on a real Redis: the same key is offered, the push
// arrives, and neither Redis nor its RDB file holds the endpoint, the
// subscriber's keys or the VAPID private key in clear.
func TestWebpushSurvivesRestartRedis(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t, withAccounts())
	ps := pushtest.NewService(t, http.StatusCreated)
	alice := ts.dial()
	vapid := vapidKey(t, alice.RegisterAccount("alice", personalPassword, testPassword))
	sub := subscribe(alice, ps)
	alice.Join("#hideout")
	alice.quit()
	private := pushtest.B64(ts.srv.push.key.Marshal()[1:])
	ts.shutdown()
	_, token, _ := strings.Cut(sub.Sub.Endpoint, "/push/")
	var markers []string // assertNoMarker lowers the data, not the markers
	for _, m := range []string{token, pushtest.B64(sub.Sub.P256dh), pushtest.B64(sub.Auth), private, "hideout"} {
		markers = append(markers, strings.ToLower(m))
	}
	env.assertNoMarker(t, markers)

	again := env.server(t, withAccounts())
	if got := again.srv.push.key.Public(); got != vapid {
		t.Fatalf("VAPID key changed across a restart: %s, was %s", got, vapid)
	}
	bob := again.register("bob")
	bob.Send("PRIVMSG alice :still there?")
	expectPush(t, ps, sub, vapid, `PRIVMSG alice :still there\?$`)
}

// BenchmarkPushMentions is what looking for mentions adds to every
// channel message once anyone has subscribed: ten accounts subscribed,
// none of them in the channel (the common case), 50 members each logged
// in to an account.
func BenchmarkPushMentions(b *testing.B) {
	ts := newTestServer(b, withAccounts())
	for i := range 10 {
		sub := pushtest.NewSubscriber(b, "https://push.example.com/wpush/"+strconv.Itoa(i))
		if err := ts.srv.push.register(ts.srv, "sub"+strconv.Itoa(i), sub.Sub); err != nil {
			b.Fatal(err)
		}
	}
	members := benchMembers(ts.srv, "#bench", 50)
	for _, m := range members { // every member logged in, none subscribed
		account := m.nick
		m.acct.Store(&account)
	}
	ch := ts.srv.lookupChannel("#bench")
	text := "hello there " + strings.Repeat("lorem ipsum ", 6)
	o := &outMsg{base: &irc.Message{Prefix: members[0].prefix(), Command: "PRIVMSG", Params: []string{"#bench", text}}, at: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		ts.srv.pushMentions(members[0], ch, o, text)
	}
}
