package clientip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// FuzzResolve feeds arbitrary Forwarded and X-Forwarded-For values, as a
// client would write them, and checks what a client can and cannot do:
//   - from an untrusted peer the headers change nothing;
//   - behind a trusted proxy that appends the client's address (to the
//     same X-Forwarded-For line, or as a Forwarded line of its own), the
//     client's own text to the left never changes the answer;
//   - appended to the same Forwarded line, the client's text can at most
//     make the answer the proxy (an unterminated quote), never another
//     address;
//   - whatever the headers, the answer is the peer or a hop they name.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"},
		{`for="[2001:db8:cafe::17]:4711"`, "2001:db8:cafe::17, 10.0.0.1"},
		{`for=unknown, for=_hidden`, "unknown"},
		{`for="\"`, `"`},
		{`for="a, for=1.2.3.4`, "[::1]:80, 1.2.3.4:5"},
		{strings.Repeat("for=10.0.0.1,", 40), strings.Repeat("10.0.0.2,", 40)},
		{"", ""},
	} {
		f.Add(s[0], s[1], uint32(0xc6336407))
	}
	peer, proxy := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.0.5")
	f.Fuzz(func(t *testing.T, forwarded, xff string, v4 uint32) {
		client := netip.AddrFrom4([4]byte{byte(v4 >> 24), byte(v4 >> 16), byte(v4 >> 8), byte(v4)})
		if proxies.trusts(client) {
			client = netip.MustParseAddr("198.51.100.7")
		}
		if got := proxies.Resolve(peer, []string{forwarded}, []string{xff}); got != peer {
			t.Fatalf("untrusted peer with Forwarded %q, X-Forwarded-For %q: got %v, want the peer %v", forwarded, xff, got, peer)
		}
		if got := proxies.Resolve(proxy, nil, []string{xff + ", " + client.String()}); got != client {
			t.Fatalf("X-Forwarded-For %q + the proxy's %v: got %v, want %v", xff, client, got, client)
		}
		if got := proxies.Resolve(proxy, []string{forwarded, "for=" + client.String()}, nil); got != client {
			t.Fatalf("Forwarded line %q, then the proxy's line for %v: got %v, want %v", forwarded, client, got, client)
		}
		if got := proxies.Resolve(proxy, []string{forwarded + ", for=" + client.String()}, nil); got != client && got != proxy {
			t.Fatalf("Forwarded %q + the proxy's for=%v: got %v, want %v or the proxy", forwarded, client, got, client)
		}
		got := proxies.Resolve(proxy, []string{forwarded}, []string{xff})
		if got != proxy && !namedIn(got, forwarded, xff) {
			t.Fatalf("Forwarded %q, X-Forwarded-For %q: got %v, which they do not name", forwarded, xff, got)
		}
	})
}

// namedIn reports whether a is the address of some hop of the headers.
func namedIn(a netip.Addr, forwarded, xff string) bool {
	var h hops
	parseForwarded(forwarded, &h)
	parseXForwardedFor(xff, &h)
	for i := range h.len() {
		if h.fromRight(i) == a {
			return true
		}
	}
	return false
}

// FuzzForwardedRoundTrip writes a chain of hops the way proxies do (in
// Forwarded: IPv6 bracketed and quoted, ports, other parameters; in
// X-Forwarded-For: bare, or with a port) and checks that both parsers read
// back exactly those addresses, the rightmost 32 when there are more.
func FuzzForwardedRoundTrip(f *testing.F) {
	f.Add([]byte{4, 192, 0, 2, 1, 6, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x84, 10, 0, 0, 1, 0x86, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			want      []netip.Addr
			fwd, xffs []string
			withPort  bool
			b         []byte
		)
		for len(data) > 0 {
			kind := data[0]
			data = data[1:]
			withPort = kind&0x80 != 0
			n := 4
			if kind&0x7f == 6 {
				n = 16
			}
			if len(data) < n {
				break
			}
			b, data = data[:n], data[n:]
			var a netip.Addr
			if n == 4 {
				a = netip.AddrFrom4([4]byte(b))
			} else {
				a = netip.AddrFrom16([16]byte(b)).Unmap()
			}
			want = append(want, a)
			port := strconv.Itoa(int(kind)*200 + len(want))
			switch {
			case a.Is6() && withPort:
				fwd = append(fwd, fmt.Sprintf(`for="[%s]:%s";proto=https`, a, port))
				xffs = append(xffs, fmt.Sprintf("[%s]:%s", a, port))
			case a.Is6():
				fwd = append(fwd, fmt.Sprintf(`For="[%s]"`, a))
				xffs = append(xffs, a.String())
			case withPort:
				fwd = append(fwd, fmt.Sprintf(`by=_x;for="%s:%s"`, a, port))
				xffs = append(xffs, a.String()+":"+port)
			default:
				fwd = append(fwd, "for="+a.String())
				xffs = append(xffs, a.String())
			}
		}
		for name, parse := range map[string]func(string, *hops){"Forwarded": parseForwarded, "X-Forwarded-For": parseXForwardedFor} {
			line := strings.Join(xffs, ", ")
			if name == "Forwarded" {
				line = strings.Join(fwd, ", ")
			}
			var h hops
			parse(line, &h)
			if h.n != len(want) || h.len() > maxHops {
				t.Fatalf("%s %q: read %d hops (kept %d), want %d (kept at most %d)", name, line, h.n, h.len(), len(want), maxHops)
			}
			for i := range h.len() {
				if got, w := h.fromRight(i), want[len(want)-1-i]; got != w {
					t.Fatalf("%s %q: hop %d from the right: got %v, want %v", name, line, i, got, w)
				}
			}
		}
	})
}
