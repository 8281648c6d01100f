package ircd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"securechat/config"
)

// BenchmarkMarkread measures one MARKREAD that moves a marker, over TLS:
// sent, parsed, the account's blob encoded and queued for sealing, the
// answer read back; with one target in the blob and with a full one
// (maxMarkers), whose whole JSON each move re-encodes.
func BenchmarkMarkread(b *testing.B) {
	for _, targets := range []int{1, maxMarkers} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			ts := newTestServer(b, withAccounts(), withConfig(func(c *config.Config) {
				c.FloodRate, c.FloodBurst = 1e6, 1e6 // measure MARKREAD, not the flood bucket
			}))
			c := ts.registerAccount("zoe", personalPassword, "draft/read-marker")
			base := time.Now().Add(-time.Hour)
			for i := range targets {
				c.Send("MARKREAD #t%d timestamp=%s", i, serverTime(base))
			}
			c.Sync()
			for i := 1; b.Loop(); i++ {
				c.Send("MARKREAD #t0 timestamp=%s", serverTime(base.Add(time.Duration(i)*time.Millisecond)))
				line, err := c.ReadLine(5 * time.Second)
				if err != nil || !strings.Contains(line, " MARKREAD #t0 timestamp=") {
					b.Fatalf("answer %q (%v)", line, err)
				}
			}
		})
	}
}
