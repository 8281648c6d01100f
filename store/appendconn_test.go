package store

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/store/redistest"
)

// encodeArgs appends a command as go-redis's proto.Writer encodes args of
// the types the append path uses.
func encodeArgs(t *testing.T, b []byte, args []any) []byte {
	t.Helper()
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case int:
			s = strconv.Itoa(v)
		case int64:
			s = strconv.FormatInt(v, 10)
		case float64:
			s = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			t.Fatalf("argument %#v of unexpected type", a)
		}
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(s), s)
	}
	return b
}

// TestAppendCommandsMatchGoRedis checks that the raw pipeline holds the
// very commands the go-redis pipeline sent: XADDs built by xaddArgs and
// entryValues, in order, then one ZADD GT per key in any order.
// The go-redis encoding is kept here, as the reference.
func TestAppendCommandsMatchGoRedis(t *testing.T) {
	batch := []KeyedRecord{
		{Key: "a", Record: Record{ID: "m1", Time: at(5), Data: []byte("one")}},
		{Key: "b\x00\xff", Record: Record{ID: "m2", Time: at(3), Data: []byte{0, '\r', '\n'}}},
		{Key: "a", Record: Record{ID: "m3", Time: at(4), Data: []byte{}}}, // clock back
		{Key: "a", Record: Record{ID: "", Time: at(9)}},
	}
	for _, maxLen := range []int{0, 500} {
		client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialed
		defer client.Close()
		ours := newRedis(client, Options{MaxLen: maxLen, Prefix: "p:"})
		ref := newRedis(client, Options{MaxLen: maxLen, Prefix: "p:"})
		got, n := ours.appendCommands(nil, batch)

		p := client.Pipeline()
		var xadds []byte
		latest := map[string]int64{}
		for _, kr := range batch {
			ms := kr.Time.UnixMilli()
			idMs := ref.entryMs(kr.Key, ms)
			cmd := p.XAdd(t.Context(), ref.xaddArgs(ref.streamKey(kr.Key), strconv.FormatInt(idMs, 10)+"-*", entryValues(kr.Record, ms, idMs != ms)))
			xadds = encodeArgs(t, xadds, cmd.Args())
			latest[kr.Key] = max(latest[kr.Key], idMs)
		}
		zadds := map[string]bool{}
		for key, idMs := range latest {
			cmd := p.ZAddGT(t.Context(), ref.targetsKey(), redis.Z{Score: float64(idMs), Member: key})
			zadds[string(encodeArgs(t, nil, cmd.Args()))] = true
		}
		if n != len(batch)+len(latest) {
			t.Errorf("maxLen %d: %d commands, want %d", maxLen, n, len(batch)+len(latest))
		}
		rest, ok := strings.CutPrefix(string(got), string(xadds))
		if !ok {
			t.Fatalf("maxLen %d: XADDs\n%q\nwant\n%q", maxLen, got, xadds)
		}
		for z := range zadds {
			if i := strings.Index(rest, z); i >= 0 {
				rest = rest[:i] + rest[i+len(z):]
				delete(zadds, z)
			}
		}
		if rest != "" || len(zadds) != 0 {
			t.Errorf("maxLen %d: ZADDs left over %q, missing %q", maxLen, rest, slices.Collect(maps.Keys(zadds)))
		}
	}
}

