package ircd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"securechat/store/redistest"
)

var metaCaps = []string{"draft/metadata-2", "batch", "standard-replies"}

// TestMetadataUserKeys sets, reads and deletes a user's key: the setter
// gets the numerics, a subscribed neighbour the METADATA notices, an
// unsubscribed one nothing.
func TestMetadataUserKeys(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", metaCaps...)
	bob := ts.register("bob", metaCaps...)
	carol := ts.register("carol", metaCaps...)
	for _, c := range []*testClient{alice, bob, carol} {
		c.Join("#m")
	}
	bob.Send("METADATA * SUB display-name avatar")
	bob.Expect(` 770 bob :display-name avatar$`)

	alice.Send("METADATA * SET display-name :Alice A.")
	alice.Expect(` 761 alice alice display-name \* :?Alice A\.$`)
	bob.Expect(`:alice!\S+ METADATA alice display-name \* :?Alice A\.$`)
	carol.Quiet(`METADATA`, 150*time.Millisecond)

	bob.Send("METADATA alice GET display-name avatar BAD!")
	bob.Expect(`BATCH \+\S+ metadata alice`)
	bob.Expect(` 761 bob alice display-name \* :?Alice A\.$`)
	bob.Expect(` 766 bob alice avatar :`)
	bob.Expect(`FAIL METADATA KEY_INVALID BAD! :`)
	bob.Expect(`BATCH -`)
	bob.Send("METADATA alice LIST")
	bob.Expect(`BATCH \+\S+ metadata alice`)
	bob.Expect(` 761 bob alice display-name \* :?Alice A\.$`)
	bob.Expect(`BATCH -`)

	alice.Send("METADATA * SET display-name")
	alice.Expect(` 766 alice alice display-name :`)
	bob.Expect(`:alice!\S+ METADATA alice display-name \*$`)
	alice.Send("METADATA * SET display-name")
	alice.Expect(`FAIL METADATA KEY_NOT_SET alice display-name :`)
	alice.Send("METADATA bob SET display-name :not yours")
	alice.Expect(`FAIL METADATA KEY_NO_PERMISSION bob display-name :`)
}

// TestMetadataJoinBurst checks a joiner learns the channel's and the
// members' metadata for its subscriptions, and the members the joiner's.
func TestMetadataJoinBurst(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	alice := ts.register("alice", metaCaps...)
	alice.Send("METADATA * SUB color")
	alice.Expect(` 770 `)
	alice.Join("#j")
	alice.Send("METADATA #j SET color :blue")
	alice.Expect(` 761 alice #j color \* :?blue$`)
	alice.Send("METADATA * SET color :red")
	alice.Expect(` 761 alice alice color`)

	bob := ts.register("bob", metaCaps...)
	bob.Send("METADATA * SUB color")
	bob.Expect(` 770 `)
	bob.Send("METADATA * SET color :green")
	bob.Expect(` 761 bob bob color`)
	bob.Send("JOIN #j")
	bob.Expect(` 366 bob #j `)
	bob.Expect(`METADATA #j color \* :?blue$`)
	bob.Expect(`METADATA alice color \* :?red$`)
	alice.Expect(`METADATA bob color \* :?green$`)

	// A new subscription brings the current values at once.
	bob.Send("METADATA * SUB avatar")
	bob.Expect(` 770 bob :?avatar$`)
	bob.Quiet(`METADATA`, 100*time.Millisecond)
	alice.Send("METADATA * SET avatar :https://a.example/a.png")
	alice.Expect(` 761 alice alice avatar`)
	bob.Expect(`METADATA alice avatar \* :?https://a\.example/a\.png$`)
	carol := ts.register("carol", metaCaps...)
	carol.Join("#j")
	carol.Quiet(`METADATA`, 100*time.Millisecond)
	carol.Send("METADATA * SUB color")
	carol.Expect(` 770 carol :?color$`)
	carol.Expect(`METADATA #j color \* :?blue$`)

	bob.Send("METADATA #j SYNC")
	bob.Expect(`BATCH \+\S+ metadata #j`)
	bob.Expect(`METADATA #j color \* :?blue$`)
	bob.Expect(`METADATA alice color \* :?red$`)
	bob.Expect(`BATCH -`)
}

