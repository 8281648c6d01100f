package cluster

import "sync/atomic"

// Stats is a snapshot of the node's cluster counters, for the server to
// expose as metrics. All count since Join.
type Stats struct {
	LeaseRenewals  uint64 // leases extended
	NodesSeen      uint64 // NodeUp events
	GuardsTripped  uint64 // times this node found itself fenced
	Resets         uint64 // times Redis was found to have lost the registry
	Published      uint64 // messages Redis accepted
	PublishDropped uint64 // messages refused because the queue was full
	PublishErrors  uint64 // messages lost because SPUBLISH failed
	Received       uint64 // messages delivered to Hooks.Message
	Echoes         uint64 // own messages dropped on receipt
	Lost           uint64 // gaps in a publisher's sequence
	OutOfOrder     uint64 // messages at or behind the last seen sequence, dropped
	OpenFailures   uint64 // payloads that failed to parse or open, dropped
	Resubscribes   uint64 // subscriptions re-established after a reconnect
}

// counters are the live values behind Stats.
type counters struct {
	leaseRenewals, nodesSeen, guardsTripped, resets atomic.Uint64
	published, publishDropped, publishErrors        atomic.Uint64
	received, echoes, lost, outOfOrder              atomic.Uint64
	openFailures, resubscribes                      atomic.Uint64
}

// Stats returns the node's counters.
func (c *Cluster) Stats() Stats {
	s := &c.stats
	return Stats{
		LeaseRenewals: s.leaseRenewals.Load(), NodesSeen: s.nodesSeen.Load(),
		GuardsTripped: s.guardsTripped.Load(), Resets: s.resets.Load(),
		Published: s.published.Load(), PublishDropped: s.publishDropped.Load(),
		PublishErrors: s.publishErrors.Load(), Received: s.received.Load(),
		Echoes: s.echoes.Load(), Lost: s.lost.Load(), OutOfOrder: s.outOfOrder.Load(),
		OpenFailures: s.openFailures.Load(), Resubscribes: s.resubscribes.Load(),
	}
}
