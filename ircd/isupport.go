package ircd

import (
	"fmt"
	"strconv"
)

// Limits advertised in ISUPPORT and enforced by the handlers.
const (
	nickLen     = 30
	userLen     = 16
	realnameLen = 128
	channelLen  = 64
	topicLen    = 390
	kickLen     = 255
	awayLen     = 255
	maxTargets  = 4
	maxChannels = 100 // channels one client may be in
	maxBans     = 100
	maxModes    = 6 // parameterised mode changes per MODE command
)

// Modes as shown in RPL_MYINFO and CHANMODES.
const (
	userModes             = "Biow"
	channelModes          = "Ibeiklmnostv"
	channelModesWithParam = "Ibeklov"
	channelFlagModes      = "imnst" // modes without a parameter
	listModes             = "beI"   // modes holding a list of masks
)

// isupportLines renders RPL_ISUPPORT tokens, at most 12 per line so each
// line stays well under 512 bytes.
func (s *Server) isupportLines() [][]string {
	cfg := s.config()
	tokens := []string{
		"AWAYLEN=" + strconv.Itoa(awayLen),
		"BOT=B",
		"CASEMAPPING=ascii",
		"CHANLIMIT=#:" + strconv.Itoa(maxChannels),
		"CHANMODES=" + listModes + ",k,l," + channelFlagModes,
		"CHANNELLEN=" + strconv.Itoa(channelLen),
		"CHANTYPES=#",
		"CHATHISTORY=" + strconv.Itoa(chathistoryMax),
		"ELIST=CMNTU",
		"EXCEPTS=e",
		"HOSTLEN=64",
		"INVEX=I",
		"KICKLEN=" + strconv.Itoa(kickLen),
		"MAXLIST=" + listModes + ":" + strconv.Itoa(maxBans),
		"MAXTARGETS=" + strconv.Itoa(maxTargets),
		"MODES=" + strconv.Itoa(maxModes),
		"MONITOR=" + strconv.Itoa(monitorLimit),
		"MSGREFTYPES=msgid,timestamp",
		"NETWORK=" + cfg.Network,
		"NICKLEN=" + strconv.Itoa(nickLen),
		"PREFIX=(ov)@+",
		fmt.Sprintf("TARGMAX=JOIN:,KICK:%d,LIST:,NAMES:,NOTICE:%d,PART:,PRIVMSG:%d,TAGMSG:%d,WHOIS:1", maxTargets, maxTargets, maxTargets, maxTargets),
		"TOPICLEN=" + strconv.Itoa(topicLen),
		"USERLEN=" + strconv.Itoa(userLen),
		"UTF8ONLY",
		"WHOX",
	}
	if v := s.vapidToken(); v != "" {
		tokens = append(tokens, v)
	}
	var lines [][]string
	for len(tokens) > 0 {
		n := min(12, len(tokens))
		lines = append(lines, tokens[:n])
		tokens = tokens[n:]
	}
	return lines
}
