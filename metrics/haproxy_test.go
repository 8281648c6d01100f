package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend is a TCP server standing in for one node's listener: it greets
// each connection with its name and holds it open until the client hangs
// up (then closes its end, as the daemon does) or stop closes it. HAProxy is what is under test here; it sees a listener
// that accepts and a connection that stays, as it would with securechatd.
type backend struct {
	name  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns = append(b.conns, c)
			b.mu.Unlock()
			fmt.Fprintf(c, "%s\n", name)
			go func() {
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(b.stop)
	return b
}

// closeListener makes the node refuse new connections, as a dead process
// does, while its open connections hang: only HAProxy can end them.
func (b *backend) closeListener() { _ = b.ln.Close() }

func (b *backend) stop() {
	b.closeListener()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		_ = c.Close()
	}
}

// startHAProxy starts three nodes' IRC and web listeners (irc[i] and
// web[i] stand for node i+1) and runs deploy/cluster/haproxy.cfg in front
// of them, its frontends bound to free loopback ports. It returns the IRC
// listeners and the IRC and web frontend addresses.
func startHAProxy(t *testing.T) (irc []*backend, ircAddr, webAddr string) {
	t.Helper()
	var web []*backend
	for i := 1; i <= 3; i++ {
		irc = append(irc, startBackend(t, fmt.Sprintf("node%d", i)))
		web = append(web, startBackend(t, fmt.Sprintf("web%d", i)))
	}
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy not found: run .ci/install-deps (installs Debian's haproxy package)")
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "cluster", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	ircAddr, webAddr = freeAddr(t), freeAddr(t)
	cfg := strings.NewReplacer("bind :6697", "bind "+ircAddr, "bind :8443", "bind "+webAddr).Replace(string(b))
	for i := range irc {
		node := fmt.Sprintf("node%d", i+1)
		cfg = regexp.MustCompile(`(server `+node+` )`+node+`:6697`).ReplaceAllString(cfg, "${1}"+irc[i].ln.Addr().String())
		cfg = regexp.MustCompile(`(server `+node+` )`+node+`:8443`).ReplaceAllString(cfg, "${1}"+web[i].ln.Addr().String())
	}
	if strings.Contains(cfg, ":6697") || strings.Contains(cfg, ":8443") {
		t.Fatalf("haproxy.cfg has addresses this test does not rewrite:\n%s", cfg)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
	return irc, ircAddr, webAddr
}

// dialNode connects through HAProxy and returns the connection and the name
// of the node that answered, or "" if HAProxy closed it first.
func dialNode(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	var c net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	name, _ := bufio.NewReader(c).ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(name)
}

// TestHAProxyBalancesNodes runs HAProxy with the cluster's configuration
// and checks what the nodes rely on: connections spread evenly by count
// (leastconn), the web listener is balanced too, and once a node stops
// accepting its stuck sessions are cut and new clients go to the others.
func TestHAProxyBalancesNodes(t *testing.T) {
	t.Parallel()
	irc, ircAddr, webAddr := startHAProxy(t)

	// Paced under the per-address limit of 4 new connections a second.
	pace := func() { time.Sleep(350 * time.Millisecond) }
	byNode := map[string][]net.Conn{}
	for range 6 {
		c, name := dialNode(t, ircAddr)
		byNode[name] = append(byNode[name], c)
		pace()
	}
	for _, n := range []string{"node1", "node2", "node3"} {
		if len(byNode[n]) != 2 {
			t.Fatalf("6 connections went %d to %s, want 2 on each node", len(byNode[n]), n)
		}
	}
	// node1's clients leave: it now has the fewest connections, so it gets
	// the next two (round robin would send one elsewhere).
	for _, c := range byNode["node1"] {
		_ = c.Close()
	}
	pace()
	for range 2 {
		if _, name := dialNode(t, ircAddr); name != "node1" {
			t.Errorf("new client went to %s, want node1, the least loaded (leastconn)", name)
		}
		pace()
	}
	if _, name := dialNode(t, webAddr); !strings.HasPrefix(name, "web") {
		t.Errorf("web frontend reached %q, want a node's web listener", name)
	}
	pace()

	irc[1].closeListener()
	for _, c := range byNode["node2"] {
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("a session on the dead node2 was not cut: read %d, %v", n, err)
		}
	}
	for range 4 {
		if _, name := dialNode(t, ircAddr); name != "node1" && name != "node3" {
			t.Errorf("with node2 down a new client reached %q", name)
		}
		pace()
	}
}

// TestHAProxyLimitsPerAddress checks that HAProxy, not the nodes (which
// see only its address), refuses a client opening connections faster than
// the daemon's default conn-rate-per-ip.
func TestHAProxyLimitsPerAddress(t *testing.T) {
	t.Parallel()
	_, ircAddr, _ := startHAProxy(t)
	_, first := dialNode(t, ircAddr) // HAProxy is up
	if first == "" {
		t.Fatal("first connection refused")
	}
	time.Sleep(1100 * time.Millisecond) // a fresh rate window
	refused := 0
	for range 8 {
		if _, name := dialNode(t, ircAddr); name == "" {
			refused++
		}
	}
	if refused == 0 {
		t.Error("8 connections at once from one address were all accepted, want the excess refused")
	}
}
