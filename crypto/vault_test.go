package crypto

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUnlockPassword(t *testing.T) {
	t.Parallel()
	ring := newTestVault(t, "correct horse").Keyring()
	tests := []struct {
		name     string
		password string
		wantErr  error
	}{
		{"right password", "correct horse", nil},
		{"wrong password", "correct horse!", ErrWrongPassword},
		{"empty password", "", ErrWrongPassword},
		{"prefix of password", "correct", ErrWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := ring.Unlock([]byte(tt.password), testEpoch)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Unlock err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && v != nil {
				t.Error("Unlock returned a Vault along with an error")
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "hunter2")
	unlocked := mustUnlock(t, v.Keyring(), "hunter2")
	for _, vault := range []*Vault{v, unlocked} {
		if !vault.CheckPassword([]byte("hunter2")) {
			t.Error("CheckPassword rejects the right password")
		}
		for _, bad := range []string{"", "hunter", "hunter22", "Hunter2"} {
			if vault.CheckPassword([]byte(bad)) {
				t.Errorf("CheckPassword accepts %q", bad)
			}
		}
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "old")
	oldRing := v.Keyring()
	rec := mustSeal(t, v, "t", "m", testBase, "before the change")

	newRing, err := v.ChangePassword([]byte("new"), KDFParams{Time: 1, MemoryKiB: 128, Threads: 2})
	if err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if string(newRing.Salt) == string(oldRing.Salt) {
		t.Error("ChangePassword kept the salt")
	}
	if v.CheckPassword([]byte("old")) || !v.CheckPassword([]byte("new")) {
		t.Error("CheckPassword does not follow the new password")
	}
	if _, err := newRing.Unlock([]byte("old"), testEpoch); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("old password on new keyring: err = %v, want ErrWrongPassword", err)
	}
	again := mustUnlock(t, newRing, "new")
	if got := mustOpen(t, again, "t", "m", testBase, rec); got != "before the change" {
		t.Errorf("old record reads %q after password change", got)
	}
	if again.TargetKey("#c") != v.TargetKey("#c") {
		t.Error("TargetKey changed with the password")
	}
	if !again.CheckPassword([]byte("new")) {
		t.Error("unlocked vault rejects the new password")
	}
}

func TestChangePasswordRejectsBadParams(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	if _, err := v.ChangePassword([]byte("x"), KDFParams{Time: 1, MemoryKiB: 2 << 20, Threads: 1}); err == nil {
		t.Fatal("ChangePassword accepted 2 GiB of memory")
	}
	if !v.CheckPassword([]byte("pw")) {
		t.Error("failed ChangePassword altered the password")
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	next := testBase.Add(testEpoch)
	oldRec := mustSeal(t, v, "t", "m1", testBase, "old")
	oldNext := mustSeal(t, v, "t", "m2", next, "old next epoch")

	ring, err := v.Rotate(testBase)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	newRec := mustSeal(t, v, "t", "m3", testBase, "new")
	newNext := mustSeal(t, v, "t", "m4", next, "new next epoch")
	if keyID(newRec) <= keyID(oldRec) || keyID(newNext) <= keyID(oldNext) {
		t.Errorf("key ids after Rotate: %d, %d; before: %d, %d",
			keyID(newRec), keyID(newNext), keyID(oldRec), keyID(oldNext))
	}
	if keyID(newRec) == keyID(newNext) {
		t.Error("current and next epoch share a key after Rotate")
	}
	reopened := mustUnlock(t, ring, "pw")
	for _, c := range []struct {
		msgid string
		at    time.Time
		rec   []byte
		want  string
	}{
		{"m1", testBase, oldRec, "old"}, {"m2", next, oldNext, "old next epoch"},
		{"m3", testBase, newRec, "new"}, {"m4", next, newNext, "new next epoch"},
	} {
		if got := mustOpen(t, reopened, "t", c.msgid, c.at, c.rec); got != c.want {
			t.Errorf("%s reads %q, want %q", c.msgid, got, c.want)
		}
	}
}

func TestMarshalParseUnlock(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	rec := mustSeal(t, v, v.TargetKey("#c"), "m", testBase, "persisted")
	data, err := v.Keyring().Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if strings.Contains(string(data), "#c") {
		t.Error("keyring contains a channel name")
	}
	ring, err := ParseKeyring(data)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	v2 := mustUnlock(t, ring, "pw")
	if got := mustOpen(t, v2, v.TargetKey("#c"), "m", testBase, rec); got != "persisted" {
		t.Errorf("Open after reload = %q", got)
	}
	if v2.TargetKey("#c") != v.TargetKey("#c") {
		t.Error("TargetKey differs after reload")
	}
}

func TestParseKeyringRejects(t *testing.T) {
	t.Parallel()
	good := newTestVault(t, "pw").Keyring()
	tests := []struct {
		name   string
		mutate func(k *Keyring)
	}{
		{"version", func(k *Keyring) { k.Version = 2 }},
		{"short salt", func(k *Keyring) { k.Salt = k.Salt[:8] }},
		{"no name key", func(k *Keyring) { k.NameKey = nil }},
		{"no data keys", func(k *Keyring) { k.DataKeys = nil }},
		{"huge memory", func(k *Keyring) { k.KDF.MemoryKiB = 1<<20 + 1 }},
		{"zero threads", func(k *Keyring) { k.KDF.Threads = 0 }},
		{"zero time", func(k *Keyring) { k.KDF.Time = 0 }},
		{"duplicate id", func(k *Keyring) { k.DataKeys[1].ID = k.DataKeys[0].ID }},
		{"id not below next id", func(k *Keyring) { k.NextID = k.DataKeys[0].ID }},
		{"zero id", func(k *Keyring) { k.DataKeys[0].ID = 0 }},
		{"epoch ends at start", func(k *Keyring) { k.DataKeys[0].EpochEnd = k.DataKeys[0].EpochStart }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := good.clone()
			tt.mutate(&k)
			data, err := k.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if _, err := ParseKeyring(data); !errors.Is(err, ErrKeyringInvalid) {
				t.Errorf("ParseKeyring err = %v, want ErrKeyringInvalid", err)
			}
			if _, err := k.Unlock([]byte("pw"), testEpoch); !errors.Is(err, ErrKeyringInvalid) {
				t.Errorf("Unlock err = %v, want ErrKeyringInvalid", err)
			}
		})
	}
	if _, err := ParseKeyring([]byte("{not json")); !errors.Is(err, ErrKeyringInvalid) {
		t.Errorf("ParseKeyring(bad JSON) err = %v", err)
	}
}

func TestUnlockRejectsDamagedDataKey(t *testing.T) {
	t.Parallel()
	good := newTestVault(t, "pw").Keyring()
	tests := []struct {
		name   string
		mutate func(k *Keyring)
	}{
		{"flipped wrapped byte", func(k *Keyring) { k.DataKeys[0].Wrapped[30] ^= 1 }},
		{"moved epoch start", func(k *Keyring) { k.DataKeys[0].EpochStart = k.DataKeys[0].EpochStart.Add(-testEpoch) }},
		{"extended epoch end", func(k *Keyring) { k.DataKeys[0].EpochEnd = k.DataKeys[0].EpochEnd.Add(testEpoch) }},
		{"swapped ids", func(k *Keyring) { k.DataKeys[0].ID, k.DataKeys[1].ID = k.DataKeys[1].ID, k.DataKeys[0].ID }},
		{"truncated", func(k *Keyring) { k.DataKeys[0].Wrapped = k.DataKeys[0].Wrapped[:10] }},
		{"name key as data key", func(k *Keyring) { k.DataKeys[0].Wrapped = k.NameKey }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := good.clone()
			tt.mutate(&k)
			_, err := k.Unlock([]byte("pw"), testEpoch)
			if !errors.Is(err, ErrKeyringInvalid) || errors.Is(err, ErrWrongPassword) {
				t.Errorf("Unlock err = %v, want ErrKeyringInvalid", err)
			}
		})
	}
}

