package main

import (
	"testing"
	"time"
)

// TestClusterBinaryLateNodeAfterRedisRestart: after Redis comes back
// empty, the running nodes store the room's keyring again, so a node
// started afterwards joins the same room rather than making a keyring of
// its own and seeing none of the others' users or messages.
func TestClusterBinaryLateNodeAfterRedisRestart(t *testing.T) {
	rs, nodes := startCluster(t, 2)
	// Redis restarts empty (no persistence) while both nodes run.
	cs := meet(t, nodes, "#p", "alice", "bob")
	rs.Stop()
	rs.Restart()
	waitNickClaims(t, rs, map[string]int{"n1": 1, "n2": 1})
	if n := rs.Client().Exists(t.Context(), keyringKey).Val(); n != 1 {
		t.Errorf("keyring not stored again after Redis came back empty")
	}
	late := startNode(t, rs, "n3", "")
	carol := joinAs(t, late, "carol")
	waitISON(carol, "alice", "bob", "carol")
	carol.Join("#p")
	cs[0].Send("PRIVMSG #p :to the late node")
	carol.ExpectTimeout = 5 * time.Second
	carol.Expect(`:alice!\S+ PRIVMSG #p :to the late node$`)
}