// TestRedisAppendAuthAndDB appends through servers that need a password
// or an ACL user, into non-zero databases, and finds the records there
// and nowhere else.
func TestRedisAppendAuthAndDB(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pw"
	srv := redistest.Start(t, redistest.WithPassword(password), redistest.WithArgs("--user", "app", "on", ">app-pw", "~*", "&*", "+@all"))
	tests := []struct {
		name string
		url  string
		opts Options
		db   int
		conn string // what CLIENT LIST shows of the append connection
	}{
		{"password option", "redis://" + srv.Addr() + "/3", Options{Password: password}, 3, "user=default"},
		{"ACL user in URL", "redis://app:app-pw@" + srv.Addr() + "/5", Options{}, 5, "user=app"},
		{"default user and client name", "redis://default:" + password + "@" + srv.Addr() + "/2?client_name=sc-append", Options{}, 2, "name=sc-append"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			r, err := OpenRedis(ctx, tt.url, tt.opts)
			if err != nil {
				t.Fatalf("OpenRedis: %v", err)
			}
			defer r.Close()
			batch := []KeyedRecord{
				{Key: "x", Record: Record{ID: "1", Time: at(1), Data: []byte("a")}},
				{Key: "y", Record: Record{ID: "2", Time: at(2), Data: []byte("b")}},
				{Key: "x", Record: Record{ID: "3", Time: at(3), Data: []byte("c")}},
			}
			if err := r.AppendBatch(ctx, batch); err != nil {
				t.Fatalf("AppendBatch: %v", err)
			}
			if got := ids(mustQuery(t, r, "x", Query{Limit: 10})); !slices.Equal(got, []string{"1", "3"}) {
				t.Errorf("x = %v, want [1 3]", got)
			}
			check := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: password, DB: tt.db})
			defer check.Close()
			if n, err := check.XLen(ctx, "sc:h:y").Result(); err != nil || n != 1 {
				t.Errorf("XLEN sc:h:y in db %d = %d, %v; want 1", tt.db, n, err)
			}
			checkAppendConn(t, srv, " db="+strconv.Itoa(tt.db)+" ", " "+tt.conn+" ")
		})
	}
	if n, err := srv.Client().DBSize(t.Context()).Result(); err != nil || n != 0 {
		t.Errorf("db 0 holds %d keys, %v; want none", n, err)
	}
}

// checkAppendConn checks that CLIENT LIST shows the append connection,
// the only one whose last command was the ZADD ending a batch, with each
// of fields.
func checkAppendConn(t *testing.T, srv *redistest.Server, fields ...string) {
	t.Helper()
	list, err := srv.Client().ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(list) {
		if !strings.Contains(line, " cmd=zadd ") {
			continue
		}
		for _, f := range fields {
			if !strings.Contains(line, f) {
				t.Errorf("append connection lacks %q: %s", f, line)
			}
		}
		return
	}
	t.Errorf("CLIENT LIST shows no append connection:\n%s", list)
}

