package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrBlocked means an endpoint's host resolves only to addresses the
// sender will not reach: loopback, private, link-local and the like. The
// endpoint is chosen by whoever registers it, so without this check a
// user could make the server POST to services on its own network. The
// caller may drop such a subscription as it drops one that is gone.
var ErrBlocked = errors.New("push: endpoint resolves to an internal address")

// guardedDialer dials only public addresses unless allowInternal is set.
// It resolves the name itself and dials the address it checked, so a DNS
// answer that changes between the check and the dial cannot slip past.
type guardedDialer struct {
	dialer        net.Dialer
	resolver      *net.Resolver
	allowInternal bool
}

func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := net.LookupPort(network, portText)
	if err != nil {
		return nil, err
	}
	ips, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		if !d.allowInternal && internal(ip) {
			errs = append(errs, fmt.Errorf("%w: %s", ErrBlocked, ip))
			continue
		}
		c, err := d.dialer.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// sharedSpace is the carrier-grade NAT range (RFC 6598), private in
// practice though netip does not call it so.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() ||
		sharedSpace.Contains(ip)
}
