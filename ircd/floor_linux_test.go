package ircd

import (
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackDeliveryFloor measures what the kernel alone charges for
// one steady-scenario delivery on this machine: a 150-byte write to one of
// 100 loopback TCP sockets, each with nothing else in flight, and the
// reader's wake-up and read. No IRC, no TLS, no Go scheduling between
// writes: one goroutine writes to the 100 sockets in turn and waits until
// all 100 lines have been read before the next round, as each member of a
// 100-member channel gets one line of a sparse stream. Rounds run back
// to back, or one every 2 ms as in the steady scenario (500 messages a
// second to 100-member channels), where the threads and caches go cold in
// between.
//
// write-cpu-ns/delivery is the writing thread's CPU, which is where Linux
// runs the loopback receive path too; it is what each delivery costs the
// daemon at least. cpu-ns/delivery adds the readers' side, which the load
// generator pays on the same two cores.
func BenchmarkLoopbackDeliveryFloor(b *testing.B) {
	b.Run("back-to-back", func(b *testing.B) { loopbackDeliveries(b, 0) })
	b.Run("every-2ms", func(b *testing.B) { loopbackDeliveries(b, 2*time.Millisecond) })
}

func loopbackDeliveries(b *testing.B, pause time.Duration) {
	const members, size = 100, 150
	writers, readers := loopbackPairs(b, members)
	var round sync.WaitGroup
	for _, r := range readers {
		go readLines(r, size, &round)
	}
	line := make([]byte, size)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self0, thread0 := cpuTime(b, syscall.RUSAGE_SELF), cpuTime(b, syscall.RUSAGE_THREAD)
	n := 0
	for b.Loop() { // one round: a line to each member
		round.Add(members)
		for _, w := range writers {
			if _, err := w.Write(line); err != nil {
				b.Fatal(err)
			}
		}
		round.Wait()
		n += members
		time.Sleep(pause)
	}
	thread, self := cpuTime(b, syscall.RUSAGE_THREAD)-thread0, cpuTime(b, syscall.RUSAGE_SELF)-self0
	b.ReportMetric(float64(thread)/float64(n), "write-cpu-ns/delivery")
	b.ReportMetric(float64(self)/float64(n), "cpu-ns/delivery")
}

// loopbackPairs returns n connected TCP pairs on 127.0.0.1.
func loopbackPairs(b *testing.B, n int) (writers, readers []net.Conn) {
	ln := loopbackListener(b)
	for range n {
		w, r := tcpPair(b, ln)
		writers, readers = append(writers, w), append(readers, r)
	}
	return writers, readers
}

// readLines reads size-byte lines from c, marking each done in round,
// until c is closed.
func readLines(c net.Conn, size int, round *sync.WaitGroup) {
	buf := make([]byte, 4096)
	got := 0
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		for got += n; got >= size; got -= size {
			round.Done()
		}
	}
}

// cpuTime returns the user and system CPU time of the process or thread.
func cpuTime(b *testing.B, who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
