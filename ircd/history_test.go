package ircd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"gopkg.in/irc.v4"

	"securechat/config"
	"securechat/crypto"
	"securechat/ircd/history"
	"securechat/store"
	"securechat/store/redistest"
)

// redisEnv is a real redis-server with a store and a vault on it; the
// servers a test starts one after another share them, as a daemon
// restarted on the same Redis would.
type redisEnv struct {
	redis *redistest.Server
	store store.Store
	vault *crypto.Vault
}

func newRedisEnv(t testing.TB, opts ...redistest.Option) *redisEnv {
	t.Helper()
	srv := redistest.Start(t, opts...)
	return &redisEnv{redis: srv, store: openRedisStore(t, srv), vault: newTestVault(t)}
}

func openRedisStore(t testing.TB, srv *redistest.Server) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := store.OpenRedis(ctx, srv.URL(), store.Options{MaxLen: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// server starts an IRC server on the environment's store and vault.
func (e *redisEnv) server(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	return newTestServer(t, append([]serverOption{withStore(e.store, e.vault)}, opts...)...)
}

// flushHistory waits until every queued history record is in the store.
func (ts *testServer) flushHistory() {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.history.Flush(ctx); err != nil {
		ts.t.Fatalf("flush history: %v", err)
	}
}

func (ts *testServer) historyErrors(op string) float64 {
	var m dto.Metric
	if err := ts.metrics.HistoryErrors.WithLabelValues(op).Write(&m); err != nil {
		ts.t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// historyBatch reads up to the next chathistory batch and returns the
// messages inside it, checking each carries the batch tag.
func (c *testClient) historyBatch() []*irc.Message {
	c.T().Helper()
	start := c.Expect(`BATCH \+\S+ chathistory `)
	ref := strings.TrimPrefix(start.Params[0], "+")
	var out []*irc.Message
	for {
		m := c.Expect(`.`)
		if m.Command == "BATCH" && m.Params[0] == "-"+ref {
			return out
		}
		if m.Tags["batch"] != ref {
			c.T().Fatalf("%s: line inside batch %s lacks its tag: %v", c.Nick, ref, m)
		}
		out = append(out, m)
	}
}

func texts(ms []*irc.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Trailing()
	}
	return out
}

// say sends text to target as c (which must have echo-message) and
// returns the echo, so the test knows the msgid and time it got.
func (c *testClient) say(target, text string) *irc.Message {
	c.T().Helper()
	c.Send("PRIVMSG %s :%s", target, text)
	return c.Expect(`PRIVMSG ` + regexp.QuoteMeta(target) + ` :?` + regexp.QuoteMeta(text) + `$`)
}

var fullCaps = []string{"batch", "server-time", "message-tags", "echo-message", "draft/chathistory"}

// replayCaps are fullCaps without draft/chathistory, for a client that
// gets the JOIN replay (a draft/chathistory client gets none).
var replayCaps = []string{"batch", "server-time", "message-tags", "echo-message"}

// TestAtRestSecrecy chats with marker strings in every kind of name and
// text, then dumps every Redis value and the RDB file: no marker may
// appear in either, in any case.
func TestAtRestSecrecy(t *testing.T) {
	t.Parallel()
	// Uncompressed RDB strings, so a leaked plaintext would show verbatim.
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t)
	markers := []string{"nickqz7a", "nickqz7b", "#chanqz7", "textqz7", "topicqz7", "banqz7", "dmtextqz7", "keyqz7", "quitqz7"}
	a := ts.register("nickqz7a", fullCaps...)
	b := ts.register("nickqz7b")
	a.Join("#chanqz7")
	b.Join("#chanqz7")
	a.say("#chanqz7", "hello textqz7 there")
	a.Send("TOPIC #chanqz7 :the topicqz7 of the day")
	a.Send("MODE #chanqz7 +b banqz7!*@*")
	a.Send("MODE #chanqz7 +k keyqz7")
	a.say("nickqz7b", "psst dmtextqz7")
	b.Send("NOTICE #chanqz7 :notice textqz7")
	a.Sync()
	b.Send("QUIT :quitqz7")
	ts.flushHistory()
	env.assertNoMarker(t, markers)
}

// assertNoMarker checks that no marker appears in any Redis key or
// value, nor in the RDB file Redis saves now.
func (e *redisEnv) assertNoMarker(t *testing.T, markers []string) {
	t.Helper()
	for key, value := range dumpRedis(t, e.redis.Client()) {
		assertNoMarker(t, "key "+key, []byte(key), markers)
		assertNoMarker(t, "value of "+key, value, markers)
	}
	rdb, err := os.ReadFile(e.redis.Save())
	if err != nil {
		t.Fatal(err)
	}
	assertNoMarker(t, "dump.rdb", rdb, markers)
}

// dumpRedis returns every key with all its content, rendered by type.
func dumpRedis(t *testing.T, rc *redis.Client) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("no keys in redis (err %v)", err)
	}
	out := make(map[string][]byte)
	for _, k := range keys {
		var buf bytes.Buffer
		switch typ := rc.Type(ctx, k).Val(); typ {
		case "string":
			buf.WriteString(rc.Get(ctx, k).Val())
		case "hash":
			fmt.Fprint(&buf, rc.HGetAll(ctx, k).Val())
		case "stream":
			fmt.Fprint(&buf, rc.XRange(ctx, k, "-", "+").Val())
		case "zset":
			fmt.Fprint(&buf, rc.ZRangeWithScores(ctx, k, 0, -1).Val())
		default:
			t.Fatalf("unexpected redis type %q for %s", typ, k)
		}
		out[k] = buf.Bytes()
	}
	return out
}

