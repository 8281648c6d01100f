package push

import (
	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// keptTag reports the tags a push keeps. draft/webpush lets a server
// drop tags to fit a push's size, but never msgid, by which the client
// fetches the message's context; time and account are small and let a
// notification say when and from whom without a connection.
func keptTag(key string) bool {
	switch key {
	case "msgid", "time", "account":
		return true
	}
	return false
}

// Payload serializes m as the one IRC line a push carries (no CR LF),
// keeping of tags only msgid, time and account. It returns ErrTooLarge
// for a line longer than MaxPayload, which a line within IRC's limits
// never is.
func Payload(tags []wire.Tag, m *irc.Message) ([]byte, error) {
	kept := make([]wire.Tag, 0, 3)
	for _, t := range tags {
		if keptTag(t.Key) {
			kept = append(kept, t)
		}
	}
	line := wire.AppendLine(nil, kept, m)
	if len(line) > MaxPayload {
		return nil, ErrTooLarge
	}
	return line, nil
}
