//go:build unix

package store

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"securechat/store/redistest"
)

// BenchmarkRedisAppendBatch50 writes what the Queue writes under load:
// batches of 50 records of 250 bytes, spread over a few keys. Besides
// wall time, which redis-server dominates, it reports the CPU this
// process spent per batch (cpu-ns/op): the client's share, which is what
// the append path costs the daemon. redis-server is a child, not counted.
func BenchmarkRedisAppendBatch50(b *testing.B) {
	benchAppendBatch50(b, openRedis(b, redistest.Start(b), Options{MaxLen: 10000}))
}

// BenchmarkRedisClusterAppendBatch50 is the same on a 3-master cluster,
// where a batch's keys fan out over the masters.
func BenchmarkRedisClusterAppendBatch50(b *testing.B) {
	benchAppendBatch50(b, openCluster(b, redistest.StartCluster(b, 3), Options{MaxLen: 10000}))
}

func benchAppendBatch50(b *testing.B, s *Redis) {
	const size, keys = 50, 5
	ctx := b.Context()
	data := make([]byte, 250)
	batch := make([]KeyedRecord, size)
	for j := range batch {
		batch[j] = KeyedRecord{Key: "bench" + strconv.Itoa(j%keys), Record: Record{ID: "msgid-" + strconv.Itoa(1e15+j), Data: data}}
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	ms := 0
	for b.Loop() {
		for j := range batch {
			batch[j].Time = at(ms)
			ms++
		}
		if err := s.AppendBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
