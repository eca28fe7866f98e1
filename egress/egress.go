// Package egress guards the requests Gatehouse makes to addresses that a
// client chose for itself: the jwks_uri it fetches and the
// backchannel_logout_uri it posts to, for clients that registered
// themselves (RFC 7591). Such a client must not be able to make Gatehouse
// reach what only Gatehouse can reach: its own loopback, the private
// network it runs in, a cloud's metadata service. Clients declared by the
// operator (clients.yaml, the admin API) are trusted with any address.
//
// The guard is on the dialler, so it sees the address each connection is
// actually made to, after the name is resolved: a name that resolves to
// an internal address, or is rebound to one between two requests, is
// refused as the literal address would be, and so is every hop of a
// redirect.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrNotPublic is the error of a connection refused because its address
// is not a public unicast one.
var ErrNotPublic = errors.New("not a public address")

// special lists the ranges that netip's IsGlobalUnicast and IsPrivate let
// through yet no server on the internet has (IANA's special-purpose
// address registries).
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // this network
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier NAT; some clouds' metadata)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments, Teredo among them
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// Prefixes that carry an IPv4 address inside an IPv6 one: the address is
// public only if the IPv4 one is.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // well-known translation prefix: the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4: bits 16 to 48
)

// Public reports whether a is a public unicast address: not loopback,
// private, link-local, multicast, unspecified, or another special-purpose
// range, whether written as IPv4, IPv4-mapped IPv6, or an IPv6 address
// that embeds an IPv4 one (NAT64, 6to4).
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return Public(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return Public(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// control is the dialler's Control: it refuses a connection whose address
// is not Public.
func control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: %s address %q: %w", network, address, err)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("egress: %s: %w", ap.Addr(), ErrNotPublic)
	}
	return nil
}

// Transport returns a copy of base (of http.DefaultTransport when nil, or
// of a transport with Go's default timeouts if that was replaced by
// another kind) that connects only to Public addresses. It uses no proxy:
// a proxy would resolve and connect on its own, out of the guard's sight;
// and it dials TLS itself (base's DialTLSContext is dropped) so that no
// connection bypasses the check.
func Transport(base *http.Transport) *http.Transport {
	if base == nil {
		if d, ok := http.DefaultTransport.(*http.Transport); ok {
			base = d
		} else {
			base = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second, ExpectContinueTimeout: time.Second}
		}
	}
	t := base.Clone()
	t.Proxy = nil
	t.DialTLSContext = nil
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: control}).DialContext
	return t
}
