package load

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The loss audit (--reconnect) tells the two kinds of loss apart once the
// run is over: a message some client missed (live and in its gap fill)
// while the channel's history has it, and a message history does not have
// either — lost for good. A history client joins every channel after the
// drain, before the users leave and the channels with them, and once the
// receivers' windows are closed looks each lost message up.

// auditPages bounds the CHATHISTORY pages the audit reads per channel.
const auditPages = 5000

// msgKey names one load message.
type msgKey struct {
	sender int
	seq    int64
}

// startAudit connects the history client and joins every channel; nil,
// with the reason noted, if no node takes it.
func (r *runner) startAudit(ctx context.Context) *conn {
	var err error
	for node := range r.cfg.Addrs {
		var c *conn
		if c, err = r.auditConn(ctx, node); err == nil {
			return c
		}
	}
	r.rc.note(&r.rc.auditErr, err)
	return nil
}

func (r *runner) auditConn(ctx context.Context, node int) (*conn, error) {
	addr := r.cfg.Addrs[node]
	c, err := dialConn(ctx, r.cfg, addr, "tcp", r.tlsFor(addr), r.cfg.NickPrefix+"-"+r.runID+"-audit", r.runID)
	if err != nil {
		return nil, err
	}
	c.nc.SetDeadline(time.Now().Add(r.cfg.ConnectTO))
	c.altNicks = altNicks
	err = c.register(r.cfg)
	for _, ch := range r.channels {
		if err != nil {
			break
		}
		_, err = c.join(ch, func() {})
	}
	if err == nil && !c.caps["draft/chathistory"] {
		err = errors.New("the server does not offer draft/chathistory")
	}
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// finishAudit looks up in history every message a receiver lost; the
// receivers' windows must be closed. since is before the first message.
func (r *runner) finishAudit(c *conn, res *ReconnectResult, since time.Time) {
	lost := map[string]map[msgKey]bool{} // by channel
	for _, u := range r.users {
		u.rx.tr.Missing(func(s int, q int64) {
			if lost[u.channel] == nil {
				lost[u.channel] = map[msgKey]bool{}
			}
			lost[u.channel][msgKey{s, q}] = true
			if u.rx.gap.drops > 0 {
				res.LostByDropped++
			}
		})
	}
	if c == nil {
		res.AuditError = r.rc.auditErr
		return
	}
	defer c.close()
	c.nc.SetDeadline(time.Now().Add(r.cfg.ConnectTO))
	from := "timestamp=" + since.UTC().Format("2006-01-02T15:04:05.000Z")
	for ch, keys := range lost {
		// Paging forwards and paging backwards may each skip a record
		// the other reaches (one stored out of time order, say); what
		// neither finds is not in history.
		after, before := map[msgKey]bool{}, map[msgKey]bool{}
		c.onHistory = func(s int, q int64) { after[msgKey{s, q}] = true }
		err := c.historyAfter(ch, from, auditPages, &r.rc.auditReqs)
		if err == nil {
			c.onHistory = func(s int, q int64) { before[msgKey{s, q}] = true }
			err = c.historyBefore(ch, auditPages, &r.rc.auditReqs)
		}
		if err != nil {
			r.rc.note(&r.rc.auditErr, err)
			res.AuditError = r.rc.auditErr
			return
		}
		for k := range keys {
			res.LostMessages++
			if before[k] && !after[k] {
				res.SkippedByAfter++
			}
			switch {
			case after[k] || before[k]:
				res.LostInHistory++
			case r.users[k.sender].rx.gap.drops == 0:
				res.AbsentSenderStayed++
				fallthrough
			default:
				if len(res.AbsentSample) < 5 {
					res.AbsentSample = append(res.AbsentSample, fmt.Sprintf("%s sender %d seq %d", ch, k.sender, k.seq))
				}
			}
		}
	}
	res.AbsentFromHistory = res.LostMessages - res.LostInHistory
}