func assertNoMarker(t *testing.T, what string, data []byte, markers []string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for _, m := range markers {
		if bytes.Contains(lower, []byte(strings.TrimPrefix(m, "#"))) {
			t.Errorf("%s contains marker %q", what, m)
		}
	}
}

// rawEntry is one stream entry as Redis holds it.
type rawEntry struct {
	id   string
	vals map[string]any
}

func readStream(t *testing.T, rc *redis.Client, key string) []rawEntry {
	t.Helper()
	msgs, err := rc.XRange(context.Background(), store.DefaultPrefix+"h:"+key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]rawEntry, len(msgs))
	for i, m := range msgs {
		out[i] = rawEntry{m.ID, m.Values}
	}
	return out
}

// writeStream replaces a stream's entries, keeping their IDs.
func writeStream(t *testing.T, rc *redis.Client, key string, entries []rawEntry) {
	t.Helper()
	ctx := context.Background()
	stream := store.DefaultPrefix + "h:" + key
	rc.Del(ctx, stream)
	for _, e := range entries {
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: e.id, Values: e.vals}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTamperedRecordsAreSkipped damages one stored record and moves one
// from another channel into the stream: a new server replays the rest,
// counts both as open errors and does not crash.
func TestTamperedRecordsAreSkipped(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts1 := env.server(t)
	a := ts1.register("alice", fullCaps...)
	a.Join("#a")
	a.Join("#b")
	for _, text := range []string{"one", "two", "three"} {
		a.say("#a", text)
		time.Sleep(2 * time.Millisecond) // distinct stream IDs
	}
	a.say("#b", "elsewhere")
	ts1.flushHistory()
	ts1.shutdown()

	rc := env.redis.Client()
	keyA := env.vault.TargetKey("#a")
	entries := readStream(t, rc, keyA)
	if len(entries) != 3 {
		t.Fatalf("want 3 stored records, got %d", len(entries))
	}
	d := []byte(entries[1].vals["d"].(string))
	d[len(d)/2] ^= 0x01
	entries[1].vals["d"] = string(d)
	moved := readStream(t, rc, env.vault.TargetKey("#b"))[0]
	moved.id = fmt.Sprintf("%d-0", time.Now().UnixMilli())
	writeStream(t, rc, keyA, append(entries, moved))

	ts2 := env.server(t)
	b := ts2.register("bob", "batch", "server-time", "message-tags")
	b.Send("JOIN #a")
	got := texts(b.historyBatch())
	if !slices.Equal(got, []string{"one", "three"}) {
		t.Fatalf("replay after tampering = %q, want [one three]", got)
	}
	// The CHATHISTORY TARGETS index, warmed at start, may open the
	// moved record (the newest of #a) a second time.
	if n := ts2.historyErrors("open"); n < 2 || n > 3 {
		t.Fatalf("history open errors = %v, want 2 (or 3 with the index warm-up)", n)
	}
	b.Sync()
}

// TestRestartKeepsHistoryAndTopic stops a server and starts another on
// the same Redis and keyring: a joining client sees the same msgids,
// times and texts, and the topic.
func TestRestartKeepsHistoryAndTopic(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	st := openRedisStore(t, srv)
	ts1 := newTestServer(t, withStore(st, openVault(t, st, testPassword, 24*time.Hour)))
	a := ts1.register("alice", fullCaps...)
	a.Join("#keep")
	var sent []*irc.Message
	for i := range 3 {
		sent = append(sent, a.say("#keep", fmt.Sprintf("before restart %d", i)))
	}
	a.Send("TOPIC #keep :kept topic")
	a.Expect(`TOPIC #keep`)
	a.Send("MODE #keep +klb sekrit 10 banned!*@*")
	a.Sync()
	state, topicKept := ts1.srv.lookupChannel("#keep").state()
	modesKept := state.Key == "sekrit" && state.Limit == 10 && len(state.Bans) == 1
	ts1.shutdown()

	ts2 := newTestServer(t, withStore(st, openVault(t, st, testPassword, 24*time.Hour)))
	b := ts2.register("bob", "batch", "server-time", "message-tags")
	if modesKept {
		b.Send("JOIN #keep")
		b.Expect(` 475 bob #keep `)
		b.Send("JOIN #keep sekrit")
	} else {
		t.Log("modes not checked: MODE +k/+l/+b did not change the channel state")
		b.Send("JOIN #keep")
	}
	if topicKept {
		if topic := b.Expect(` 332 bob #keep `); topic.Trailing() != "kept topic" {
			t.Fatalf("topic after restart = %q", topic.Trailing())
		}
		b.Expect(` 333 bob #keep alice`)
	} else {
		t.Log("topic not checked: Channel.state still reports nothing to persist")
	}
	got := b.historyBatch()
	if len(got) != len(sent) {
		t.Fatalf("replayed %d messages, want %d", len(got), len(sent))
	}
	for i, m := range got {
		w := sent[i]
		if m.Tags["msgid"] != w.Tags["msgid"] || m.Tags["time"] != w.Tags["time"] || m.Trailing() != w.Trailing() {
			t.Errorf("replay[%d] = %v, want msgid %s time %s %q", i, m, w.Tags["msgid"], w.Tags["time"], w.Trailing())
		}
	}
	if modesKept {
		b.Send("MODE #keep")
		if m := b.Expect(` 324 bob #keep `); !strings.Contains(strings.Join(m.Params, " "), "sekrit 10") {
			t.Errorf("modes after restart = %v", m.Params)
		}
		b.Send("MODE #keep b")
		b.Expect(` 367 bob #keep banned!\*@\* `)
	}
}

func openVault(t testing.TB, st store.State, pw string, epoch time.Duration) *crypto.Vault {
	t.Helper()
	v, err := history.OpenVault(context.Background(), st, []byte(pw), epoch)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPasswordChangeAndRotation changes the room password and rotates the
// key: earlier history stays readable, the old password stops working,
// and new records are sealed under the new key.
func TestPasswordChangeAndRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The password ends up as testPassword, which the test helpers log in
	// with; the server before the change gets the old one via PASS.
	const epoch, oldPW, newPW = 24 * time.Hour, "the old room password", testPassword
	srv := redistest.Start(t)
	st := openRedisStore(t, srv)
	ts1 := newTestServer(t, withStore(st, openVault(t, st, oldPW, epoch)))
	a := ts1.dial()
	a.RegisterPass("alice", oldPW, fullCaps...)
	a.Join("#pw")
	old := a.say("#pw", "sealed before the change")
	ts1.shutdown()

	if err := history.ChangePassword(ctx, st, []byte(oldPW), []byte(newPW), epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := history.OpenVault(ctx, st, []byte(oldPW), epoch); err == nil {
		t.Fatal("the old password still opens the keyring")
	}
	v2 := openVault(t, st, newPW, epoch)
	if v2.CheckPassword([]byte(oldPW)) || !v2.CheckPassword([]byte(newPW)) {
		t.Fatal("CheckPassword does not follow the password change")
	}
	assertLatest(t, newTestServer(t, withStore(st, v2)), "#pw", "sealed before the change")

	if err := history.RotateKey(ctx, st, []byte(newPW), epoch); err != nil {
		t.Fatal(err)
	}
	v3 := openVault(t, st, newPW, epoch)
	ts3 := newTestServer(t, withStore(st, v3))
	c := ts3.register("carol", fullCaps...)
	c.Join("#pw") // no replay: c has draft/chathistory
	fresh := c.say("#pw", "sealed after rotation")
	ts3.flushHistory()
	ids := keyIDs(t, srv.Client(), v3.TargetKey("#pw"))
	if ids[old.Tags["msgid"]] >= ids[fresh.Tags["msgid"]] {
		t.Fatalf("rotation did not change the sealing key: ids %v", ids)
	}
	assertLatest(t, ts3, "#pw", "sealed before the change", "sealed after rotation")
}

// assertLatest checks that a new client reading target's latest history
// on ts gets exactly want.
func assertLatest(t *testing.T, ts *testServer, target string, want ...string) {
	t.Helper()
	c := ts.register(fmt.Sprintf("reader%d", time.Now().UnixNano()%100000), fullCaps...)
	c.Join(target) // no replay: c has draft/chathistory
	c.Send("CHATHISTORY LATEST %s * 50", target)
	if got := texts(c.historyBatch()); !slices.Equal(got, want) {
		t.Fatalf("CHATHISTORY LATEST %s = %q, want %q", target, got, want)
	}
}

// keyIDs returns the data key id each stored record of key was sealed
// with, by msgid (bytes 1..4 of the sealed record).
func keyIDs(t *testing.T, rc *redis.Client, key string) map[string]uint32 {
	t.Helper()
	out := make(map[string]uint32)
	for _, e := range readStream(t, rc, key) {
		d := []byte(e.vals["d"].(string))
		out[e.vals["id"].(string)] = binary.BigEndian.Uint32(d[1:5])
	}
	return out
}

// TestExpiredKeysAreDestroyed keeps a copy of stored ciphertext, lets its
// key's epoch pass the maximum age and runs Maintain: the copy (as a
// backup would hold it) no longer opens with the current keyring, while a
// fresh record does.
func TestExpiredKeysAreDestroyed(t *testing.T) {
	t.Parallel()
	const epoch = time.Second
	srv := redistest.Start(t)
	st := openRedisStore(t, srv)
	v, err := crypto.NewKeyring([]byte(testPassword), cheapKDF, time.Now(), epoch)
	if err != nil {
		t.Fatal(err)
	}
	data, err := v.Keyring().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveKeyring(context.Background(), data); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, withStore(st, v), withConfig(func(c *config.Config) {
		c.KeyEpoch, c.HistoryMaxAge = epoch, 2*time.Second
	}))
	a := ts.register("alice", fullCaps...)
	a.Join("#old")
	a.say("#old", "soon unreadable")
	ts.flushHistory()
	key := v.TargetKey("#old")
	backupRDB, err := os.ReadFile(srv.Save())
	if err != nil || len(backupRDB) == 0 {
		t.Fatalf("saving the RDB: %v", err)
	}
	backup := readStream(t, srv.Client(), key)
	if _, err := openRaw(v, key, backup[0]); err != nil {
		t.Fatalf("the record does not open before expiry: %v", err)
	}

	time.Sleep(3*epoch + 500*time.Millisecond)
	if err := ts.srv.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	fresh := a.say("#old", "still readable")
	ts.flushHistory()
	current := openVault(t, st, testPassword, epoch) // the keyring as now stored
	for name, vault := range map[string]*crypto.Vault{"live vault": v, "stored keyring": current} {
		_, err := openRaw(vault, key, backup[0])
		if !errors.Is(err, crypto.ErrOpen) || !errors.Is(err, crypto.ErrUnknownKey) {
			t.Errorf("%s: expired record opens or fails oddly: %v", name, err)
		}
	}
	now := readStream(t, srv.Client(), key)
	if len(now) != 1 || now[0].vals["id"] != fresh.Tags["msgid"] {
		t.Fatalf("store after trim = %v, want only the fresh record", now)
	}
	if _, err := openRaw(current, key, now[0]); err != nil {
		t.Fatalf("a fresh record does not open: %v", err)
	}
}

// openRaw opens a raw stream entry the way history.open does.
func openRaw(v *crypto.Vault, key string, e rawEntry) ([]byte, error) {
	var ms int64
	if _, err := fmt.Sscanf(e.id, "%d-", &ms); err != nil {
		return nil, err
	}
	return v.Open(key, e.vals["id"].(string), time.UnixMilli(ms), []byte(e.vals["d"].(string)))
}

// TestReplayOnJoin checks the replay a joining client gets, by the
// capabilities it negotiated.
func TestReplayOnJoin(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t)
	a := ts.register("alice", fullCaps...)
	a.Join("#r")
	first := a.say("#r", "first")
	second := a.say("#r", "\x01ACTION waves\x01")

	t.Run("plain", func(t *testing.T) {
		c := ts.registerPass("plain")
		c.Send("JOIN #r")
		_, before := c.ExpectAfter(` 366 plain #r `)
		m1, skipped := c.ExpectAfter(`PRIVMSG #r :`)
		m2 := c.Expect(`PRIVMSG #r :`)
		stamp := regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\] first$`)
		if !stamp.MatchString(m1.Trailing()) || !strings.HasPrefix(m2.Trailing(), "\x01ACTION [") {
			t.Fatalf("replay without server-time = %q, %q", m1.Trailing(), m2.Trailing())
		}
		if len(m1.Tags) != 0 || slices.ContainsFunc(append(before, skipped...), func(l string) bool { return strings.Contains(l, "BATCH") }) {
			t.Fatalf("a client without caps got tags or a batch: %v %q", m1.Tags, skipped)
		}
	})
	t.Run("batch", func(t *testing.T) {
		c := ts.register("batcher", "batch", "server-time", "message-tags")
		c.Send("JOIN #r")
		c.Expect(` 366 batcher #r `)
		got := c.historyBatch()
		if len(got) != 2 {
			t.Fatalf("replay = %v", got)
		}
		for i, w := range []*irc.Message{first, second} {
			if got[i].Tags["msgid"] != w.Tags["msgid"] || got[i].Tags["time"] != w.Tags["time"] || got[i].Trailing() != w.Trailing() {
				t.Errorf("replay[%d] = %v, want %v", i, got[i], w)
			}
		}
	})
	t.Run("only before join", func(t *testing.T) {
		c := ts.register("early", "batch", "server-time", "message-tags")
		c.Send("JOIN #r")
		c.historyBatch()
		a.say("#r", "after early joined")
		c.Expect(`PRIVMSG #r :after early joined`)
		c.Quiet(`after early joined`, 200*time.Millisecond)
		d := ts.register("late", "batch", "server-time", "message-tags")
		d.Send("JOIN #r")
		if got := texts(d.historyBatch()); len(got) != 3 || got[2] != "after early joined" {
			t.Fatalf("late joiner's replay = %q", got)
		}
	})
}