func TestEpochKeysAndExpiry(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	day := func(n int) time.Time { return testBase.Add(time.Duration(n) * testEpoch) }
	records := map[int][]byte{}
	for n := range 5 {
		if n > 0 && !v.EnsureEpochKeys(day(n)) {
			t.Fatalf("EnsureEpochKeys(day %d) reported no change", n)
		}
		records[n] = mustSeal(t, v, "t", "m", day(n), "day")
	}
	if v.EnsureEpochKeys(day(4)) {
		t.Error("second EnsureEpochKeys for the same epoch reported a change")
	}
	if keyID(records[3]) == keyID(records[4]) {
		t.Error("different epochs sealed with the same key")
	}

	// Day 2 starts at epochStart(day(2)); everything that ended by then goes.
	cut := time.Unix(0, epochStart(day(2), testEpoch))
	if got := v.ExpireBefore(cut); got != 2 {
		t.Errorf("ExpireBefore removed %d keys, want 2", got)
	}
	reopened := mustUnlock(t, v.Keyring(), "pw")
	for _, vault := range []*Vault{v, reopened} {
		for n, rec := range records {
			_, err := vault.Open("t", "m", day(n), rec)
			if expired := n < 2; expired != errors.Is(err, ErrUnknownKey) {
				t.Errorf("day %d: Open err = %v, expired = %v", n, err, expired)
			}
		}
	}
}

func TestExpireBeforeKeepsCurrentKeys(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	v.now = func() time.Time { return testBase } // the wall clock says "today"
	rec := mustSeal(t, v, "t", "m", testBase, "today")
	if got := v.ExpireBefore(testBase.Add(100 * testEpoch)); got != 0 {
		t.Errorf("ExpireBefore(far future) removed %d keys", got)
	}
	if got := mustOpen(t, v, "t", "m", testBase, rec); got != "today" {
		t.Errorf("Open = %q", got)
	}

	// Even with every epoch over by the wall clock, one key stays for Seal.
	v.now = func() time.Time { return testBase.Add(100 * testEpoch) }
	if got := v.ExpireBefore(testBase.Add(100 * testEpoch)); got != 1 {
		t.Errorf("ExpireBefore removed %d keys, want 1", got)
	}
	if len(v.Keyring().DataKeys) != 1 {
		t.Fatalf("keyring has %d data keys, want 1", len(v.Keyring().DataKeys))
	}
	rec = mustSeal(t, v, "t", "m", testBase.Add(100*testEpoch), "later")
	mustOpen(t, v, "t", "m", testBase.Add(100*testEpoch), rec)
}

