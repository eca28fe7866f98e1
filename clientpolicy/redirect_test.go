package clientpolicy

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// T-A1: against a web client registered with https://app.example/cb only
// the exact string is a valid redirect.
func TestRedirectAllowedWeb(t *testing.T) {
	web := &storage.Client{ID: "web", ApplicationType: "web", RedirectURIs: []string{"https://app.example/cb"}}
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"exact", "https://app.example/cb", true},
		{"empty", "", false},
		{"path case", "https://app.example/CB", false},
		{"host case", "https://APP.example/cb", false},
		{"scheme case", "HTTPS://app.example/cb", false},
		{"trailing slash", "https://app.example/cb/", false},
		{"extra query", "https://app.example/cb?x=1", false},
		{"empty query", "https://app.example/cb?", false},
		{"fragment", "https://app.example/cb#x", false},
		{"empty fragment", "https://app.example/cb#", false},
		{"encoded slash", "https://app.example%2Fcb", false},
		{"encoded slash after path", "https://app.example/cb%2F", false},
		{"encoded path char", "https://app.example/%63b", false},
		{"double encoded", "https://app.example/%2563b", false},
		{"double encoded slash", "https://app.example%252Fcb", false},
		{"dot segment", "https://app.example/x/../cb", false},
		{"dot segment after", "https://app.example/cb/../cb", false},
		{"tomcat traversal", "https://app.example/..;/cb", false},
		{"tomcat traversal after", "https://app.example/cb/..;/evil", false},
		{"userinfo", "https://app.example@evil/cb", false},
		{"userinfo with dot", "https://app.example@evil.test/cb", false},
		{"userinfo with password", "https://app.example:x@evil.test/cb", false},
		{"multiple at", "https://a@b@app.example/cb", false},
		{"multiple at to evil", "https://app.example@evil@app.example/cb", false},
		{"suffix host", "https://app.example.evil/cb", false},
		{"trailing dot host", "https://app.example./cb", false},
		{"explicit default port", "https://app.example:443/cb", false},
		{"other port", "https://app.example:8443/cb", false},
		{"http downgrade", "http://app.example/cb", false},
		{"protocol relative", "//app.example/cb", false},
		{"leading space", " https://app.example/cb", false},
		{"trailing space", "https://app.example/cb ", false},
		{"trailing NUL", "https://app.example/cb\x00", false},
		{"backslash", "https://app.example\\cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedirectAllowed(web, tt.uri); got != tt.want {
				t.Errorf("RedirectAllowed(web, %q): got %v, want %v", tt.uri, got, tt.want)
			}
		})
	}
}

// T-A2: a native client's loopback redirects match with any port, and
// nothing else about them may differ.
func TestRedirectAllowedNative(t *testing.T) {
	native := &storage.Client{ID: "native", ApplicationType: "native", RedirectURIs: []string{
		"http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/oauth2redirect",
	}}
	tests := []struct {
		name string
		uri  string
		want bool
	}{
		{"ipv4 exact", "http://127.0.0.1/callback", true},
		{"ipv4 port", "http://127.0.0.1:51234/callback", true},
		{"ipv4 port 1", "http://127.0.0.1:1/callback", true},
		{"ipv4 port 65535", "http://127.0.0.1:65535/callback", true},
		{"ipv6 exact", "http://[::1]/callback", true},
		{"ipv6 port", "http://[::1]:8080/callback", true},
		{"private scheme exact", "com.example.app:/oauth2redirect", true},

		{"private scheme with port-like suffix", "com.example.app:8080/oauth2redirect", false},
		{"private scheme extra path", "com.example.app:/oauth2redirect/x", false},
		{"private scheme double slash", "com.example.app://oauth2redirect", false},
		{"private scheme case", "COM.example.app:/oauth2redirect", false},
		{"localhost for ipv4", "http://localhost/callback", false},
		{"localhost with port", "http://localhost:8080/callback", false},
		{"ipv6 for ipv4 path", "http://[::1]:8080/other", false},
		{"other loopback ipv4", "http://127.0.0.2:8080/callback", false},
		{"ipv4 mapped ipv6", "http://[::ffff:127.0.0.1]:8080/callback", false},
		{"https scheme", "https://127.0.0.1:8080/callback", false},
		{"https scheme no port", "https://127.0.0.1/callback", false},
		{"path case", "http://127.0.0.1:8080/Callback", false},
		{"trailing slash", "http://127.0.0.1:8080/callback/", false},
		{"extra query", "http://127.0.0.1:8080/callback?x=1", false},
		{"fragment", "http://127.0.0.1:8080/callback#x", false},
		{"other path", "http://127.0.0.1:8080/other", false},
		{"no path", "http://127.0.0.1:8080", false},
		{"dot segment", "http://127.0.0.1:8080/x/../callback", false},
		{"localhost prefix host", "http://localhost.evil.test/callback", false},
		{"ipv4 prefix host", "http://127.0.0.1.evil.test/callback", false},
		{"port then host", "http://127.0.0.1:8080.evil.test/callback", false},
		{"userinfo", "http://127.0.0.1@evil.test/callback", false},
		{"userinfo with port", "http://127.0.0.1:8080@evil.test/callback", false},
		{"non-numeric port", "http://127.0.0.1:abc/callback", false},
		{"seven digit port", "http://127.0.0.1:1234567/callback", false},
		{"six digit port", "http://127.0.0.1:123456/callback", false},
		{"empty port", "http://127.0.0.1:/callback", false},
		{"double colon port", "http://127.0.0.1::80/callback", false},
		{"two ports", "http://127.0.0.1:80:80/callback", false},
		{"signed port", "http://127.0.0.1:+80/callback", false},
		{"negative port", "http://127.0.0.1:-80/callback", false},
		{"port 0", "http://127.0.0.1:0/callback", false},
		{"port 00000", "http://127.0.0.1:00000/callback", false},
		{"port 65536", "http://127.0.0.1:65536/callback", false},
		{"port 99999", "http://127.0.0.1:99999/callback", false},
		{"ipv6 port 0", "http://[::1]:0/callback", false},
		{"ipv6 port 99999", "http://[::1]:99999/callback", false},
		{"leading zero port", "http://127.0.0.1:080/callback", false},
		{"leading zeros to 65535", "http://127.0.0.1:065535/callback", false},
		{"port 01", "http://127.0.0.1:01/callback", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedirectAllowed(native, tt.uri); got != tt.want {
				t.Errorf("RedirectAllowed(native, %q): got %v, want %v", tt.uri, got, tt.want)
			}
		})
	}
}

