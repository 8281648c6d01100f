// Package redistest starts real redis-server processes for tests. There are
// no fakes: every server is the redis-server binary on PATH, listening on a
// free loopback port, with its data in the test's temporary directory.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Option configures Start.
type Option func(*config)

type config struct {
	password string
	args     []string
}

// WithPassword makes the server require password (requirepass).
func WithPassword(password string) Option {
	return func(c *config) { c.password = password }
}

// WithArgs passes extra configuration to redis-server, as "--name value"
// pairs.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is one redis-server process owned by a test. Its methods must be
// called from the test's goroutine; mu guards the process and client.
type Server struct {
	t    testing.TB
	cfg  config
	dir  string
	port int

	mu     sync.Mutex
	proc   *process // nil while stopped
	client *redis.Client
}

// process is a running redis-server and the channel its exit arrives on.
type process struct {
	cmd    *exec.Cmd
	exited chan error
}

// Start runs redis-server on a free 127.0.0.1 port with no persistence
// unless Save is called, waits until it answers PING, and stops it when the
// test ends. It fails the test if redis-server is not installed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redistest: redis-server not found on PATH (%v); run .ci/install-deps", err)
	}
	s := &Server{t: t, dir: t.TempDir()}
	for _, o := range opts {
		o(&s.cfg)
	}
	t.Cleanup(s.cleanup)
	// Another process may take the port between probing and binding it;
	// a few fresh ports make that race harmless.
	var err error
	for range 5 {
		s.port = FreePort(t)
		if err = s.launch(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", err)
	return nil
}

// FreePort asks the kernel for a loopback port that is unused at the
// moment; tests use it for every listener they must name in advance.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// launch starts the process on s.port and waits until it answers PING.
func (s *Server) launch() error {
	logPath := filepath.Join(s.t.TempDir(), "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command("redis-server", s.args()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	if err := s.waitReady(p); err != nil {
		p.kill()
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w; redis-server output:\n%s", err, out)
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

func (s *Server) args() []string {
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--dbfilename", "dump.rdb",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
	}
	if s.cfg.password != "" {
		args = append(args, "--requirepass", s.cfg.password)
	}
	return append(args, s.cfg.args...)
}

// waitReady polls PING until it succeeds, the process exits, or
// startTimeout passes.
func (s *Server) waitReady(p *process) error {
	c := redis.NewClient(s.options(-1))
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-p.exited:
			p.exited <- werr // kill reads it again
			return fmt.Errorf("redis-server exited: %v", werr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not answer PING within %v: %w", startTimeout, err)
		}
	}
}

// kill stops the process at once, as a crash would, and reaps it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (s *Server) options(maxRetries int) *redis.Options {
	return &redis.Options{
		Addr:       s.Addr(),
		Password:   s.cfg.password,
		MaxRetries: maxRetries,
		// A single local server has no maintenance notifications.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns redis://127.0.0.1:port/0, without the password (pass it
// separately, as the daemon reads it from a file).
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Password returns the requirepass password, or "".
func (s *Server) Password() string { return s.cfg.password }

// Dir returns the server's working directory, where Save writes dump.rdb.
func (s *Server) Dir() string { return s.dir }

// Client returns a client for assertions, shared by the test and closed
// when it ends.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(s.options(0))
	}
	return s.client
}

// Stop kills the server without saving, as a crash would. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// Restart stops the server if it runs and starts it again on the same port
// and directory, so it reloads the dump.rdb written by the last Save.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	// The old socket may linger briefly; the port is ours to reuse.
	for range 20 {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Save runs SAVE and returns the path of the dump.rdb it wrote.
func (s *Server) Save() string {
	s.t.Helper()
	if err := s.Client().Save(context.Background()).Err(); err != nil {
		s.t.Fatalf("redistest: SAVE: %v", err)
	}
	return filepath.Join(s.dir, "dump.rdb")
}

func (s *Server) cleanup() {
	s.Stop()
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}
