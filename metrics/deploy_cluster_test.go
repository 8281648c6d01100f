package metrics

// These tests keep the cluster deploy kit (deploy/cluster, the systemd
// template unit) consistent with itself and with the daemon: three nodes
// with distinct ids and metrics ports, all sharing one Redis and one room
// password; HAProxy naming each of them; Prometheus scraping each of them;
// and HAProxy and systemd accepting their files.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/config"
)

// clusterNode is one securechatd service of deploy/cluster/docker-compose.yml.
type clusterNode struct {
	service string
	id      string            // --node-id
	env     map[string]string // environment, shared part merged in
}

// composeService is what the tests read of a compose service.
type composeService struct {
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
}

// clusterCompose reads deploy/cluster/docker-compose.yml.
func clusterCompose(t *testing.T) map[string]composeService {
	t.Helper()
	var compose struct {
		Services map[string]composeService `yaml:"services"`
	}
	readYAML(t, "cluster/docker-compose.yml", &compose)
	return compose.Services
}

// clusterNodes returns the compose services that run securechatd with
// --cluster, in service-name order.
func clusterNodes(t *testing.T) []clusterNode {
	t.Helper()
	services := clusterCompose(t)
	var nodes []clusterNode
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if !slices.Contains(s.Command, "--cluster") {
			continue
		}
		i := slices.Index(s.Command, "--node-id")
		if i < 0 || i+1 >= len(s.Command) {
			t.Fatalf("service %s runs --cluster without --node-id: %q", name, s.Command)
		}
		nodes = append(nodes, clusterNode{service: name, id: s.Command[i+1], env: s.Environment})
	}
	if len(nodes) != 3 {
		t.Fatalf("cluster compose runs %d securechatd nodes, want 3", len(nodes))
	}
	return nodes
}

// port returns the port of a host:port setting, failing the test if the
// value is not one.
func port(t *testing.T, what, hostport string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil || p == "" {
		t.Fatalf("%s = %q, not host:port", what, hostport)
	}
	return p
}