// A web (or any non-native) client gets no loopback port exception, even
// for a loopback URI it registered.
func TestRedirectAllowedWebLoopbackHasNoPortException(t *testing.T) {
	for _, appType := range []string{"web", ""} {
		c := &storage.Client{ID: "web", ApplicationType: appType, RedirectURIs: []string{"http://127.0.0.1/callback"}}
		for _, tt := range []struct {
			uri  string
			want bool
		}{
			{"http://127.0.0.1/callback", true},
			{"http://127.0.0.1:8080/callback", false},
		} {
			if got := RedirectAllowed(c, tt.uri); got != tt.want {
				t.Errorf("RedirectAllowed(application_type %q, %q): got %v, want %v", appType, tt.uri, got, tt.want)
			}
		}
	}
}

func TestLoopbackMatch(t *testing.T) {
	tests := []struct {
		registered, requested string
		want                  bool
	}{
		{"http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb", true},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1/cb", true},
		{"http://127.0.0.1/cb?a=b", "http://127.0.0.1:1/cb?a=b", true},
		{"http://[::1]/cb", "http://[::1]:3000/cb", true},
		{"http://localhost/cb", "http://localhost:3000/cb", true},

		{"http://127.0.0.1/cb?a=b", "http://127.0.0.1:1/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:1/cb?a=b", false},
		{"http://localhost/cb", "http://127.0.0.1:3000/cb", false},
		{"http://127.0.0.1/cb", "http://localhost:3000/cb", false},
		{"http://127.0.0.1/cb", "http://[::1]:3000/cb", false},
		{"http://[::1]/cb", "http://127.0.0.1:3000/cb", false},
		{"http://localhost/cb", "http://localhost.evil.test/cb", false},
		{"http://127.0.0.1", "http://127.0.0.1:80", false},
		{"http://127.0.0.1:abc/cb", "http://127.0.0.1:80/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
		{"http://127.0.0.1/cb", "http://127.0.0.1:08080/cb", false},
		{"http://127.0.0.1:0/cb", "http://127.0.0.1:8080/cb", false},
		{"http://127.0.0.1:99999/cb", "http://127.0.0.1:8080/cb", false},
		{"http://127.0.0.1.evil/cb", "http://127.0.0.1.evil:80/cb", false},
		{"https://127.0.0.1/cb", "https://127.0.0.1:443/cb", false},
		{"https://app.example/cb", "https://app.example:443/cb", false},
		{"com.example.app:/cb", "com.example.app:/cb", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.registered+" "+tt.requested, func(t *testing.T) {
			if got := LoopbackMatch(tt.registered, tt.requested); got != tt.want {
				t.Errorf("LoopbackMatch(%q, %q): got %v, want %v", tt.registered, tt.requested, got, tt.want)
			}
		})
	}
}

// validRedirectPort accepts exactly the decimal numbers 1 to 65535 as
// written by strconv.Itoa: no sign, no leading zero, nothing else.
func TestValidRedirectPort(t *testing.T) {
	for _, p := range []string{"1", "80", "8080", "51234", "65535"} {
		if !validRedirectPort(p) {
			t.Errorf("validRedirectPort(%q): got false, want true", p)
		}
	}
	for _, p := range []string{"", "0", "00", "080", "01", "65536", "99999", "100000", "+80", "-1", " 80", "80 ", "8a", "٨٠", "0x50"} {
		if validRedirectPort(p) {
			t.Errorf("validRedirectPort(%q): got true, want false", p)
		}
	}
	for n := 0; n <= 70000; n++ {
		if got, want := validRedirectPort(strconv.Itoa(n)), n >= 1 && n <= 65535; got != want {
			t.Fatalf("validRedirectPort(%q): got %v, want %v", strconv.Itoa(n), got, want)
		}
	}
}

// portThenPath is what may stand between the loopback host and the
// registered path: nothing, or a port of 1 to 5 digits.
var (
	portThenPath = regexp.MustCompile(`^(:[0-9]{1,5})?$`)
	leadingPort  = regexp.MustCompile(`^:[0-9]{1,5}`)
)

// FuzzLoopbackMatch: LoopbackMatch never panics, and whenever it accepts,
// requested is the registered URI with at most the port changed.
func FuzzLoopbackMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"},
		{"http://[::1]/callback", "http://[::1]:8080/callback"},
		{"http://localhost/cb", "http://localhost.evil.test/cb"},
		{"http://127.0.0.1:8080/cb?x=1", "http://127.0.0.1:1234567/cb?x=1"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:abc/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1@evil/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:0/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:99999/cb"},
		{"http://[::1]/cb", "http://[::1]:00080/cb"},
		{"https://app.example/cb", "https://app.example/cb"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !LoopbackMatch(registered, requested) {
			return
		}
		var host string
		for _, h := range []string{"http://127.0.0.1", "http://[::1]", "http://localhost"} {
			if strings.HasPrefix(registered, h) {
				host = h
				break
			}
		}
		if host == "" {
			t.Fatalf("LoopbackMatch(%q, %q): got true for a registered URI without a loopback scheme+host", registered, requested)
		}
		if !strings.HasPrefix(requested, host) {
			t.Fatalf("LoopbackMatch(%q, %q): got true, want requested to start with %q", registered, requested, host)
		}
		regRest := strings.TrimPrefix(registered, host)
		if loc := leadingPort.FindStringIndex(regRest); loc != nil {
			regRest = regRest[loc[1]:]
		}
		if !strings.HasPrefix(regRest, "/") {
			t.Fatalf("LoopbackMatch(%q, %q): got true, want a registered path starting with /", registered, requested)
		}
		if !strings.HasSuffix(requested, regRest) {
			t.Fatalf("LoopbackMatch(%q, %q): got true, want requested to end with registered path+query %q", registered, requested, regRest)
		}
		if len(host)+len(regRest) > len(requested) {
			t.Fatalf("LoopbackMatch(%q, %q): got true, want host and path not to overlap", registered, requested)
		}
		middle := requested[len(host) : len(requested)-len(regRest)]
		if !portThenPath.MatchString(middle) {
			t.Fatalf("LoopbackMatch(%q, %q): got true with %q between host and path, want at most a port", registered, requested, middle)
		}
		if port, ok := strings.CutPrefix(middle, ":"); ok {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
				t.Fatalf("LoopbackMatch(%q, %q): got true with port %q, want 1–65535 in plain decimal", registered, requested, port)
			}
		}
	})
}