// TestRedisAppendTLS appends through a rediss:// URL: the append
// connection uses the URL's TLS settings, to the server's TLS port.
func TestRedisAppendTLS(t *testing.T) {
	t.Parallel()
	cert, key := selfSignedCert(t)
	tlsPort := strconv.Itoa(redistest.FreePort(t))
	srv := redistest.Start(t, redistest.WithArgs("--tls-port", tlsPort,
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-auth-clients", "no"))
	r, err := OpenRedis(t.Context(), "rediss://127.0.0.1:"+tlsPort+"/4?skip_verify=true", Options{})
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	defer r.Close()
	mustAppend(t, r, "k", Record{ID: "1", Time: at(1)})
	if got := ids(mustQuery(t, r, "k", Query{Limit: 10})); !slices.Equal(got, []string{"1"}) {
		t.Errorf("k = %v, want [1]", got)
	}
	checkAppendConn(t, srv, " db=4 ", " laddr=127.0.0.1:"+tlsPort+" ")
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, in PEM,
// and returns their paths.
func selfSignedCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	return certPath, keyPath
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRedisAppendAuthFails: when the server's password changes under a
// running store, the append connection's setup fails with Redis's error,
// which never shows the password.
func TestRedisAppendAuthFails(t *testing.T) {
	t.Parallel()
	const password = "old-pw"
	srv := redistest.Start(t, redistest.WithPassword(password))
	r := openRedis(t, srv, Options{})
	if err := srv.Client().ConfigSet(t.Context(), "requirepass", "new-pw").Err(); err != nil {
		t.Fatal(err)
	}
	err := r.AppendBatch(t.Context(), []KeyedRecord{{Key: "k", Record: Record{ID: "1", Time: at(1)}}})
	var redisErr redis.Error
	if err == nil || !errors.As(err, &redisErr) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("AppendBatch = %v, want a WRONGPASS error reply", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Errorf("error %q reveals the password", err)
	}
}

// TestRedisAppendStaleID: another process wrote k's stream ahead of this
// store, so the batch's XADDs for k are refused; those records are added
// with Redis-assigned IDs, in order and keeping their times, and the
// other key's records are written as usual.
func TestRedisAppendStaleID(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := openRedis(t, srv, Options{})
	ctx := t.Context()
	ahead := strconv.FormatInt(at(1000).UnixMilli(), 10) + "-0"
	if err := srv.Client().XAdd(ctx, &redis.XAddArgs{Stream: "sc:h:k", ID: ahead, Values: []any{"id", "other", "d", ""}}).Err(); err != nil {
		t.Fatal(err)
	}
	batch := []KeyedRecord{
		{Key: "k", Record: Record{ID: "a", Time: at(1)}},
		{Key: "j", Record: Record{ID: "b", Time: at(2)}},
		{Key: "k", Record: Record{ID: "c", Time: at(3)}},
		{Key: "j", Record: Record{ID: "d", Time: at(4)}},
	}
	if err := r.AppendBatch(ctx, batch); err != nil {
		t.Fatalf("AppendBatch: %v", err)
	}
	got := mustQuery(t, r, "k", Query{Limit: 10})
	if !slices.Equal(ids(got), []string{"other", "a", "c"}) || !got[1].Time.Equal(at(1)) || !got[2].Time.Equal(at(3)) {
		t.Fatalf("k = %v, want [other a c] with a at %v and c at %v", got, at(1), at(3))
	}
	if got := mustQuery(t, r, "j", Query{Limit: 10}); !slices.Equal(ids(got), []string{"b", "d"}) || !got[1].Time.Equal(at(4)) {
		t.Errorf("j = %v, want [b d]", got)
	}
}

// TestRedisAppendAfterClientKill: the server closes the idle append
// connection; the next batch is written in full, once.
func TestRedisAppendAfterClientKill(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := openRedis(t, srv, Options{})
	ctx := t.Context()
	batch := func(from int) []KeyedRecord {
		var b []KeyedRecord
		for i := from; i < from+10; i++ {
			b = append(b, KeyedRecord{Key: "k", Record: Record{ID: strconv.Itoa(i), Time: at(i)}})
		}
		return b
	}
	if err := r.AppendBatch(ctx, batch(0)); err != nil {
		t.Fatal(err)
	}
	if n, err := srv.Client().ClientKillByFilter(ctx, "type", "normal").Result(); err != nil || n == 0 {
		t.Fatalf("CLIENT KILL = %d, %v", n, err)
	}
	if err := r.AppendBatch(ctx, batch(10)); err != nil {
		t.Fatalf("AppendBatch after CLIENT KILL: %v", err)
	}
	var want []string
	for i := range 20 {
		want = append(want, strconv.Itoa(i))
	}
	if got := ids(mustQuery(t, r, "k", Query{Limit: 100})); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}

// TestQueueSurvivesClientKills kills every client connection again and
// again while the queue writes, so some pipelines die half way. Every
// record must be stored, first appearances in order; duplicates may only
// come from pipelines that failed, each at most a batch of them.
func TestQueueSurvivesClientKills(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := openRedis(t, srv, Options{})
	var failures atomic.Int64
	q := NewQueue(r, fastRetry(QueueOptions{Size: 10000, OnError: func(error) { failures.Add(1) }}))
	closeQueue(t, q)
	stop := make(chan struct{})
	var kills atomic.Int64
	var wg sync.WaitGroup
	killer := srv.Client()
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if n, _ := killer.ClientKillByFilter(context.Background(), "type", "normal").Result(); n > 0 {
				kills.Add(1)
			}
		}
	})
	const n = 3000
	data := []byte(strings.Repeat("x", 200))
	for i := range n {
		if !q.Append("k", Record{ID: strconv.Itoa(i), Time: at(i), Data: data}) {
			t.Fatalf("Append %d refused", i)
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := q.Flush(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := ids(mustQuery(t, r, "k", Query{Limit: 4 * n}))
	checkAtLeastOnce(t, got, n, int(failures.Load()+kills.Load())*maxBatch)
	t.Logf("%d kills, %d failed writes, %d duplicates", kills.Load(), failures.Load(), len(got)-n)
}

// checkAtLeastOnce checks that got holds ids 0..n-1, first appearances in
// order, with at most maxDup repeats.
func checkAtLeastOnce(t *testing.T, got []string, n, maxDup int) {
	t.Helper()
	seen := map[string]bool{}
	next := 0
	for _, id := range got {
		if seen[id] {
			continue
		}
		if id != strconv.Itoa(next) {
			t.Fatalf("record %s stored before %d", id, next)
		}
		seen[id] = true
		next++
	}
	if next != n || len(got)-n > maxDup {
		t.Fatalf("stored %d distinct of %d records with %d duplicates (at most %d allowed)", next, n, len(got)-n, maxDup)
	}
}

// TestRedisAppendTimeoutAndCancel: while the server holds writes back, a
// batch fails when its context's deadline passes or it is cancelled, in
// time; the batch written afterwards succeeds, and each record is stored.
func TestRedisAppendTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := openRedis(t, srv, Options{})
	rec := func(i int) []KeyedRecord {
		return []KeyedRecord{{Key: "k", Record: Record{ID: strconv.Itoa(i), Time: at(i)}}}
	}
	if err := r.AppendBatch(t.Context(), rec(0)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client().Do(t.Context(), "client", "pause", "3000", "write").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 100*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for i, tt := range tests {
		ctx, cancel := tt.ctx()
		start := time.Now()
		err := r.AppendBatch(ctx, rec(i+1))
		cancel()
		if !errors.Is(err, tt.want) || time.Since(start) > time.Second {
			t.Errorf("%s: AppendBatch = %v after %v, want %v at once", tt.name, err, time.Since(start), tt.want)
		}
	}
	if err := srv.Client().ClientUnpause(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendBatch(t.Context(), slices.Concat(rec(1), rec(2), rec(3))); err != nil {
		t.Fatalf("AppendBatch after unpause: %v", err)
	}
	checkAtLeastOnce(t, ids(mustQuery(t, r, "k", Query{Limit: 100})), 4, 2)
}

// fakeStep is what fakeRedis does on one accepted connection: for each
// step, read that many commands, then write the reply.
type fakeStep struct {
	commands int
	reply    string
}

// fakeRedis serves scripted replies, one script per connection in turn,
// and closes each connection after its script. It counts connections.
func fakeRedis(t *testing.T, scripts ...[]fakeStep) (addr string, accepted *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted = new(atomic.Int64)
	go func() {
		for _, script := range scripts {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			serveScript(conn, script)
		}
	}()
	return ln.Addr().String(), accepted
}

func serveScript(conn net.Conn, script []fakeStep) {
	defer conn.Close()
	rd := &respReader{br: bufio.NewReader(conn)}
	for _, step := range script {
		if _, err := rd.readErrors(nil, step.commands); err != nil {
			return
		}
		if _, err := conn.Write([]byte(step.reply)); err != nil {
			return
		}
	}
}

// TestAppendConnRedials runs batches of 2 XADDs and a ZADD against a fake
// server: a reply of unknown type is a protocol error that costs the
// connection; an unexpected but well-formed reply is read past; a
// connection the server closed while idle is redialed within the batch.
func TestAppendConnRedials(t *testing.T) {
	t.Parallel()
	ok := "$3\r\n1-0\r\n$3\r\n1-1\r\n:1\r\n"
	addr, accepted := fakeRedis(t,
		[]fakeStep{{3, "?garbage\r\n"}},
		[]fakeStep{{3, "*2\r\n$1\r\na\r\n*1\r\n:1\r\n$3\r\n1-1\r\n:1\r\n"}, {3, ok}},
		[]fakeStep{{3, ok}},
	)
	client := redis.NewClient(&redis.Options{Addr: addr})
	r := newRedis(client, Options{})
	defer r.Close()
	batch := func(i int) []KeyedRecord {
		return []KeyedRecord{
			{Key: "k", Record: Record{ID: "a", Time: at(2 * i)}},
			{Key: "k", Record: Record{ID: "b", Time: at(2*i + 1)}},
		}
	}
	ctx := t.Context()
	if err := r.AppendBatch(ctx, batch(0)); !errors.Is(err, errProtocol) {
		t.Fatalf("batch 0 = %v, want a protocol error", err)
	}
	for i := 1; i <= 3; i++ {
		if err := r.AppendBatch(ctx, batch(i)); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
	_ = r.Close()
	if err := r.AppendBatch(ctx, batch(4)); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("AppendBatch after Close = %v, want redis.ErrClosed", err)
	}
}

// TestStaleXAddMatchesGoRedis checks the XADD that re-adds a record with a
// Redis-assigned ID (its time kept in a field) against go-redis's.
func TestStaleXAddMatchesGoRedis(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialed
	defer client.Close()
	r := newRedis(client, Options{MaxLen: 500, Prefix: "p:"})
	kr := KeyedRecord{Key: "k", Record: Record{ID: "m1", Time: at(7), Data: []byte("sealed")}}
	ms := kr.Time.UnixMilli()
	want := encodeArgs(t, nil, client.Pipeline().XAdd(t.Context(), r.xaddArgs(r.streamKey(kr.Key), "*", entryValues(kr.Record, ms, true))).Args())
	if got := r.appendXAdd(nil, kr, []byte("*"), ms, true); string(got) != string(want) {
		t.Fatalf("XADD\n%q\nwant\n%q", got, want)
	}
}

// xaddArgs is the go-redis XAdd of an entry, as the store sent it before
// it wrote its own RESP.
func (r *Redis) xaddArgs(stream, id string, values []any) *redis.XAddArgs {
	a := &redis.XAddArgs{Stream: stream, ID: id, Values: values}
	if r.maxLen > 0 {
		a.MaxLen, a.Approx = int64(r.maxLen), true
	}
	return a
}

// entryValues are a stream entry's fields for xaddArgs; the time field is
// only written when the entry ID cannot carry the record's time.
func entryValues(rec Record, ms int64, withTime bool) []any {
	values := []any{fieldID, rec.ID, fieldData, rec.Data}
	if withTime {
		values = append(values, fieldTime, ms)
	}
	return values
}

// TestRedisAppendIndexError: Redis refuses the targets index update (the
// key holds the wrong type). The records are stored all the same, and the
// refusal is reported once per batch, not swallowed.
func TestRedisAppendIndexError(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var reported []error
	r := openRedis(t, srv, Options{OnIndexError: func(err error) { reported = append(reported, err) }})
	ctx := t.Context()
	batch := []KeyedRecord{{Key: "k", Record: Record{ID: "a", Time: at(1)}}}
	if err := r.AppendBatch(ctx, batch); err != nil || len(reported) != 0 {
		t.Fatalf("AppendBatch with a sound index: %v, reported %v", err, reported)
	}
	if err := srv.Client().Set(ctx, "sc:targets", "not a sorted set", 0).Err(); err != nil {
		t.Fatal(err)
	}
	batch = []KeyedRecord{{Key: "k", Record: Record{ID: "b", Time: at(2)}}, {Key: "j", Record: Record{ID: "c", Time: at(3)}}}
	if err := r.AppendBatch(ctx, batch); err != nil {
		t.Fatalf("AppendBatch with a broken index: %v", err)
	}
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "WRONGTYPE") {
		t.Errorf("reported %v, want one WRONGTYPE error", reported)
	}
	if got := mustQuery(t, r, "k", Query{Limit: 10}); !slices.Equal(ids(got), []string{"a", "b"}) {
		t.Errorf("k = %v, want [a b]", ids(got))
	}
}
