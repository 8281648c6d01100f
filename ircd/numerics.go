package ircd

// Numerics that gopkg.in/irc.v4 does not export, from modern.ircdocs.horse.
const (
	rplTopicWhoTime = "333"
	rplWhoSpcRpl    = "354" // WHOX reply
	rplWhoisSecure  = "671"
	rplWhoisAccount = "330"
	rplWhoisBot     = "335"
	errInputTooLong = "417"
	rplLocalUsers   = "265"
	rplGlobalUsers  = "266"
)
