package ircd

import "gopkg.in/irc.v4"

// TODO(history engineer): replace with the real CHATHISTORY.

func handleChathistory(c *Client, m *irc.Message) error { return nil }

const chathistoryMax = 100
