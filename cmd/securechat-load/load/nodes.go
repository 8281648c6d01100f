package load

import (
	"errors"
	"fmt"
	"strings"
)

// A run spreads its users over the addresses of --addr: the nodes of a
// cluster, or one server. One address is the n = 1 case of the same code.
// Deliveries between users on the same address and between users on
// different ones are counted apart (path), so a cluster's cross-node
// latency shows beside the one a single node gives.

// path says whether a delivery stayed on one server address or crossed
// from the sender's address to another.
type path uint8

const (
	sameNode path = iota
	crossNode
	paths // the number of paths
)

// splitList splits a comma-separated flag value; "" is no entry at all,
// while an empty entry ("a,,b") is kept so that validation reports it.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	list := strings.Split(s, ",")
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	return list
}

// nodeOf returns the address index of user i among n addresses. Channel k
// (= i mod channels) holds users k, k+channels, k+2·channels, …; they go
// round-robin over the addresses, each channel starting one address
// further than the last. So a channel with at least n members has some on
// every address, its traffic crosses nodes, and the first senders of the
// channels (the lowest indices) are spread over the addresses too.
func nodeOf(i, channels, n int) int {
	return (i/channels + i%channels) % n
}

// validateAddrs checks --addr and --web-addr: each entry a host:port that
// CheckTarget allows, none twice, one web listener per node, and enough
// members per channel for every channel to reach every node.
func validateAddrs(c *Config) []error {
	var errs []error
	if len(c.Addrs) == 0 {
		errs = append(errs, errors.New("--addr: no address given"))
	}
	errs = append(errs, checkTargets("--addr", c.Addrs, c.OwnServer)...)
	switch {
	case c.WebAddrs == nil:
	case c.Transport == "tcp":
		errs = append(errs, errors.New("--web-addr applies to --transport ws and mixed only"))
	case len(c.WebAddrs) != len(c.Addrs):
		errs = append(errs, fmt.Errorf("--web-addr lists %d addresses and --addr %d: give one web listener per node, in the order of --addr",
			len(c.WebAddrs), len(c.Addrs)))
	default:
		errs = append(errs, checkTargets("--web-addr", c.WebAddrs, c.OwnServer)...)
	}
	if n := len(c.Addrs); n > 1 && c.Channels > 0 && c.Users/c.Channels < n {
		errs = append(errs, fmt.Errorf("--users %d over --channels %d leaves channels with fewer than %d members, one per --addr node: raise --users",
			c.Users, c.Channels, n))
	}
	return errs
}

// checkTargets checks every address of a list flag.
func checkTargets(flag string, addrs []string, ownServer bool) []error {
	var errs []error
	seen := map[string]bool{}
	for _, a := range addrs {
		if err := CheckTarget(a, ownServer); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
		if seen[a] {
			errs = append(errs, fmt.Errorf("%s lists %q twice: give each node once", flag, a))
		}
		seen[a] = true
	}
	return errs
}

// webAddr is node's web listener.
func (c *Config) webAddr(node int) string {
	if c.WebAddrs != nil {
		return c.WebAddrs[node]
	}
	return c.Addrs[node]
}

// dialAddr is where node's connections over transport go.
func (c *Config) dialAddr(node int, transport string) string {
	if transport == "ws" {
		return c.webAddr(node)
	}
	return c.Addrs[node]
}

// targets lists the addresses the run dials, in node order: the web
// listeners for --transport ws, the IRC listeners otherwise.
func (c *Config) targets() []string {
	t := make([]string, len(c.Addrs))
	for i := range t {
		t[i] = c.dialAddr(i, c.Transport)
	}
	return t
}

// nodeResults describes each address's users and their first connections;
// nil with one address, where the connect line says it all. It must run
// after connectAll, which sets every user's connErr.
func (r *runner) nodeResults() []NodeResult {
	if len(r.cfg.Addrs) < 2 {
		return nil
	}
	nodes := make([]NodeResult, len(r.cfg.Addrs))
	for i := range nodes {
		nodes[i].Addr = r.cfg.Addrs[i]
		if r.cfg.Transport != "tcp" {
			nodes[i].WebAddr = r.cfg.webAddr(i)
		}
	}
	for _, u := range r.users {
		n := &nodes[u.node]
		n.Users++
		if u.sender {
			n.Senders++
		}
		if u.connErr == nil {
			n.Connected++
			continue
		}
		n.Failed++
		if n.FirstError == "" {
			n.FirstError = u.connErr.Error()
		}
	}
	return nodes
}

// byPath sums the receivers' accounts of the deliveries on path p.
func (r *runner) byPath(p path) *DeliveryResult {
	var counts Counts
	var lat Histogram
	for _, u := range r.users {
		counts.Add(u.rx.tr.PathTotals(p))
		lat.Merge(u.rx.tr.PathLatency(p))
	}
	return &DeliveryResult{Messages: &counts, LatencyMS: HistDist(&lat)}
}
