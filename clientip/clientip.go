// Package clientip finds the address of the client that sent an HTTP
// request. Behind a reverse proxy the TCP peer is the proxy; the client's
// address is in the Forwarded (RFC 7239) or X-Forwarded-For header the
// proxy adds. Those headers are believed only when the peer is a proxy the
// operator trusts, and only as far as trusted proxies wrote them: anything
// a client sends itself stays to the left of what they append.
package clientip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many entries of a header are looked at, from the
// right: a chain of proxies is a handful of hops, and a header of any
// length costs one pass and no allocation.
const maxHops = 32

// Resolver finds the client address of requests, trusting the forwarding
// headers of peers within its prefixes. The nil Resolver, and one without
// prefixes, trusts no proxy: the client is the TCP peer.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that trusts proxies within the prefixes.
func New(trusted []netip.Prefix) *Resolver {
	r := &Resolver{}
	for _, p := range trusted {
		r.trusted = append(r.trusted, p.Masked())
	}
	return r
}

// ParsePrefix parses one trusted-proxy entry: a CIDR prefix
// ("10.0.0.0/8", "2001:db8::/32") or a single address, which stands for
// itself alone. It refuses a prefix with bits set past its length (a
// typo, such as 10.1.2.3/8, more often than a network) and a prefix of
// length 0, which would trust every address, so that any client could
// choose its own.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix (such as 10.0.0.0/8 or 2001:db8::/32)", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix (such as 10.0.0.0/8 or 2001:db8::/32)", s)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q would trust every address, so any client could claim any IP: list your proxies' networks", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has bits set past its length: did you mean %s?", s, p.Masked())
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		// Peers are compared unmapped, as IPv4.
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p, nil
}

// ParsePrefixes parses entries with ParsePrefix and reports every bad one
// (an error per entry, joined).
func ParsePrefixes(entries []string) ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for _, e := range entries {
		p, err := ParsePrefix(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ClientIP returns the address of the client that sent req. It is the TCP
// peer (req.RemoteAddr) unless the peer is a trusted proxy; then it is taken
// from the request's Forwarded or X-Forwarded-For header (see Resolve). An
// IPv4 address mapped into IPv6 is returned as IPv4, and zones are dropped.
// The zero Addr means the peer address could not be read.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	return r.Resolve(peerAddr(req.RemoteAddr), req.Header.Values("Forwarded"), req.Header.Values("X-Forwarded-For"))
}

// peerAddr reads the address of RemoteAddr ("ip:port", or a bare ip).
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr()
	}
	a, _ := netip.ParseAddr(remote)
	return a
}

// Resolve returns the client address of a request from peer, its TCP peer,
// and the values (one per header line, in order) of its Forwarded and
// X-Forwarded-For headers.
//
// When peer is not trusted, or neither header names a hop, the client is
// peer. Otherwise the header's hops are walked from the right, where the
// proxy nearest Gatehouse appended what it saw: past every trusted address,
// the first untrusted one is the client; if every hop is trusted, the
// leftmost is. A hop that names no address (Forwarded's "unknown" or an
// obfuscated identifier, or a malformed entry) stops the walk: the client is
// the trusted hop that reported it, as nothing further can be verified.
// Only the rightmost 32 hops of a header are read.
//
// When a request carries both headers, the client is the one both name; if
// they disagree, it is peer. A proxy maintains one of them and passes the
// other on as the client sent it, and which one is unknowable here, so
// neither is believed: a client cannot choose its address by sending the
// header its proxy leaves alone. Proxies should set one and remove the
// other.
func (r *Resolver) Resolve(peer netip.Addr, forwarded, xff []string) netip.Addr {
	peer = peer.Unmap().WithZone("")
	if r == nil || !r.trusts(peer) {
		return peer
	}
	var fwd, xf hops
	for _, v := range forwarded {
		parseForwarded(v, &fwd)
	}
	for _, v := range xff {
		parseXForwardedFor(v, &xf)
	}
	switch {
	case fwd.n > 0 && xf.n > 0:
		if a, b := r.walk(peer, &fwd), r.walk(peer, &xf); a == b {
			return a
		}
		return peer
	case fwd.n > 0:
		return r.walk(peer, &fwd)
	case xf.n > 0:
		return r.walk(peer, &xf)
	}
	return peer
}

// walk walks h from the right past trusted addresses; see Resolve.
func (r *Resolver) walk(peer netip.Addr, h *hops) netip.Addr {
	client := peer
	for i := range h.len() {
		hop := h.fromRight(i)
		if !hop.IsValid() {
			return client
		}
		client = hop
		if !r.trusts(hop) {
			return client
		}
	}
	return client
}

func (r *Resolver) trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hops keeps the last maxHops hops of a header, in a ring; a hop is the
// zero Addr when it names no address.
type hops struct {
	ring [maxHops]netip.Addr
	n    int // hops added in all
}

func (h *hops) add(a netip.Addr) {
	h.ring[h.n%maxHops] = a
	h.n++
}

func (h *hops) len() int { return min(h.n, maxHops) }

// fromRight returns the i-th hop from the right (0: the last added).
func (h *hops) fromRight(i int) netip.Addr { return h.ring[(h.n-1-i)%maxHops] }
