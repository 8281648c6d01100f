package history

import (
	"bytes"

	"gopkg.in/irc.v4"

	"securechat/ircd/wire"
)

// plaintext is what is sealed for e: its message as one IRC line and, for
// a multiline message, each further line after a line feed, which no IRC
// line can hold. A multiline message is thus one record, opened whole.
func (e *Entry) plaintext() []byte {
	b := wire.Line(e.Msg)
	for _, l := range e.Lines[min(1, len(e.Lines)):] {
		b = append(append(b, '\n'), wire.Line(l)...)
	}
	return b
}

// parseEntry reverses plaintext, or returns nil if any line does not
// parse.
func parseEntry(plain []byte) *Entry {
	parts := bytes.Split(plain, []byte{'\n'})
	first, err := wire.Parse(parts[0])
	if err != nil {
		return nil
	}
	e := &Entry{Msg: first}
	if len(parts) == 1 {
		return e
	}
	e.Lines = append(make([]*irc.Message, 0, len(parts)),
		&irc.Message{Prefix: first.Prefix, Command: first.Command, Params: first.Params})
	for _, p := range parts[1:] {
		m, err := wire.Parse(p)
		if err != nil {
			return nil
		}
		e.Lines = append(e.Lines, m)
	}
	return e
}
