package redistest

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Monitor is redis-cli MONITOR running against one server, for tests that
// check what reaches Redis. Its methods must be called from the test's
// goroutine.
type Monitor struct {
	s       *Server
	lines   chan string
	seen    []string
	markers int
}

// Monitor starts redis-cli MONITOR and returns once it logs commands; it
// is stopped when the test ends.
func (s *Server) Monitor() *Monitor {
	s.t.Helper()
	cmd := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "monitor")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("redistest: monitor: %v", err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: monitor: %v", err)
	}
	m := &Monitor{s: s, lines: make(chan string, 1024)}
	go func() {
		defer close(m.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			m.lines <- sc.Text()
		}
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range m.lines { // let the reader finish so Wait can close the pipe
		}
		_ = cmd.Wait()
	})
	m.Sync()
	return m
}

// Sync returns every line MONITOR logged so far: it sends a marker command
// (ECHO) and reads until the marker shows, so everything the server ran
// before the call is included.
func (m *Monitor) Sync() []string {
	m.s.t.Helper()
	m.markers++
	marker := fmt.Sprintf("redistest-marker-%d", m.markers)
	timeout := time.After(startTimeout)
	for {
		// Repeat the marker: the first may run before MONITOR attaches.
		if err := m.s.Client().Echo(context.Background(), marker).Err(); err != nil {
			m.s.t.Fatalf("redistest: monitor marker: %v", err)
		}
		for {
			select {
			case l, ok := <-m.lines:
				if !ok {
					m.s.t.Fatal("redistest: redis-cli monitor exited")
				}
				if strings.Contains(l, marker) {
					return m.seen
				}
				m.seen = append(m.seen, l)
				continue
			case <-time.After(100 * time.Millisecond):
			case <-timeout:
				m.s.t.Fatalf("redistest: MONITOR did not show %s within %v", marker, startTimeout)
			}
			break
		}
	}
}