func TestCheckRedirectURI(t *testing.T) {
	tests := []struct {
		uri     string
		appType string
		want    string // "" means accepted
	}{
		{"https://app.example.com/callback", "web", ""},
		{"https://app.example.com:8443/cb?tenant=1", "web", ""},
		{"https://app.example.com", "web", ""},
		{"http://localhost:3000/callback", "web", ""},
		{"http://127.0.0.1:3000/callback", "web", ""},
		{"http://[::1]:3000/callback", "web", ""},
		{"http://127.0.0.1/callback", "native", ""},
		{"http://localhost/callback", "native", ""}, // RFC 8252 §8.3: not recommended, accepted
		{"com.example.app:/oauth2redirect", "native", ""},
		{"com.example.app://callback", "native", ""},
		{"https://app.example.com/cb", "native", ""}, // claimed https redirect, RFC 8252 §7.2
		{"https://app.example.com/a%20b", "web", ""},

		{"", "web", "must not be empty"},
		{"/callback", "web", "must be an absolute URI"},
		{"app.example.com/callback", "web", "must be an absolute URI"},
		{"https://app.example.com/cb#frag", "web", "must not contain a fragment"},
		{"https://app.example.com/cb#", "web", "must not contain a fragment"},
		{"https://*.example.com/cb", "web", "wildcard"},
		{"https://app.example.com/*", "web", "wildcard"},
		{"https://app.example.com@evil.example/cb", "web", "must not contain @"},
		{"https://user:pw@app.example.com/cb", "web", "must not contain @"},
		{"http://app.example.com/cb", "web", "must use https"},
		{"http://localhost.evil.example/cb", "web", "must use https"},
		{"http://127.0.0.1.evil.example/cb", "native", "must use https"},
		{"http://192.168.1.1/cb", "web", "must use https"},
		{"HTTPS://app.example.com/cb", "web", `is not in normal form: write it as "https://app.example.com/cb"`},
		{"https://APP.example.com/cb", "web", "the host must be lowercase"},
		{"https://app.example.com/a b", "web", "must be ASCII without spaces"},
		{"https://app.example.com/\u00e9", "web", "must be ASCII"},
		{"https://app.example.com/a\\b", "web", "backslash"},
		{"https://app.example.com/a/../cb", "web", "dot segments"},
		{"https://app.example.com/./cb", "web", "dot segments"},
		{"https://app.example.com/..;/cb", "web", "dot segments"},
		{"https://app.example.com/cb/..", "web", "dot segments"},
		{"https://app.example.com/%2e%2e/cb", "web", "uppercase hex"},
		{"https://app.example.com/%2E%2E/cb", "web", `must not percent-encode '.'`},
		{"https://app.example.com/a%2Fb", "web", "must not percent-encode / or"},
		{"https://app.example.com/a%5Cb", "web", "must not percent-encode / or"},
		{"https://app.example.com/%61", "web", `must not percent-encode 'a'`},
		{"https://app.example.com/a%252Fb", "web", ""}, // an encoded %: legitimate, compared exactly
		{"https://app.example.com/%zz", "web", "is not a valid URI"},
		{"https://app.example.com:/cb", "web", "empty port"},
		// Another port matches a native app's loopback URI only before a
		// path (LoopbackMatch): registration asks for one.
		{"http://127.0.0.1", "native", "needs a path"},
		{"http://[::1]:8080", "native", "needs a path"},
		{"http://localhost?x=1", "native", "needs a path"},
		{"http://127.0.0.1/", "native", ""},
		{"http://127.0.0.1", "web", ""},
		// Ports: 1–65535 in plain decimal, as authorize matches loopback
		// ports (validRedirectPort).
		{"http://127.0.0.1:65535/callback", "native", ""},
		{"http://127.0.0.1:1/callback", "web", ""},
		{"http://127.0.0.1:0/callback", "native", "is not a TCP port"},
		{"http://127.0.0.1:99999/callback", "native", "is not a TCP port"},
		{"http://[::1]:65536/callback", "native", "is not a TCP port"},
		{"http://localhost:0/callback", "web", "is not a TCP port"},
		{"http://127.0.0.1:080/callback", "web", "is not a TCP port"},
		{"https://app.example.com:0/cb", "web", "is not a TCP port"},
		{"https://app.example.com:08443/cb", "web", "is not a TCP port"},
		{"https://app.example.com:123456/cb", "web", "is not a TCP port"},
		{"http://127.0.0.1:+80/callback", "native", "is not a valid URI"},
		{"http://127.0.0.1:-80/callback", "native", "is not a valid URI"},
		{"https://app.example.com:0/backchannel", "web", "is not a TCP port"},
		{"https:/cb", "web", "must have a host"},
		{"https:cb", "web", "must have a host"},
		{"http:///cb", "web", "must have a host"},
		{"com.example.app:/cb", "web", `scheme "com.example.app" is not allowed for web clients`},
		{"myapp:/cb", "native", `private-use scheme "myapp" must be a reverse domain name`},
		{"javascript:alert(1)", "native", "must be a reverse domain name"},
		{"https://app.example.com/" + strings.Repeat("a", 2000), "web", "longer than 2000"},
	}
	for _, tt := range tests {
		got := checkRedirectURI(tt.uri, tt.appType)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("checkRedirectURI(%q, %s) = %q, want %q", tt.uri, tt.appType, got, tt.want)
		}
	}
}