// TestDashboardFiltersByNode checks that the dashboard's Node selector (the
// instance variable, multi-valued with All) reaches every metric of every
// query, so each panel can show one node of a cluster or several.
func TestDashboardFiltersByNode(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dashboards", "securechat.json"))
	if err != nil {
		t.Fatal(err)
	}
	type variable struct {
		Name       string `json:"name"`
		Multi      bool   `json:"multi"`
		IncludeAll bool   `json:"includeAll"`
	}
	var dash struct {
		Templating struct {
			List []variable `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(dash.Templating.List, variable{"instance", true, true}) {
		t.Fatal("dashboard lacks a multi-valued instance variable with All")
	}
	selector := regexp.MustCompile(`[a-z_:]+\{[^}]*\}|[a-z_:]+`)
	for _, e := range dashboardExprs(t) {
		for _, m := range selector.FindAllString(e.expr, -1) {
			isMetric := strings.HasPrefix(m, "securechat_") || strings.HasPrefix(m, "go_") ||
				strings.HasPrefix(m, "process_") || strings.HasPrefix(m, "up{")
			if isMetric && !strings.Contains(m, `instance=~"$instance"`) {
				t.Errorf("panel %q: %s is not filtered by the Node selector", e.panel, m)
			}
		}
	}
}

// TestClusterComposeNodes checks that the three nodes are distinct where
// they must be (id, metrics port, data volume) and the same where they
// must be (Redis, room password, certificate), and that they use only
// settings the daemon has.
func TestClusterComposeNodes(t *testing.T) {
	t.Parallel()
	known := daemonSettings(t)
	services := clusterCompose(t)
	ids, metricsPorts := map[string]bool{}, map[string]bool{}
	shared := []string{"SECURECHAT_REDIS", "SECURECHAT_REDIS_PASSWORD_FILE", "SECURECHAT_PASSWORD_FILE",
		"SECURECHAT_TLS_CERT", "SECURECHAT_TLS_KEY", "SECURECHAT_SERVER_NAME"}
	first := clusterNodes(t)[0]
	for _, n := range clusterNodes(t) {
		ids[n.id] = true
		p := port(t, n.service+" SECURECHAT_METRICS_LISTEN", n.env["SECURECHAT_METRICS_LISTEN"])
		metricsPorts[p] = true
		if !slices.Contains(services[n.service].Expose, p) {
			t.Errorf("%s does not expose its metrics port %s to Prometheus", n.service, p)
		}
		for _, k := range shared {
			if n.env[k] == "" || n.env[k] != first.env[k] {
				t.Errorf("%s sets %s = %q, want the value every node shares (%s: %q)", n.service, k, n.env[k], first.service, first.env[k])
			}
		}
		for k := range n.env {
			if !known.env[k] {
				t.Errorf("%s environment sets %s, which is no securechatd setting", n.service, k)
			}
		}
		for _, a := range services[n.service].Command {
			if name, ok := strings.CutPrefix(a, "--"); ok && !known.flags[name] {
				t.Errorf("%s command passes %s, which is no securechatd flag", n.service, a)
			}
		}
	}
	if len(ids) != 3 || len(metricsPorts) != 3 {
		t.Errorf("node ids %v and metrics ports %v: want 3 distinct of each", slices.Sorted(maps.Keys(ids)), slices.Sorted(maps.Keys(metricsPorts)))
	}
	if !strings.HasPrefix(first.env["SECURECHAT_REDIS"], "redis://redis:") {
		t.Errorf("SECURECHAT_REDIS = %q, want the compose file's redis service", first.env["SECURECHAT_REDIS"])
	}
}

// TestClusterComposePorts checks that clients reach the nodes only through
// HAProxy, and metrics and Redis not at all from outside.
func TestClusterComposePorts(t *testing.T) {
	t.Parallel()
	services := clusterCompose(t)
	for _, n := range clusterNodes(t) {
		if len(services[n.service].Ports) != 0 {
			t.Errorf("node %s publishes %q: clients go through haproxy", n.service, services[n.service].Ports)
		}
	}
	if got := services["haproxy"].Ports; !slices.Equal(got, []string{"6697:6697", "8443:8443"}) {
		t.Errorf("haproxy publishes %q, want 6697 and 8443", got)
	}
	for name, s := range services {
		for _, p := range s.Ports {
			if strings.Contains(p, "947") || strings.Contains(p, "6379") {
				t.Errorf("service %s publishes %q: metrics and Redis stay inside the compose network", name, p)
			}
		}
	}
}

// TestClusterHAProxyConfig runs Debian's HAProxy on haproxy.cfg and checks
// that both backends balance over every node at the port it listens on,
// with idle limits longer than the daemon's own ping cycle.
func TestClusterHAProxyConfig(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy not found: run .ci/install-deps (installs Debian's haproxy package)")
	}
	cmd := exec.Command(bin, "-c", "-f", "haproxy.cfg")
	cmd.Dir = filepath.Join(deployDir, "cluster")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	// The node names resolve only inside the compose network; any other
	// warning is a mistake in the file.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "[WARNING]") && !strings.Contains(l, "could not resolve address") {
			t.Errorf("haproxy -c: %s", l)
		}
	}

	cfg := haproxySections(t)
	for backend, setting := range map[string]string{"irc_nodes": "SECURECHAT_LISTEN", "web_nodes": "SECURECHAT_WEB_LISTEN"} {
		lines := cfg["backend "+backend]
		if !slices.Contains(lines, "balance leastconn") {
			t.Errorf("backend %s does not balance leastconn", backend)
		}
		var servers, want []string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "server" {
				servers = append(servers, f[2])
			}
		}
		for _, n := range clusterNodes(t) {
			want = append(want, n.service+":"+port(t, n.service+" "+setting, n.env[setting]))
		}
		if !slices.Equal(servers, want) {
			t.Errorf("backend %s servers %q, want %q", backend, servers, want)
		}
	}

	defaults := cfg["defaults"]
	for _, want := range []string{"mode tcp", "option tcpka"} {
		if !slices.Contains(defaults, want) {
			t.Errorf("haproxy.cfg defaults lack %q", want)
		}
	}
	if !slices.ContainsFunc(defaults, func(l string) bool { return strings.HasPrefix(l, "default-server check") }) {
		t.Error("haproxy.cfg does not health-check the nodes")
	}
	d := config.Defaults()
	for _, name := range []string{"client", "server"} {
		if got := haproxyTimeout(t, defaults, name); got <= d.PingInterval+d.PingTimeout {
			t.Errorf("timeout %s %v cuts idle IRC clients before the daemon's ping cycle (%v)", name, got, d.PingInterval+d.PingTimeout)
		}
	}
}

// haproxySections returns haproxy.cfg's lines, trimmed and without
// comments, by section header ("defaults", "backend irc_nodes").
func haproxySections(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "cluster", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sections := map[string][]string{}
	var current string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		raw := sc.Text()
		line, _, _ := strings.Cut(raw, "#")
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case raw[0] != ' ' && raw[0] != '\t':
			current = line
		default:
			sections[current] = append(sections[current], line)
		}
	}
	return sections
}

// haproxyTimeout returns "timeout <name>" from lines as a duration.
func haproxyTimeout(t *testing.T, lines []string, name string) time.Duration {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(l, "timeout "+name+" "); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("timeout %s %q: %v", name, v, err)
			}
			return d
		}
	}
	t.Fatalf("haproxy.cfg sets no timeout %s", name)
	return 0
}

// TestClusterPrometheusConfig checks the cluster's Prometheus config with
// promtool, laid out as the compose file mounts it (the shared alerts.yml
// beside it), and that it scrapes each node at its metrics port under its
// node id, which the dashboard's Node selector lists.
func TestClusterPrometheusConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for dst, src := range map[string]string{"prometheus.yml": "cluster/prometheus.yml", "alerts.yml": "alerts.yml"} {
		b, err := os.ReadFile(filepath.Join(deployDir, src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	promtool(t, "check", "config", filepath.Join(dir, "prometheus.yml"))

	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "cluster/prometheus.yml", &prom)
	var got, want []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "securechat" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				got = append(got, st.Labels["instance"]+"="+target)
			}
		}
	}
	for _, n := range clusterNodes(t) {
		want = append(want, fmt.Sprintf("%s=%s:%s", n.id, n.service, port(t, n.service, n.env["SECURECHAT_METRICS_LISTEN"])))
	}
	if !slices.Equal(got, want) {
		t.Errorf("securechat job scrapes %q, want %q (instance=target)", got, want)
	}
}

// TestSystemdTemplateUnit checks the template unit keeps the single-node
// unit's sandbox and runs each instance as its own cluster node, and that
// the example node files give each node its own ports.
func TestSystemdTemplateUnit(t *testing.T) {
	t.Parallel()
	checkUnit(t, "securechatd@.service", "StateDirectory=securechat-node-%i",
		"ExecStart=/usr/local/bin/securechatd --data-dir /var/lib/securechat-node-%i --cluster --drain",
		"EnvironmentFile=-/etc/securechat/securechatd.env", "EnvironmentFile=/etc/securechat/node-%i.env",
		"Environment=SECURECHAT_NODE_ID=%l-%i")

	known := daemonSettings(t)
	seen := map[string]string{}
	for n := 1; n <= 3; n++ {
		name := fmt.Sprintf("cluster/node-%d.env", n)
		env := readEnvFile(t, name)
		for k, v := range env {
			if !known.env[k] {
				t.Errorf("%s sets %s, which is no securechatd setting", name, k)
			}
			if !strings.HasSuffix(k, "_LISTEN") {
				continue
			}
			p := port(t, name+" "+k, v)
			if other, dup := seen[p]; dup {
				t.Errorf("%s %s uses port %s, as %s does", name, k, p, other)
			}
			seen[p] = name + " " + k
		}
		for _, k := range []string{"SECURECHAT_LISTEN", "SECURECHAT_WEB_LISTEN", "SECURECHAT_METRICS_LISTEN"} {
			if env[k] == "" {
				t.Errorf("%s does not set %s", name, k)
			}
		}
	}
	if _, clash := seen["6697"]; clash {
		t.Error("a node listens on 6697, where the load balancer takes clients")
	}
}

// TestSystemdVerify runs systemd-analyze verify on both units, with the
// daemon's path pointed at an executable that exists here.
func TestSystemdVerify(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: run .ci/install-deps (installs Debian's systemd package)")
	}
	exe, err := os.Executable() // any executable file will do for verify
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for src, dst := range map[string]string{"securechatd.service": "securechatd.service", "securechatd@.service": "securechatd@1.service"} {
		b, err := os.ReadFile(filepath.Join(deployDir, src))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(b), "/usr/local/bin/securechatd", exe)
		if err := os.WriteFile(filepath.Join(dir, dst), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "verify", "./"+dst)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", src, err, out)
		}
	}
}

// checkUnit fails the test unless the unit file name in deployDir has
// every line of unitHardening and of extra.
func checkUnit(t *testing.T, name string, extra ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range deployLines(t, name) {
		lines[l] = true
	}
	for _, want := range append(unitHardening(), extra...) {
		if !lines[want] {
			t.Errorf("%s lacks %q", name, want)
		}
	}
}

// readEnvFile reads a KEY=value file in deployDir, skipping comments.
func readEnvFile(t *testing.T, name string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, l := range deployLines(t, name) {
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", name, l)
		}
		env[k] = v
	}
	return env
}

// deployLines returns the lines of a file in deployDir, trimmed.
func deployLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// knownSettings are the daemon's flag names and environment variables.
type knownSettings struct{ flags, env map[string]bool }

// daemonSettings reads the daemon's settings from the reference its --help
// prints, so the deploy files are checked against the real flag table.
func daemonSettings(t *testing.T) knownSettings {
	t.Helper()
	var b strings.Builder
	config.Usage(&b)
	k := knownSettings{flags: map[string]bool{}, env: map[string]bool{"SECURECHAT_PASSWORD": true}}
	add := func(name string) {
		k.flags[name] = true
		k.env["SECURECHAT_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if name, ok := strings.CutPrefix(l, "  --"); ok {
			name, _, _ = strings.Cut(name, "=")
			add(name)
		}
	}
	if len(k.flags) < 10 {
		t.Fatalf("found only %d settings in config.Usage:\n%s", len(k.flags), b.String())
	}
	return k
}
