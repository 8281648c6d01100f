package ircd

import (
	"os"
	"strings"

	"gopkg.in/irc.v4"

	"securechat/config"
)

// loadMOTD reads the message of the day once per (re)load, so MOTD never
// touches the disk on a client's behalf.
func (s *Server) loadMOTD(cfg *config.Config) {
	var lines []string
	if cfg.MOTDFile != "" {
		data, err := os.ReadFile(cfg.MOTDFile)
		if err != nil {
			s.log.Warn("motd unreadable", "err", err)
		}
		for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			lines = append(lines, truncate(strings.TrimRight(l, "\r"), 400))
		}
	}
	s.motd.Store(&lines)
}

func (s *Server) sendMOTD(c *Client) {
	lines := *s.motd.Load()
	if len(lines) == 0 {
		c.numeric(irc.ERR_NOMOTD, "MOTD File is missing")
		return
	}
	c.numeric(irc.RPL_MOTDSTART, "- "+s.name()+" Message of the day - ")
	for _, l := range lines {
		c.numeric(irc.RPL_MOTD, "- "+l)
	}
	c.numeric(irc.RPL_ENDOFMOTD, "End of /MOTD command.")
}

func handleMotd(c *Client, _ *irc.Message) error {
	c.srv.sendMOTD(c)
	return nil
}
