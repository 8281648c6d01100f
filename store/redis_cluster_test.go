package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"securechat/store/redistest"
)

// openCluster opens a store on c and closes it when the test ends.
func openCluster(t testing.TB, c *redistest.Cluster, opts Options) *Redis {
	t.Helper()
	r, err := OpenRedisCluster(context.Background(), c.URL(), opts)
	if err != nil {
		t.Fatalf("OpenRedisCluster: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestRedisClusterContract runs the whole store contract on a real
// 3-master Redis Cluster, each store under its own prefix.
func TestRedisClusterContract(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	testStorePrefixed(t, func(t *testing.T, opts Options) *Redis { return openCluster(t, c, opts) })
}

// TestQueueSurvivesClusterClientKills is TestQueueSurvivesClientKills
// on a cluster, every master dropping its clients, with records for five
// targets so that batches span masters and may fail on some only.
func TestQueueSurvivesClusterClientKills(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	testQueueSurvivesKills(t, openCluster(t, c, Options{}), 5, func() bool {
		killed := false
		for _, srv := range c.Servers {
			n, _ := srv.Client().ClientKillByFilter(context.Background(), "type", "normal").Result()
			killed = killed || n > 0
		}
		return killed
	})
}

// TestRedisClusterKeySlots writes many targets and checks, with Redis's
// own CLUSTER KEYSLOT, that each target's stream shares a slot with the
// index set its scripts update, that the index buckets sit at evenly
// spread slots, and that the targets land on every master. It also
// checks that the cluster holds exactly the keys the layout names, built
// from the prefix and the opaque target keys alone.
func TestRedisClusterKeySlots(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	s := openCluster(t, c, Options{})
	ctx := t.Context()
	want := map[string]bool{"sc:keyring": true, "sc:channels": true, "sc:b:account": true}
	for i := range 60 {
		key := fmt.Sprintf("opaque-%02d", i)
		mustAppend(t, s, key, Record{ID: "m", Time: at(i), Data: []byte("sealed")})
		want[s.names.stream(key)], want[s.names.index(key)] = true, true
		if stream, index := slotOf(t, c, s.names.stream(key)), slotOf(t, c, s.names.index(key)); stream != index {
			t.Errorf("target %s: stream in slot %d, its index in slot %d", key, stream, index)
		}
	}
	saveGlobals(t, s)
	for i, index := range s.names.indexes() {
		if got, lo := slotOf(t, c, index), i*slotCount/indexBuckets; got < lo || got >= lo+slotCount/indexBuckets {
			t.Errorf("index bucket %d (%s) in slot %d, want [%d, %d)", i, index, got, lo, lo+slotCount/indexBuckets)
		}
	}
	got := map[string]bool{}
	for i, srv := range c.Servers {
		keys, err := srv.Client().Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if streams := countPrefixed(keys, "h:"); streams < 10 {
			t.Errorf("master %d holds %d of the 60 streams; the targets do not spread", i, streams)
		}
		for _, k := range keys {
			got[k] = true
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("keys in the cluster:\n%v\nwant:\n%v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

// saveGlobals writes the keyring, a channel state and a blob.
func saveGlobals(t *testing.T, s *Redis) {
	t.Helper()
	ctx := t.Context()
	if err := s.SaveKeyring(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveChannelState(ctx, "chan", []byte("s")); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBlob(ctx, "account", "acct", []byte("b")); err != nil {
		t.Fatal(err)
	}
}

// slotOf asks the cluster which slot key hashes to.
func slotOf(t *testing.T, c *redistest.Cluster, key string) int {
	t.Helper()
	slot, err := c.Client().ClusterKeySlot(t.Context(), key).Result()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	return int(slot)
}

// countPrefixed counts the keys whose name, after the hash tag, starts
// with kind.
func countPrefixed(keys []string, kind string) int {
	n := 0
	for _, k := range keys {
		if _, rest, ok := strings.Cut(k, "}"); ok && strings.HasPrefix(rest, kind) {
			n++
		}
	}
	return n
}

// TestRedisClusterPingEveryMaster: readiness fails while one master is
// down, though the others answer, and recovers when it is back.
func TestRedisClusterPingEveryMaster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	s := openCluster(t, c, Options{})
	c.Servers[1].Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping with a master down = nil, want an error")
	}
	c.Servers[1].Restart()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the master is back: %v", err)
	}
}

// TestKeySlot checks the slot hash against the Redis Cluster
// specification's CRC16 check value and against CLUSTER KEYSLOT.
func TestKeySlot(t *testing.T) {
	t.Parallel()
	if got := keySlot("123456789"); got != 0x31c3 {
		t.Errorf("keySlot(123456789) = %#x, want 0x31c3", got)
	}
	c := redistest.StartCluster(t, 3)
	for _, s := range []string{"", "a", "opaque-key", "x\x00\xff", "0.0", strings.Repeat("z", 300)} {
		if got, want := int(keySlot(s)), slotOf(t, c, s); got != want {
			t.Errorf("keySlot(%q) = %d, CLUSTER KEYSLOT says %d", s, got, want)
		}
	}
}

// TestOpenRedisCluster covers the URL forms and what is refused.
func TestOpenRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3)
	dead := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	tests := []struct {
		name   string
		url    string
		prefix string
		ok     bool
	}{
		{"all seeds", c.URL(), "", true},
		{"one seed finds the rest", "redis://" + c.Addrs()[1], "", true},
		{"dead first seed", "redis://" + dead + "?addr=" + c.Addrs()[2], "", true},
		{"database path ignored", "redis://" + c.Addrs()[0] + "/0", "", true},
		{"only dead seeds", "redis://" + dead, "", false},
		{"prefix with a hash tag", c.URL(), "{x}:", false},
		{"unknown parameter", "redis://" + c.Addrs()[0] + "?bogus=1", "", false},
		{"bad URL keeps secret", "redis://:s3cret-pw@127.0.0.1:notaport", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			r, err := OpenRedisCluster(ctx, tt.url, Options{Prefix: tt.prefix})
			if tt.ok {
				if err != nil {
					t.Fatalf("OpenRedisCluster: %v", err)
				}
				defer r.Close()
				mustAppend(t, r, "k", Record{ID: "1", Time: at(1)})
				if got := ids(mustQuery(t, r, "k", Query{Limit: 10})); len(got) == 0 {
					t.Errorf("nothing read back")
				}
				return
			}
			if err == nil {
				_ = r.Close()
				t.Fatal("OpenRedisCluster succeeded, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

// TestLinkClient checks that the coordination client is of the right kind
// for a single Redis and a cluster, speaks RESP2 and reaches the same
// data.
func TestLinkClient(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := redistest.StartCluster(t, 3)
	tests := []struct {
		name    string
		store   *Redis
		cluster bool
	}{
		{"single", openRedis(t, srv, Options{}), false},
		{"cluster", openCluster(t, c, Options{}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			link := tt.store.LinkClient()
			defer link.Close()
			var proto int
			switch lc := link.(type) {
			case *redis.Client:
				proto = lc.Options().Protocol
			case *redis.ClusterClient:
				proto = lc.Options().Protocol
			}
			if _, isCluster := link.(*redis.ClusterClient); isCluster != tt.cluster || proto != 2 {
				t.Errorf("LinkClient = %T with protocol %d, want cluster=%v and RESP2", link, proto, tt.cluster)
			}
			if err := link.Ping(t.Context()).Err(); err != nil {
				t.Fatalf("PING: %v", err)
			}
			if err := tt.store.SaveKeyring(t.Context(), []byte("shared")); err != nil {
				t.Fatal(err)
			}
			if got, err := link.Get(t.Context(), tt.store.names.keyring()).Result(); err != nil || got != "shared" {
				t.Errorf("keyring through the link client = %q, %v; want shared", got, err)
			}
		})
	}
}