func TestEpochLengthChange(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw") // daily keys
	daily := mustSeal(t, v, "t", "m", testBase, "daily")
	hourly, err := v.Keyring().Unlock([]byte("pw"), time.Hour)
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if !hourly.EnsureEpochKeys(testBase) {
		t.Fatal("EnsureEpochKeys made no hourly keys")
	}
	rec := mustSeal(t, hourly, "t", "m", testBase, "hourly")
	if keyID(rec) == keyID(daily) {
		t.Error("Seal kept using a daily key after the epoch became an hour")
	}
	// Two hours on, the daily key's own epoch has not ended: keep it.
	hourly.ExpireBefore(testBase.Add(2 * time.Hour))
	if got := mustOpen(t, hourly, "t", "m", testBase, daily); got != "daily" {
		t.Errorf("Open = %q", got)
	}
}

func TestTargetKey(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	other := newTestVault(t, "pw")
	reopened := mustUnlock(t, v.Keyring(), "pw")
	if _, err := v.Rotate(testBase); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"#securechat", "alice", "", "#ünïcode"} {
		k := v.TargetKey(name)
		if len(k) != 32 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Errorf("TargetKey(%q) = %q, want 32 hex chars", name, k)
		}
		if name != "" && strings.Contains(k, strings.TrimPrefix(name, "#")) {
			t.Errorf("TargetKey(%q) = %q contains the name", name, k)
		}
		if reopened.TargetKey(name) != k {
			t.Errorf("TargetKey(%q) differs after Unlock", name)
		}
		if other.TargetKey(name) == k {
			t.Errorf("TargetKey(%q) is the same under another keyring", name)
		}
	}
	if v.TargetKey("#a") == v.TargetKey("#b") {
		t.Error("different names give the same TargetKey")
	}
}

func TestNewKeyringRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		p     KDFParams
		epoch time.Duration
	}{
		{"zero epoch", cheapKDF, 0},
		{"negative epoch", cheapKDF, -time.Hour},
		{"zero params", KDFParams{}, time.Hour},
		{"too much memory", KDFParams{Time: 1, MemoryKiB: 1<<20 + 1, Threads: 1}, time.Hour},
		{"too many passes", KDFParams{Time: maxKDFTime + 1, MemoryKiB: 64, Threads: 1}, time.Hour},
		{"memory below 8 per thread", KDFParams{Time: 1, MemoryKiB: 15, Threads: 2}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewKeyring([]byte("pw"), tt.p, testBase, tt.epoch); err == nil {
				t.Error("NewKeyring succeeded")
			}
		})
	}
	if err := DefaultKDFParams().validate(); err != nil {
		t.Errorf("DefaultKDFParams invalid: %v", err)
	}
}

func TestEpochStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"midday", time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC), time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"boundary", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"last nanosecond", time.Date(2024, 5, 6, 23, 59, 59, 999999999, time.UTC), time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"before 1970", time.Date(1969, 12, 31, 1, 0, 0, 0, time.UTC), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := epochStart(tt.at, 24*time.Hour); got != tt.want.UnixNano() {
				t.Errorf("epochStart = %v, want %v", time.Unix(0, got).UTC(), tt.want)
			}
		})
	}
}

// TestConcurrentUse runs sealing, opening and every key-set change at once;
// its value is under -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	v := newTestVault(t, "pw")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				at := testBase.Add(time.Duration(i%3) * testEpoch)
				rec, err := v.Seal(v.TargetKey("#c"), "m", at, []byte("hi"))
				if err != nil { // t.Fatal must not be called off the test's goroutine
					t.Errorf("goroutine %d: Seal: %v", g, err)
					return
				}
				// The key may have expired since: that is the one error allowed.
				if _, err := v.Open(v.TargetKey("#c"), "m", at, rec); err != nil && !errors.Is(err, ErrUnknownKey) {
					t.Errorf("goroutine %d: Open: %v", g, err)
				}
				v.CheckPassword([]byte("pw"))
			}
		})
	}
	removed := 0
	wg.Go(func() {
		for i := range 50 {
			v.EnsureEpochKeys(testBase.Add(time.Duration(i%4) * testEpoch))
			if _, err := v.Rotate(testBase); err != nil {
				t.Errorf("Rotate: %v", err)
			}
			removed += v.ExpireBefore(testBase.Add(testEpoch))
			_ = v.Keyring()
		}
	})
	wg.Go(func() {
		if _, err := v.ChangePassword([]byte("pw"), cheapKDF); err != nil {
			t.Errorf("ChangePassword: %v", err)
		}
	})
	wg.Wait()
	if removed == 0 {
		t.Error("ExpireBefore never removed a key, so expiry never raced the others")
	}
}
