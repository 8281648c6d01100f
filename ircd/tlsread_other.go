//go:build !unix

package ircd

// Elsewhere TLS clients are read through crypto/tls directly.
const canPoll = false

func readNow(int, []byte) (int, error) { return 0, errWouldBlock }
