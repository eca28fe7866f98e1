package egress

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
)

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2001:4860:4860::8888", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8

		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"100.100.100.200", false}, // a cloud's metadata in shared address space
		{"100.64.0.1", false},
		{"192.0.0.1", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:10.1.2.3", false},
		{"64:ff9b::a00:1", false},    // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", false},   // NAT64 of 127.0.0.1
		{"64:ff9b:1::a00:1", false},  // local-use NAT64
		{"2002:a00:1::1", false},     // 6to4 of 10.0.0.1
		{"2002:a9fe:a9fe::1", false}, // 6to4 of 169.254.169.254
		{"2001:0:4136:e378::1", false},
		{"2001:db8::1", false},
		{"100::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
	} {
		if got := Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// The dialler's check refuses internal addresses whatever the network,
// lets public ones through, and refuses what is not an address at all.
func TestControl(t *testing.T) {
	for _, tc := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "93.184.216.34:443", true},
		{"tcp6", "[2606:2800:220:1:248:1893:25c8:1946]:443", true},
		{"tcp4", "127.0.0.1:443", false},
		{"tcp6", "[::1]:443", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp", "localhost:80", false},
		{"tcp", "", false},
	} {
		err := control(tc.network, tc.address, nil)
		if (err == nil) != tc.ok {
			t.Errorf("control(%s, %q) = %v, want ok %v", tc.network, tc.address, err, tc.ok)
		}
	}
}

// A client over Transport never reaches a server on this machine: not by
// its address (IPv4, or IPv4-mapped IPv6), not by a name that resolves to
// it, and not through a proxy the base transport names (the proxy would
// connect for it).
func TestTransportRefusesInternalAddresses(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = http.ProxyURL(u) // the test server as the proxy
	client := &http.Client{Transport: Transport(base)}
	defer client.CloseIdleConnections()

	for _, target := range []string{
		srv.URL + "/keys",
		"http://localhost:" + u.Port() + "/keys",
		"https://127.0.0.1:" + u.Port() + "/keys",
		"http://[::ffff:127.0.0.1]:" + u.Port() + "/keys",
	} {
		resp, err := client.Get(target)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s: got status %d, want a refused connection", target, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrNotPublic) {
			t.Errorf("GET %s: got %v, want ErrNotPublic", target, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server on this machine got %d requests, want 0", n)
	}
}

// roundTripper is an http.RoundTripper of another kind than
// *http.Transport, as instrumentation puts in http.DefaultTransport.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// With http.DefaultTransport replaced by another kind of RoundTripper,
// Transport(nil) still builds a guarded transport (never the replacement,
// which would connect anywhere).
func TestTransportDefaultReplaced(t *testing.T) {
	var used atomic.Int64
	saved := http.DefaultTransport
	http.DefaultTransport = roundTripper(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return nil, errors.New("the replaced default transport was used")
	})
	defer func() { http.DefaultTransport = saved }()
	tr := Transport(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	client := &http.Client{Transport: tr}
	defer client.CloseIdleConnections()
	if _, err := client.Get(srv.URL); !errors.Is(err, ErrNotPublic) {
		t.Errorf("GET %s over Transport(nil): got %v, want ErrNotPublic", srv.URL, err)
	}
	if used.Load() != 0 {
		t.Error("the replaced default transport was used")
	}
}
