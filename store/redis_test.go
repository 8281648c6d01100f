package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"securechat/store/redistest"
)

// openRedis opens a store on srv and closes it when the test ends.
func openRedis(t testing.TB, srv *redistest.Server, opts Options) *Redis {
	t.Helper()
	if opts.Password == "" {
		opts.Password = srv.Password()
	}
	r, err := OpenRedis(context.Background(), srv.URL(), opts)
	if err != nil {
		t.Fatalf("OpenRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestRedisContract runs the contract on one server, each store under its
// own prefix, which also shows that prefixes keep stores apart.
func TestRedisContract(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	testStorePrefixed(t, func(t *testing.T, opts Options) *Redis { return openRedis(t, srv, opts) })
}

// testStorePrefixed runs the contract on the stores open returns, each
// under its own prefix.
func testStorePrefixed(t *testing.T, open func(t *testing.T, opts Options) *Redis) {
	var n atomic.Int64
	testStore(t, func(t *testing.T, opts Options) Store {
		opts.Prefix = "c" + strconv.FormatInt(n.Add(1), 10) + ":"
		return open(t, opts)
	})
}

func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	ctx := t.Context()
	mustAppend(t, s, "opaque", Record{ID: "m1", Time: at(1), Data: []byte("sealed")})
	if err := s.SaveKeyring(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveChannelState(ctx, "chan", []byte("s")); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client().Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := "[sc:channels sc:h:opaque sc:keyring sc:targets]"
	if got := strings.Join(slices.Sorted(slices.Values(keys)), " "); "["+got+"]" != want {
		t.Errorf("keys = [%s], want %s", got, want)
	}
	id := strconv.FormatInt(at(1).UnixMilli(), 10) + "-0"
	msgs, err := srv.Client().XRange(ctx, "sc:h:opaque", "-", "+").Result()
	if err != nil || len(msgs) != 1 || msgs[0].ID != id || msgs[0].Values["id"] != "m1" || msgs[0].Values["d"] != "sealed" {
		t.Errorf("stream = %+v, %v; want one entry %s {id m1 d sealed}", msgs, err, id)
	}
}

func TestRedisPassword(t *testing.T) {
	t.Parallel()
	const password = "s3cret-pw"
	srv := redistest.Start(t, redistest.WithPassword(password))
	tests := []struct {
		name     string
		url      string
		password string
		ok       bool
	}{
		{"from options", srv.URL(), password, true},
		{"from URL", "redis://:" + password + "@" + srv.Addr() + "/0", "", true},
		{"options override URL", "redis://:wrong-in-url@" + srv.Addr() + "/0", password, true},
		{"missing", srv.URL(), "", false},
		{"wrong", srv.URL(), "not-" + password, false},
		{"bad URL keeps secret", "redis://:" + password + "@127.0.0.1:notaport/0", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			r, err := OpenRedis(ctx, tt.url, Options{Password: tt.password})
			if tt.ok {
				if err != nil {
					t.Fatalf("OpenRedis: %v", err)
				}
				_ = r.Close()
				return
			}
			if err == nil {
				_ = r.Close()
				t.Fatal("OpenRedis succeeded, want an error")
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func TestRedisObserveLatency(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var mu sync.Mutex
	seen := map[string]int{}
	s := openRedis(t, srv, Options{ObserveLatency: func(op string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d > 0 {
			seen[op]++
		}
	}})
	mustAppend(t, s, "k", Record{ID: "1", Time: at(1)})
	mustQuery(t, s, "k", Query{Limit: 1})
	if _, err := s.Targets(t.Context(), time.Time{}, time.Time{}, 1); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{"ping", "append", "query", "targets"} {
		if seen[op] == 0 {
			t.Errorf("no latency observed for %q (saw %v)", op, seen)
		}
	}
}

// TestRedisPersistsAcrossRestart checks what redistest's Save and Restart
// promise, on which ircd's restart tests rely.
func TestRedisPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openRedis(t, srv, Options{})
	mustAppend(t, s, "k", Record{ID: "kept", Time: at(1)})
	srv.Save()
	mustAppend(t, s, "k", Record{ID: "lost", Time: at(2)})
	srv.Restart()
	got := ids(mustQuery(t, s, "k", Query{Limit: 10}))
	if strings.Join(got, ",") != "kept" {
		t.Errorf("after restart = %v, want [kept]", got)
	}
}
