package crypto

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// cheapPHC builds a valid PHC string with tiny parameters, so verify cases
// other than the default cost stay fast.
func cheapPHC(pw string) string {
	salt := []byte("0123456789abcdef")
	hash := argon2.IDKey([]byte(pw), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(hash))
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword([]byte("oper secret"))
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("HashPassword = %q, want the default PHC prefix", h)
	}
	if !VerifyPassword(h, []byte("oper secret")) {
		t.Error("VerifyPassword rejects the right password")
	}
	if VerifyPassword(h, []byte("oper secreT")) {
		t.Error("VerifyPassword accepts a wrong password")
	}
	if h2, _ := HashPassword([]byte("oper secret")); h2 == h {
		t.Error("two hashes of one password are equal; salt not random")
	}
}

func TestVerifyPassword(t *testing.T) {
	t.Parallel()
	good := cheapPHC("pw")
	parts := strings.Split(good, "$")
	with := func(i int, s string) string {
		p := append([]string(nil), parts...)
		p[i] = s
		return strings.Join(p, "$")
	}
	tests := []struct {
		name    string
		encoded string
		pw      string
		want    bool
	}{
		{"right password", good, "pw", true},
		{"wrong password", good, "pW", false},
		{"empty password", good, "", false},
		{"empty string", "", "pw", false},
		{"argon2i", with(1, "argon2i"), "pw", false},
		{"other version", with(2, "v=16"), "pw", false},
		{"memory over 1 GiB", with(3, "m=1048577,t=1,p=1"), "pw", false},
		{"time over cap", with(3, "m=64,t=1000,p=1"), "pw", false},
		{"zero threads", with(3, "m=64,t=1,p=0"), "pw", false},
		{"threads over 255", with(3, "m=64,t=1,p=256"), "pw", false},
		{"params reordered", with(3, "t=1,m=64,p=1"), "pw", false},
		{"extra param", with(3, "m=64,t=1,p=1,x=2"), "pw", false},
		{"negative memory", with(3, "m=-64,t=1,p=1"), "pw", false},
		{"bad salt base64", with(4, "!!!!"), "pw", false},
		{"short salt", with(4, "YWJj"), "pw", false},
		{"padded hash", with(5, parts[5]+"="), "pw", false},
		{"truncated hash", with(5, parts[5][:10]), "pw", false},
		{"missing field", strings.Join(parts[:5], "$"), "pw", false},
		{"extra field", good + "$x", "pw", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := VerifyPassword(tt.encoded, []byte(tt.pw)); got != tt.want {
				t.Errorf("VerifyPassword(%q, %q) = %v, want %v", tt.encoded, tt.pw, got, tt.want)
			}
		})
	}
}
