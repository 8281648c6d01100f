package cluster

import "testing"

// scenarios run against both a single redis-server and a 3-master Redis
// Cluster, each subtest under its own key prefix.
var scenarios = []struct {
	name string
	run  func(*testing.T, *env)
}{
	{"MembershipUpAndLeft", testMembershipUpAndLeft},
	{"CrashedNodeExpiresAndFreesNicks", testCrashedNodeExpires},
	{"FencedWhenLeaseDeleted", testFencedWhenLeaseDeleted},
	{"NodeIDInUse", testNodeIDInUse},
	{"NickClaimRace", testNickClaimRace},
	{"NickRenameRelease", testNickRenameRelease},
	{"FanoutOrderAndInterest", testFanoutOrderAndInterest},
	{"SubscribeRefCounted", testSubscribeRefCounted},
	{"SendNode", testSendNode},
	{"SequenceChecks", testSequenceChecks},
	{"NoPlaintextInPubSub", testNoPlaintextInPubSub},
}

func runScenarios(t *testing.T, b *backend) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, b.env(t))
		})
	}
}

func TestSingleRedis(t *testing.T) { runScenarios(t, singleBackend(t)) }

func TestRedisCluster(t *testing.T) { runScenarios(t, clusterBackend(t)) }
