package clientip

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// proxies is the deployment the tables assume: a load balancer network
// (10.0.0.0/8) and one IPv6 proxy network (2001:db8:ffff::/48).
var proxies = New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")})

func TestResolve(t *testing.T) {
	const (
		proxy  = "10.0.0.5"
		client = "198.51.100.7"
	)
	long := strings.Repeat("203.0.113.9, ", 20000) + client // ~280 KB of client-written prefix
	tests := []struct {
		name      string
		peer      string
		forwarded []string
		xff       []string
		want      string
	}{
		// Not from a trusted proxy: the headers are the client's own words.
		{"untrusted peer, spoofed X-Forwarded-For", "192.0.2.1", nil, []string{"1.2.3.4"}, "192.0.2.1"},
		{"untrusted peer, spoofed Forwarded", "192.0.2.1", []string{"for=1.2.3.4"}, nil, "192.0.2.1"},
		{"untrusted peer claiming a trusted hop", "192.0.2.1", nil, []string{"10.0.0.9"}, "192.0.2.1"},
		{"untrusted IPv6 peer", "2001:db8::1", nil, []string{"1.2.3.4"}, "2001:db8::1"},
		{"no peer address", "", nil, []string{"1.2.3.4"}, ""},

		// From a trusted proxy.
		{"trusted peer, no header", proxy, nil, nil, proxy},
		{"trusted peer, empty headers", proxy, []string{""}, []string{" , ,"}, proxy},
		{"X-Forwarded-For", proxy, nil, []string{client}, client},
		{"Forwarded", proxy, []string{"for=" + client + ";proto=https;by=10.0.0.5"}, nil, client},
		{"Forwarded, parameter names in any case", proxy, []string{"For=" + client}, nil, client},
		{"client's own prefix is ignored", proxy, nil, []string{"6.6.6.6, " + client}, client},
		{"client's own Forwarded prefix is ignored", proxy, []string{"for=6.6.6.6, for=" + client}, nil, client},
		{"several trusted hops", proxy, nil, []string{"6.6.6.6, " + client + ", 10.1.1.1, 10.2.2.2"}, client},
		{"several header lines", proxy, nil, []string{"6.6.6.6, " + client, "10.1.1.1", "10.2.2.2"}, client},
		{"every hop trusted: the leftmost", proxy, nil, []string{"10.3.3.3, 10.1.1.1"}, "10.3.3.3"},
		{"a client claiming a trusted address is only the leftmost", proxy, nil, []string{"10.9.9.9, " + client}, client},

		// IPv6 and ports.
		{"Forwarded quoted IPv6 with port", proxy, []string{`for="[2001:db8:cafe::17]:4711"`}, nil, "2001:db8:cafe::17"},
		{"Forwarded quoted IPv4 with port", proxy, []string{`for="198.51.100.7:8080"`}, nil, client},
		{"Forwarded unquoted IPv4 with port (lenient)", proxy, []string{`for=198.51.100.7:8080`}, nil, client},
		{"Forwarded obfuscated port", proxy, []string{`for="198.51.100.7:_abc"`}, nil, client},
		{"X-Forwarded-For IPv6", proxy, nil, []string{"2001:db8:cafe::17"}, "2001:db8:cafe::17"},
		{"X-Forwarded-For bracketed IPv6 with port", proxy, nil, []string{"[2001:db8:cafe::17]:443"}, "2001:db8:cafe::17"},
		{"X-Forwarded-For IPv4 with port", proxy, nil, []string{client + ":51234"}, client},
		{"X-Forwarded-For IPv4-mapped IPv6", proxy, nil, []string{"::ffff:198.51.100.7"}, client},
		{"IPv6 trusted proxy", "2001:db8:ffff::1", nil, []string{client}, client},
		{"IPv4-mapped trusted peer", "::ffff:10.0.0.5", nil, []string{client}, client},
		{"IPv6 hop past a trusted IPv6 hop", proxy, []string{`for="[2001:db8:cafe::17]", for="[2001:db8:ffff::2]"`}, nil, "2001:db8:cafe::17"},

		// Hops that name no address: the walk stops at the hop that said so.
		{"Forwarded unknown", proxy, []string{"for=unknown"}, nil, proxy},
		{"Forwarded obfuscated", proxy, []string{"for=_hidden"}, nil, proxy},
		{"Forwarded unknown behind a trusted hop", proxy, []string{"for=unknown, for=10.1.1.1"}, nil, "10.1.1.1"},
		{"Forwarded unknown left of the client", proxy, []string{"for=unknown, for=" + client}, nil, client},
		{"Forwarded element without for", proxy, []string{"proto=https;by=10.0.0.5"}, nil, proxy},

		// Malformed values.
		{"X-Forwarded-For garbage", proxy, nil, []string{"not-an-ip"}, proxy},
		{"X-Forwarded-For garbage behind a trusted hop", proxy, nil, []string{"garbage, 10.1.1.1"}, "10.1.1.1"},
		{"X-Forwarded-For garbage left of the client", proxy, nil, []string{"garbage, " + client}, client},
		{"X-Forwarded-For zone", proxy, nil, []string{"fe80::1%eth0"}, proxy},
		{"X-Forwarded-For bad port", proxy, nil, []string{client + ":99999"}, proxy},
		{"X-Forwarded-For unclosed bracket", proxy, nil, []string{"[2001:db8::1"}, proxy},
		{"Forwarded unquoted IPv6", proxy, []string{"for=2001:db8::1"}, nil, proxy},
		{"Forwarded IPv6 without brackets, quoted", proxy, []string{`for="2001:db8::1"`}, nil, proxy},
		{"Forwarded IPv4 in brackets", proxy, []string{`for="[198.51.100.7]"`}, nil, proxy},
		{"Forwarded unterminated quote", proxy, []string{`for="198.51.100.7`}, nil, proxy},
		{"Forwarded unterminated quote swallows what follows", proxy, []string{`for="6.6.6.6, for=` + client}, nil, proxy},
		{"Forwarded for twice in one element", proxy, []string{"for=6.6.6.6;for=" + client}, nil, proxy},
		{"Forwarded empty value", proxy, []string{"for="}, nil, proxy},
		{"Forwarded bad parameter name", proxy, []string{"f(r=" + client}, nil, proxy},
		{"Forwarded control character", proxy, []string{"for=\"198.51.100.7\x01\""}, nil, proxy},
		{"Forwarded escaped quote", proxy, []string{`for="\"198.51.100.7"`}, nil, proxy},
		{"Forwarded port too long", proxy, []string{`for="198.51.100.7:123456"`}, nil, proxy},

		// Both headers: believed only when they agree.
		{"both agree", proxy, []string{"for=" + client}, []string{client}, client},
		{"both, a spoofed Forwarded passed through", proxy, []string{"for=6.6.6.6"}, []string{client}, proxy},
		{"both, a spoofed X-Forwarded-For passed through", proxy, []string{"for=" + client}, []string{"6.6.6.6"}, proxy},

		// Huge headers: only the rightmost 32 hops are read.
		{"huge X-Forwarded-For", proxy, nil, []string{long}, client},
		{"more trusted hops than are read", proxy, nil, []string{client + strings.Repeat(", 10.1.1.1", 40)}, "10.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var peer netip.Addr
			if tt.peer != "" {
				peer = netip.MustParseAddr(tt.peer)
			}
			got := proxies.Resolve(peer, tt.forwarded, tt.xff)
			if want := addrOrZero(tt.want); got != want {
				t.Errorf("Resolve(%s, Forwarded %q, X-Forwarded-For %.80q): got %v, want %v", tt.peer, tt.forwarded, tt.xff, got, want)
			}
		})
	}
}