// TestMetadataChannelPersistsSealed keeps a channel's metadata across a
// restart on a real Redis, sealed: no key or value in the clear. Only
// channel operators change it; members subscribed hear of changes; it
// moves with a RENAME.
func TestMetadataChannelPersistsSealed(t *testing.T) {
	t.Parallel()
	env := newRedisEnv(t, redistest.WithArgs("--rdbcompression", "no"))
	ts := env.server(t)
	op := ts.register("op", append([]string{"draft/channel-rename"}, metaCaps...)...)
	member := ts.register("member", metaCaps...)
	op.Join("#meta")
	member.Join("#meta")
	member.Send("METADATA * SUB url")
	member.Expect(` 770 `)
	member.Send("METADATA #meta SET url :https://example.test/x")
	member.Expect(`FAIL METADATA KEY_NO_PERMISSION #meta url :`)
	op.Send("METADATA #meta SET url :https://metaqz9.example/")
	op.Expect(` 761 op #meta url \* :?https://metaqz9\.example/$`)
	member.Expect(`:op!\S+ METADATA #meta url \* :?https://metaqz9\.example/$`)
	op.Send("RENAME #meta #metarenamed")
	op.Expect(`RENAME #meta #metarenamed`)
	ts.shutdown() // waits for the state writer
	for key, value := range dumpRedis(t, env.redis.Client()) {
		assertNoMarker(t, "value of "+key, value, []string{"metaqz9", "url", "metarenamed"})
	}

	ts2 := env.server(t)
	c := ts2.register("c", metaCaps...)
	c.Send("METADATA #metarenamed LIST")
	c.Expect(`FAIL METADATA KEY_NO_PERMISSION #metarenamed \* :?`) // members only
	c.Send("METADATA * SUB url")
	c.Expect(` 770 `)
	c.Send("JOIN #metarenamed")
	c.Expect(`METADATA #metarenamed url \* :?https://metaqz9\.example/$`)
	c.Send("METADATA #metarenamed LIST")
	c.Expect(` 761 c #metarenamed url \* :?https://metaqz9\.example/$`)
	c.Expect(`BATCH -`)
	c.Send("METADATA #metarenamed CLEAR") // c, first in, is its operator
	c.Expect(` 761 c #metarenamed url \* :?https://metaqz9\.example/$`)
	c.Expect(`BATCH -`)
	c.Send("METADATA #metarenamed LIST")
	c.Expect(`BATCH \+\S+ metadata #metarenamed`)
	c.Expect(`BATCH -`)
}

// TestMetadataLimitsAndErrors covers the limits the capability value
// announces and the FAIL codes of the spec.
func TestMetadataLimitsAndErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.register("lim", metaCaps...)
	c.Send("CAP LS 302")
	if ls := c.Expect(`CAP lim LS`).Trailing(); !strings.Contains(ls, "draft/metadata-2="+metadataCapValue) {
		t.Errorf("CAP LS lacks the metadata limits: %q", ls)
	}
	cases := []struct{ line, want string }{
		{"METADATA nobody GET x", `FAIL METADATA INVALID_TARGET nobody :`},
		{"METADATA * FROB", `FAIL METADATA SUBCOMMAND_INVALID FROB :`},
		{"METADATA * SET Bad-Key :v", `FAIL METADATA KEY_INVALID Bad-Key :`},
		{"METADATA * SET k :" + strings.Repeat("v", metaMaxValueBytes+1), `FAIL METADATA VALUE_INVALID :`},
		{"METADATA * GET", ` 461 lim METADATA `},
	}
	for _, tc := range cases {
		c.Send("%s", tc.line)
		c.Expect(tc.want)
	}
	for i := range metaMaxKeys {
		c.Send("METADATA * SET k%d :v", i)
		c.Expect(fmt.Sprintf(` 761 lim lim k%d `, i))
	}
	c.Send("METADATA * SET one-too-many :v")
	c.Expect(`FAIL METADATA LIMIT_REACHED lim :`)
	c.Send("METADATA * CLEAR")
	c.Expect(`BATCH \+\S+ metadata lim`)
	for range metaMaxKeys {
		c.Expect(` 761 lim lim k\d+ \* :?v$`)
	}
	c.Expect(`BATCH -`)
	c.Send("METADATA * LIST")
	c.Expect(`BATCH \+\S+ metadata lim`)
	c.Expect(`BATCH -`) // empty

	keys := make([]string, metaMaxSubs+2)
	for i := range keys {
		keys[i] = fmt.Sprintf("s%02d", i)
	}
	c.Send("METADATA * SUB BAD! %s", strings.Join(keys, " "))
	c.Expect(`FAIL METADATA KEY_INVALID BAD! :`)
	c.Expect(fmt.Sprintf(`FAIL METADATA TOO_MANY_SUBS s%02d :`, metaMaxSubs))
	c.Expect(` 770 lim :s00 `)
	c.Send("METADATA * UNSUB s00 s01")
	c.Expect(` 771 lim :s00 s01$`)
	c.Send("METADATA * SUBS")
	c.Expect(`BATCH \+\S+ metadata-subs`)
	if got := c.Expect(` 772 lim :`).Trailing(); strings.Contains(got, "s00") || !strings.HasPrefix(got, "s02 s03") {
		t.Errorf("SUBS after UNSUB = %q", got)
	}
}
