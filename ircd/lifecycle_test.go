package ircd

import (
	"testing"
	"time"
)

// TestMoveDeadline checks when the serve loop moves its read deadline: the
// first time, whenever it must come sooner (a ping was sent), and when it
// would otherwise fire more than the slack early; never for a small gain.
func TestMoveDeadline(t *testing.T) {
	t.Parallel()
	base := time.Unix(1000, 0)
	slack := time.Second
	cases := []struct {
		name      string
		cur, want time.Time
		move      bool
	}{
		{"none set yet", time.Time{}, base, true},
		{"same", base, base, false},
		{"later within slack", base, base.Add(slack), false},
		{"later beyond slack", base, base.Add(slack + time.Nanosecond), true},
		{"sooner", base, base.Add(-time.Nanosecond), true},
	}
	for _, tc := range cases {
		if got := moveDeadline(tc.cur, tc.want, slack); got != tc.move {
			t.Errorf("%s: moveDeadline = %v, want %v", tc.name, got, tc.move)
		}
	}
}
