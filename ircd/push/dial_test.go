package push

import (
	"net/netip"
	"testing"
)

// TestInternal classifies addresses for the dial guard; no address here
// is dialled.
func TestInternal(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1":        true,
		"::1":              true,
		"10.1.2.3":         true,
		"172.16.0.1":       true,
		"192.168.1.1":      true,
		"169.254.169.254":  true, // cloud metadata
		"100.64.0.1":       true,
		"0.0.0.0":          true,
		"::":               true,
		"fc00::1":          true,
		"fe80::1":          true,
		"224.0.0.1":        true,
		"::ffff:10.0.0.1":  true,
		"::ffff:127.0.0.1": true,
		"8.8.8.8":          false,
		"2001:4860::8888":  false,
		"100.128.0.1":      false,
	} {
		if got := internal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("internal(%s) = %v, want %v", addr, got, want)
		}
	}
}
