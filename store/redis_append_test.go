package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
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
	testQueueSurvivesKills(t, openRedis(t, srv, Options{}), 1, func() bool {
		n, _ := srv.Client().ClientKillByFilter(context.Background(), "type", "normal").Result()
		return n > 0
	})
}

// testQueueSurvivesKills writes through a queue to r over keys keys while
// kill drops connections, and checks each key's records as
// TestQueueSurvivesClientKills says.
func testQueueSurvivesKills(t *testing.T, r *Redis, keys int, kill func() bool) {
	var failures atomic.Int64
	q := NewQueue(r, fastRetry(QueueOptions{Size: 10000, OnError: func(error) { failures.Add(1) }}))
	closeQueue(t, q)
	stop := make(chan struct{})
	var kills atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if kill() {
				kills.Add(1)
			}
		}
	})
	const n = 3000
	data := []byte(strings.Repeat("x", 200))
	for i := range n {
		if !q.Append("k"+strconv.Itoa(i%keys), Record{ID: strconv.Itoa(i / keys), Time: at(i), Data: data}) {
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
	dups := 0
	for k := range keys {
		got := ids(mustQuery(t, r, "k"+strconv.Itoa(k), Query{Limit: 4 * n}))
		checkAtLeastOnce(t, got, n/keys, int(failures.Load()+kills.Load())*maxBatch)
		dups += len(got) - n/keys
	}
	t.Logf("%d kills, %d failed writes, %d duplicates", kills.Load(), failures.Load(), dups)
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

// TestRedisAppendTimeout: while the server holds writes back, a batch
// fails when its context's deadline passes, in time; the batch written
// afterwards succeeds, and each record is stored. (go-redis does not abort
// a round trip when a context without a deadline is cancelled, so the
// Queue always gives its writes one.)
func TestRedisAppendTimeout(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	start := time.Now()
	err := r.AppendBatch(ctx, rec(1))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("AppendBatch = %v after %v, want %v at once", err, time.Since(start), context.DeadlineExceeded)
	}
	if err := srv.Client().ClientUnpause(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendBatch(t.Context(), slices.Concat(rec(1), rec(2), rec(3))); err != nil {
		t.Fatalf("AppendBatch after unpause: %v", err)
	}
	checkAtLeastOnce(t, ids(mustQuery(t, r, "k", Query{Limit: 100})), 4, 1)
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

// TestRedisAppendRefused: a record whose stream key holds another type is
// refused as ErrRefused, for the queue to discard, while a server that
// cannot take writes for now (a read-only replica) is not: that batch must
// be retried, and succeeds once the server takes writes again.
func TestRedisAppendRefused(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r := openRedis(t, srv, Options{})
	ctx := t.Context()
	if err := srv.Client().Set(ctx, "sc:h:taken", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	batch := []KeyedRecord{{Key: "taken", Record: Record{ID: "1", Time: at(1)}}}
	if err := r.AppendBatch(ctx, batch); !errors.Is(err, ErrRefused) {
		t.Errorf("AppendBatch to a string key = %v, want ErrRefused", err)
	}
	// REPLICAOF a port nobody listens on: the server turns read-only.
	port := strconv.Itoa(redistest.FreePort(t))
	if err := srv.Client().Do(ctx, "replicaof", "127.0.0.1", port).Err(); err != nil {
		t.Fatal(err)
	}
	batch = []KeyedRecord{{Key: "k", Record: Record{ID: "2", Time: at(2)}}}
	err := r.AppendBatch(ctx, batch)
	if err == nil || errors.Is(err, ErrRefused) || !redis.IsReadOnlyError(err) {
		t.Errorf("AppendBatch to a read-only replica = %v, want a READONLY error that is not ErrRefused", err)
	}
	if err := srv.Client().Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendBatch(ctx, batch); err != nil {
		t.Fatalf("AppendBatch once writable again: %v", err)
	}
}

// TestRedisTopPrunedOnTrim: TrimBefore forgets the streams it emptied from
// the per-stream ID hint, so the hint does not grow with every target
// ever written, and a stream written again afterwards still works.
func TestRedisTopPrunedOnTrim(t *testing.T) {
	t.Parallel()
	r := openRedis(t, redistest.Start(t), Options{})
	for i := range 50 {
		mustAppend(t, r, "old"+strconv.Itoa(i), Record{ID: "o", Time: at(i)})
	}
	mustAppend(t, r, "new", Record{ID: "n", Time: at(500)})
	if err := r.TrimBefore(t.Context(), at(100)); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	keys := slices.Sorted(maps.Keys(r.top))
	r.mu.Unlock()
	if !slices.Equal(keys, []string{"new"}) {
		t.Errorf("top after TrimBefore holds %v, want [new]", keys)
	}
	mustAppend(t, r, "old1", Record{ID: "again", Time: at(600)})
	if got := ids(mustQuery(t, r, "old1", Query{Limit: 10})); !slices.Equal(got, []string{"again"}) {
		t.Errorf("old1 after trim and append = %v, want [again]", got)
	}
}