// TestReplayAfterRestartLoadsTail checks a cold channel's replay comes
// from Redis and holds only messages sent before the join.
func TestReplayAfterRestartLoadsTail(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts1 := env.server(t)
	a := ts1.register("alice", fullCaps...)
	a.Join("#cold")
	for i := range 5 {
		a.say("#cold", fmt.Sprintf("stored %d", i))
	}
	ts1.shutdown()
	ts2 := env.server(t, withConfig(func(c *config.Config) { c.Replay = 3 }))
	b := ts2.register("bob", "batch", "server-time", "message-tags")
	b.Send("JOIN #cold")
	if got := texts(b.historyBatch()); !slices.Equal(got, []string{"stored 2", "stored 3", "stored 4"}) {
		t.Fatalf("cold replay = %q", got)
	}
}

func TestReplayDisabled(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t, withConfig(func(c *config.Config) { c.Replay = 0 }))
	a := ts.register("alice", fullCaps...)
	a.Join("#quiet")
	a.say("#quiet", "not replayed")
	ts.flushHistory()
	b := ts.register("bob", "batch", "server-time")
	b.Join("#quiet")
	b.Quiet(`BATCH|not replayed`, 300*time.Millisecond)
	// Stored all the same, and readable on request.
	b.Send("CHATHISTORY LATEST #quiet * 10")
	if got := texts(b.historyBatch()); !slices.Equal(got, []string{"not replayed"}) {
		t.Fatalf("CHATHISTORY with replay off = %q", got)
	}
}

