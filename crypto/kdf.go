// Package crypto holds securechat's encryption at rest: the room-password
// KDF, the keyring of wrapped data keys, record sealing and opening, and the
// Argon2id hashes used for oper passwords in the config file.
//
// Start-up: ParseKeyring then Unlock (or NewKeyring on a first run, then
// persist Keyring()). Unlock runs Argon2id once; after that, logins use
// Vault.CheckPassword, which costs one HMAC. Records are sealed per
// (TargetKey(casefolded name), msgid, time); data keys belong to fixed time
// epochs, so retention is enforced by ExpireBefore destroying old keys. Every
// method that changes keys tells the caller to persist Keyring().
//
// The package imports nothing from the rest of securechat and keeps no
// package-level mutable state; everything lives on a Vault.
package crypto

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDFParams are Argon2id parameters, stored in the keyring so that a later
// Unlock derives the same key even after the defaults change.
type KDFParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

const (
	keyLen  = 32 // every key in this package is 256 bits
	saltLen = 16

	// The caps keep a hostile keyring or config file from turning one
	// Argon2 run into a denial of service (memory ≤ 1 GiB).
	maxKDFTime      = 16
	maxKDFMemoryKiB = 1 << 20
	maxSaltLen      = 64
)

// DefaultKDFParams returns the parameters for a two-core server: RFC 9106's
// second recommended profile (t=3, 64 MiB) with two lanes so both cores work.
// Argon2 runs only at start-up and on a password change, never per login, so
// the ~0.1–0.2 s it costs is affordable, while 64 MiB per guess keeps a GPU
// attacker memory-bound without straining a small machine.
func DefaultKDFParams() KDFParams {
	return KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}
}

// validate rejects parameters that Argon2 cannot use or that would cost
// more than the caps allow.
func (p KDFParams) validate() error {
	switch {
	case p.Threads < 1:
		return fmt.Errorf("crypto: argon2 threads must be at least 1")
	case p.Time < 1 || p.Time > maxKDFTime:
		return fmt.Errorf("crypto: argon2 time %d outside 1..%d", p.Time, maxKDFTime)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB:
		return fmt.Errorf("crypto: argon2 memory %d KiB outside %d..%d",
			p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryKiB)
	}
	return nil
}

// deriveKey runs Argon2id once; callers validate p first.
func (p KDFParams) deriveKey(password, salt []byte) []byte {
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
}

// randomBytes returns n bytes from crypto/rand, which never fails on
// supported platforms (it aborts the process instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
