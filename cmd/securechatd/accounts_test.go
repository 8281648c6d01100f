package main

import "testing"

// TestAccountsAcrossRestart runs the real binary with --accounts: an
// account registered before one restart logs in after it with SASL PLAIN
// and the room password in PASS, and no file in the data directory holds
// the account name or its password.
func TestAccountsAcrossRestart(t *testing.T) {
	t.Parallel()
	const (
		account  = "zebraaccount"
		personal = "horse battery staple"
	)
	spec := daemonSpec{dataDir: t.TempDir(), env: passwordEnv(roomPassword), args: []string{"--accounts"}}
	d := startDaemon(t, spec)
	d.dial().RegisterAccount(account, personal, roomPassword)
	d.stop()

	d = startDaemon(t, spec)
	d.dial().LoginAccount("zeb", account, personal, roomPassword)
	d.stop()

	assertNoFileHolds(t, spec.dataDir, account, personal, roomPassword)
}