func addrOrZero(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

// Without trusted proxies (nil, or none listed), the client is the peer
// whatever the headers say.
func TestResolveTrustsNobodyByDefault(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.5")
	for name, r := range map[string]*Resolver{"nil": nil, "empty": New(nil)} {
		if got := r.Resolve(peer, []string{"for=1.2.3.4"}, []string{"1.2.3.4"}); got != peer {
			t.Errorf("%s resolver: got %v, want the peer %v", name, got, peer)
		}
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct {
		remote string
		header map[string][]string
		want   string
	}{
		{"10.0.0.5:41000", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}}, "198.51.100.7"},
		{"[2001:db8:ffff::9]:41000", map[string][]string{"Forwarded": {`for="[2001:db8::7]:1"`}}, "2001:db8::7"},
		{"192.0.2.1:41000", map[string][]string{"X-Forwarded-For": {"198.51.100.7"}, "Forwarded": {"for=198.51.100.7"}}, "192.0.2.1"},
		{"192.0.2.1", nil, "192.0.2.1"},
		{"[fe80::1%eth0]:80", nil, "fe80::1"},
		{"@", nil, ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		for k, vs := range tt.header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		if got := proxies.ClientIP(req); got != addrOrZero(tt.want) {
			t.Errorf("ClientIP(RemoteAddr %q, %v): got %v, want %q", tt.remote, tt.header, got, tt.want)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tt := range []struct {
		in, want, err string
	}{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{" 192.168.1.5 ", "192.168.1.5/32", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"::ffff:10.0.0.1", "10.0.0.1/32", ""},
		{"10.1.2.3/8", "", "did you mean 10.0.0.0/8"},
		{"0.0.0.0/0", "", "would trust every address"},
		{"::/0", "", "would trust every address"},
		{"10.0.0.0/33", "", "not an IP address or CIDR"},
		{"10.0.0.300", "", "not an IP address or CIDR"},
		{"proxy.example", "", "not an IP address or CIDR"},
		{"fe80::1%eth0", "", "not an IP address or CIDR"},
		{"", "", "not an IP address or CIDR"},
	} {
		got, err := ParsePrefix(tt.in)
		switch {
		case tt.err == "" && (err != nil || got.String() != tt.want):
			t.Errorf("ParsePrefix(%q): got %v, %v; want %s", tt.in, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParsePrefix(%q): got %v, %v; want an error saying %q", tt.in, got, err, tt.err)
		}
	}
}

// ParsePrefixes reports every bad entry, not only the first.
func TestParsePrefixesReportsEveryEntry(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", "bad-one", "192.168.0.1", "0.0.0.0/0"})
	if len(got) != 2 || err == nil || !strings.Contains(err.Error(), `"bad-one"`) || !strings.Contains(err.Error(), `"0.0.0.0/0"`) {
		t.Errorf("ParsePrefixes: got %v, %v; want the 2 good prefixes and an error naming both bad entries", got, err)
	}
}
