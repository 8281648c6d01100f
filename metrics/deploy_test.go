package metrics

// These tests keep deploy/ honest: the Prometheus config and rules must load
// in the Prometheus version Debian ships, the alerts must fire when they
// should, and the dashboard and alerts must name only metrics this package
// exports, while every exported family has a dashboard panel.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

const deployDir = "../deploy"

// promtool runs promtool with args in deployDir and fails the test on error.
// A missing promtool is a failure, not a skip: the checks would otherwise
// silently stop running on a machine without it.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	promtoolStdin(t, "", args...)
}

// promtoolStdin is promtool with stdin as the command's standard input.
func promtoolStdin(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(lookPrometheusTool(t, "promtool"), args...)
	cmd.Dir = deployDir
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// lookPrometheusTool returns the path of promtool or prometheus.
func lookPrometheusTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run .ci/install-deps (installs Debian's prometheus package)", name)
	}
	return path
}

func TestPrometheusConfigValid(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "config", "prometheus.yml")
}

func TestAlertRulesValid(t *testing.T) {
	t.Parallel()
	promtool(t, "check", "rules", "alerts.yml")
}

func TestAlertRulesFire(t *testing.T) {
	t.Parallel()
	promtool(t, "test", "rules", "alerts_test.yml")
}

// TestDashboardExpressionsParse feeds every dashboard query to promtool as
// a recording rule, after replacing Grafana's variables, so a PromQL typo
// fails here rather than as an empty panel.
func TestDashboardExpressionsParse(t *testing.T) {
	t.Parallel()
	grafanaVars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for i, e := range dashboardExprs(t) {
		rules = append(rules, rule{fmt.Sprintf("dashboard:expr_%d", i), grafanaVars.Replace(e.expr)})
	}
	file := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", path)
}

func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	families := exportedFamilies(t)
	for _, e := range dashboardExprs(t) {
		for _, name := range metricNames(e.expr, families) {
			if !families[name] {
				t.Errorf("panel %q queries %s, which metrics.New does not register", e.panel, name)
			}
		}
	}
}

func TestDashboardCoversEveryFamily(t *testing.T) {
	t.Parallel()
	families := exportedFamilies(t)
	used := map[string]bool{}
	for _, e := range dashboardExprs(t) {
		for _, name := range metricNames(e.expr, families) {
			used[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(families)) {
		if !used[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

func TestAlertsUseOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	families := exportedFamilies(t)
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "alerts.yml", &file)
	alerts := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, name := range metricNames(r.Expr, families) {
				if !families[name] {
					t.Errorf("alert %s uses %s, which metrics.New does not register", r.Alert, name)
				}
			}
		}
	}
	for _, want := range []string{"SecurechatDown", "AuthFailureSpike", "WriteQueueDrops", "SlowConsumers", "RedisLatencyHigh",
		"SecurechatClusterNodeDown", "SecurechatClusterSplitBrain", "SecurechatClusterMessagesLost"} {
		if !alerts[want] {
			t.Errorf("alerts.yml lacks alert %s", want)
		}
	}
}

// TestComposeSettings checks the compose file against the daemon's
// environment variables and keeps metrics and Redis off the host's ports.
func TestComposeSettings(t *testing.T) {
	t.Parallel()
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
	}
	readYAML(t, "docker-compose.yml", &compose)
	known := daemonSettings(t).env
	d, ok := compose.Services["securechatd"]
	if !ok {
		t.Fatal("docker-compose.yml has no securechatd service")
	}
	for k := range d.Environment {
		if !known[k] {
			t.Errorf("securechatd environment sets %s, which is no securechatd setting", k)
		}
	}
	if d.Environment["SECURECHAT_METRICS_LISTEN"] != "0.0.0.0:9477" {
		t.Errorf("SECURECHAT_METRICS_LISTEN = %q, want 0.0.0.0:9477 for Prometheus in the compose network",
			d.Environment["SECURECHAT_METRICS_LISTEN"])
	}
	for name, s := range compose.Services {
		for _, p := range s.Ports {
			if strings.Contains(p, "9477") || strings.Contains(p, "6379") {
				t.Errorf("service %s publishes %q: metrics and Redis stay inside the compose network", name, p)
			}
		}
	}
}

// TestSystemdUnitHardening checks the directives operators rely on are
// still in the unit.
func TestSystemdUnitHardening(t *testing.T) {
	t.Parallel()
	checkUnit(t, "securechatd.service", "StateDirectory=securechat",
		"EnvironmentFile=-/etc/securechat/securechatd.env",
		"ExecStart=/usr/local/bin/securechatd --data-dir /var/lib/securechat")
}

// unitHardening is the sandbox both systemd units must keep.
func unitHardening() []string {
	return []string{
		"DynamicUser=yes", "LimitNOFILE=65536",
		"ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes",
		"CapabilityBoundingSet=", "AmbientCapabilities=", "SystemCallFilter=@system-service",
		"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "ExecReload=/bin/kill -HUP $MAINPID",
	}
}

// exportedFamilies returns the securechat_* family names metrics.New
// registers, as a set.
func exportedFamilies(t *testing.T) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, name := range securechatFamilies(gatherTouched(t)) {
		set[name] = true
	}
	return set
}

// metricNames returns the securechat_* metric names in a PromQL expression,
// with the _bucket, _sum and _count series of histograms mapped to their
// family name.
func metricNames(expr string, families map[string]bool) []string {
	var names []string
	for _, name := range regexp.MustCompile(`securechat_[a-zA-Z0-9_]+`).FindAllString(expr, -1) {
		if !families[name] {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && families[base] {
					name = base
					break
				}
			}
		}
		names = append(names, name)
	}
	return names
}

type panelExpr struct{ panel, expr string }

// dashboardExprs returns every query in the Grafana dashboard, including
// those of panels nested in collapsed rows.
func dashboardExprs(t *testing.T) []panelExpr {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana", "dashboards", "securechat.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []panelExpr
	queue := dash.Panels
	for len(queue) > 0 {
		var p panel
		if err := json.Unmarshal(queue[0], &p); err != nil {
			t.Fatalf("dashboard panel: %v", err)
		}
		queue = append(queue[1:], p.Panels...)
		for _, tg := range p.Targets {
			exprs = append(exprs, panelExpr{p.Title, tg.Expr})
		}
	}
	if len(exprs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	return exprs
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}
