package store

import (
	"strconv"
	"testing"

	"securechat/store/redistest"
)

// benchRecord returns a record with 200 bytes of data, about the size of a
// sealed chat line.
func benchRecord(i int) Record {
	return Record{ID: "msgid-" + strconv.Itoa(i), Time: at(i), Data: make([]byte, 200)}
}

func benchAppend(b *testing.B, s Store) {
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := s.Append(ctx, "bench", benchRecord(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchLatest50 reads the 50 newest of 1000 records, the common
// CHATHISTORY LATEST shape.
func benchLatest50(b *testing.B, s Store) {
	ctx := b.Context()
	for i := range 1000 {
		if err := s.Append(ctx, "bench", benchRecord(i)); err != nil {
			b.Fatal(err)
		}
	}
	q := Query{Limit: 50, FromNewest: true, Before: &Ref{Time: at(2000)}}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.Query(ctx, "bench", q)
		if err != nil || len(recs) != 50 {
			b.Fatalf("Query = %d records, %v", len(recs), err)
		}
	}
}

func benchRedis(b *testing.B) Store {
	return openRedis(b, redistest.Start(b), Options{MaxLen: 10000})
}

func benchCluster(b *testing.B) Store {
	return openCluster(b, redistest.StartCluster(b, 3), Options{MaxLen: 10000})
}

func BenchmarkRedisAppend(b *testing.B)          { benchAppend(b, benchRedis(b)) }
func BenchmarkRedisLatest50(b *testing.B)        { benchLatest50(b, benchRedis(b)) }
func BenchmarkRedisClusterAppend(b *testing.B)   { benchAppend(b, benchCluster(b)) }
func BenchmarkRedisClusterLatest50(b *testing.B) { benchLatest50(b, benchCluster(b)) }
func BenchmarkMemoryAppend(b *testing.B)         { benchAppend(b, NewMemory(Options{MaxLen: 10000})) }
func BenchmarkMemoryLatest50(b *testing.B)       { benchLatest50(b, NewMemory(Options{MaxLen: 10000})) }
