package crypto

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The oper hashes use the same cost as the keyring default; VerifyPassword
// accepts other costs within the KDF caps so operators can tune them.
const (
	hashLen    = 32
	minHashLen = 16
	maxHashLen = 64
	minSaltPHC = 8
)

// b64 is the unpadded standard alphabet that PHC strings use.
var b64 = base64.RawStdEncoding

// HashPassword returns pw hashed with Argon2id as a PHC string,
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>, for oper passwords in the
// config file.
func HashPassword(pw []byte) (string, error) { return HashPasswordWith(pw, DefaultKDFParams()) }

// HashPasswordWith is HashPassword with the given cost parameters; tests
// use it for hashes that are cheap to check.
func HashPasswordWith(pw []byte, p KDFParams) (string, error) {
	salt := randomBytes(saltLen)
	hash := argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, hashLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(hash)), nil
}

// VerifyPassword reports whether pw matches a string from HashPassword. It
// compares in constant time and returns false for malformed input or for
// parameters beyond the KDF caps (memory ≤ 1 GiB), so a hostile config cannot
// make one check exhaust the machine. Each call runs Argon2 once: callers must
// throttle attempts.
func VerifyPassword(encoded string, pw []byte) bool {
	p, salt, want, ok := parsePHC(encoded)
	if !ok {
		return false
	}
	got := argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// parsePHC splits "$argon2id$v=19$m=..,t=..,p=..$salt$hash" and checks
// every part against the caps.
func parsePHC(encoded string) (p KDFParams, salt, hash []byte, ok bool) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, false
	}
	p, ok = parsePHCParams(parts[3])
	if !ok || p.validate() != nil {
		return p, nil, nil, false
	}
	salt, err1 := b64.Strict().DecodeString(parts[4])
	hash, err2 := b64.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < minSaltPHC || len(salt) > maxSaltLen ||
		len(hash) < minHashLen || len(hash) > maxHashLen {
		return p, nil, nil, false
	}
	return p, salt, hash, true
}

// parsePHCParams reads exactly "m=<n>,t=<n>,p=<n>" in that order.
func parsePHCParams(s string) (KDFParams, bool) {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return KDFParams{}, false
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		num, found := strings.CutPrefix(fields[i], name+"=")
		n, err := strconv.ParseUint(num, 10, 32)
		if !found || err != nil {
			return KDFParams{}, false
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return KDFParams{}, false
	}
	return KDFParams{MemoryKiB: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])}, true
}
