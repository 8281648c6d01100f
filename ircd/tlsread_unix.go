//go:build unix

package ircd

import (
	"io"
	"net"
	"os"
	"syscall"
)

const canPoll = true

// readNow reads the non-blocking socket fd once: errWouldBlock when it is
// empty, io.EOF at the end of the stream.
func readNow(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
