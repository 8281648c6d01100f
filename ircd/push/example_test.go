package push_test

import (
	"context"
	"errors"
	"log"
	"time"

	"gopkg.in/irc.v4"

	"securechat/ircd/push"
	"securechat/ircd/wire"
)

// Example shows the server's side: the key kept sealed across restarts,
// a subscription from WEBPUSH REGISTER, a push for a mention, and the
// subscription dropped when its push service says it is gone.
func Example() {
	key, _ := push.GenerateVAPIDKey() // first start; later push.ParseVAPIDKey(open(sealed))
	_ = key.Marshal()                 // seal, then store
	isupport := "VAPID=" + key.Public()
	_ = isupport

	sender, err := push.NewSender(push.Config{
		Key:     key,
		Subject: "mailto:ops@chat.example.com",
		Done: func(sub push.Subscription, err error) {
			if errors.Is(err, push.ErrGone) || errors.Is(err, push.ErrBlocked) {
				log.Print("push: dropping a subscription") // never log the endpoint
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sender.Close(ctx)
	}()

	// WEBPUSH REGISTER <endpoint> <keys>
	sub, err := push.ParseSubscription("https://push.example.com/wpush/abc", "p256dh=BP…;auth=…")
	if err != nil {
		log.Printf("FAIL WEBPUSH %s REGISTER :%v", push.FailCode(err), err)
		return
	}
	m := &irc.Message{Prefix: &irc.Prefix{Name: "alice"}, Command: "PRIVMSG", Params: []string{"#room", "bob: lunch?"}}
	line, _ := push.Payload([]wire.Tag{{Key: "msgid", Value: "01JD4S8VQ4"}}, m)
	_ = sender.Push(sub, line, push.UrgencyHigh) // never blocks; a drop is counted in Stats
}