// TestDirectHistoryParties checks private messages are stored and only
// their two parties can read them.
func TestDirectHistoryParties(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t)
	a := ts.register("alice", fullCaps...)
	b := ts.register("bob", fullCaps...)
	eve := ts.register("eve", fullCaps...)
	a.say("bob", "for bob only")
	b.Expect(`PRIVMSG bob :for bob only`)
	b.say("alice", "for alice only")
	// CHATHISTORY waits only briefly for the write queue; on a loaded
	// machine the records may need longer to reach Redis.
	ts.flushHistory()
	for _, tc := range []struct {
		c      *testClient
		target string
		want   []string
	}{
		{a, "bob", []string{"for alice only", "for bob only"}},
		{b, "ALICE", []string{"for alice only", "for bob only"}},
		{eve, "alice", nil},
		{eve, "bob", nil},
	} {
		tc.c.Send("CHATHISTORY LATEST %s * 10", tc.target)
		// Both lines may share a millisecond, and the server records a
		// message only after delivering it, so the reply can be stored
		// first: compare as sets.
		got := texts(tc.c.historyBatch())
		slices.Sort(got)
		if slices.Sort(tc.want); !slices.Equal(got, tc.want) {
			t.Errorf("%s reading %s = %q, want %q", tc.c.Nick, tc.target, got, tc.want)
		}
	}
}

func TestDirectHistoryOff(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t)
	ts := env.server(t, withConfig(func(c *config.Config) { c.StoreDirect = false }))
	a := ts.register("alice", fullCaps...)
	ts.register("bob")
	a.say("bob", "ephemeral")
	a.Send("CHATHISTORY LATEST bob * 10")
	if got := a.historyBatch(); len(got) != 0 {
		t.Fatalf("direct message stored with StoreDirect off: %v", got)
	}
}

// TestServerTimeMatchesFormat: the hand-rolled server-time formatter
// writes what time.Format does with timestampLayout, in every zone, for
// times across the range it handles and beyond it.
func TestServerTimeMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zone := time.FixedZone("X", -5*3600-30*60)
	times := []time.Time{
		time.Unix(0, 0), time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 2, 29, 0, 0, 0, 1e6, zone), time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for range 10000 {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)).In(zone))
	}
	for _, at := range times {
		if got, want := serverTime(at), at.UTC().Format(timestampLayout); got != want {
			t.Fatalf("serverTime(%v) = %q, want %q", at, got, want)
		}
	}
}
