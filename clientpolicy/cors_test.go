package clientpolicy

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// spaCDNOrigin is spaClient's allowed_cors_origins.
const spaCDNOrigin = "https://spa-cdn.example"

// spaClient is a public web client with one extra CORS origin.
func spaClient() storage.Client {
	return storage.Client{
		ID: "spa", Name: "Single-page app", SkipConsent: true,
		RedirectURIs:            []string{"https://app.example/cb"},
		AllowedCORSOrigins:      []string{spaCDNOrigin},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "web",
	}
}

// allowed_cors_origins takes origins exactly as browsers send them in
// Origin; anything else (a path, a wildcard, http off loopback, null, a
// default port written out) is refused with what to write instead.
func TestCheckCORSOrigin(t *testing.T) {
	tests := []struct {
		origin string
		want   string // "" means accepted
	}{
		{"https://app.example.com", ""},
		{"https://app.example.com:8443", ""},
		{"http://localhost:5173", ""},
		{"http://127.0.0.1:3000", ""},
		{"http://[::1]:3000", ""},
		{"http://localhost", ""},

		{"", "must not be empty"},
		{"*", "wildcard"},
		{"https://*.example.com", "wildcard"},
		{"null", `"null" is the origin of sandboxed`},
		{"https://app.example.com/", `without path, query or user info: write "https://app.example.com"`},
		{"https://app.example.com/callback", `write "https://app.example.com"`},
		{"https://app.example.com?x=1", "without path, query"},
		{"https://app.example.com?", "without path, query"},
		{"https://app.example.com#x", "without path, query"},
		{"https://user@app.example.com", "without path, query or user info"},
		{"http://app.example.com", "must use https"},
		{"http://localhost.evil.example", "must use https"},
		{"ftp://app.example.com", `scheme "ftp" is not allowed`},
		{"chrome-extension://abcdef", `scheme "chrome-extension" is not allowed`},
		{"app.example.com", "must be an origin"},
		{"//app.example.com", "must be an origin"},
		{"https://", "must be an origin"},
		{"https://app.example.com:443", `write "https://app.example.com"`},
		{"http://localhost:80", `write "http://localhost"`},
		{"https://APP.example.com", `write "https://app.example.com"`},
		{"HTTPS://app.example.com", `write "https://app.example.com"`},
		{"https://app.example.com:0", "is not a TCP port"},
		{"https://app.example.com:99999", "is not a TCP port"},
		{"https://app.example.com:08443", "is not a TCP port"},
		{"https://app.example.com:", "is not a TCP port"},
		{"https://app.example.com ", "must be ASCII without spaces"},
		{"https://app.exämple.com", "must be ASCII"},
	}
	for _, tt := range tests {
		got := checkCORSOrigin(tt.origin)
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("checkCORSOrigin(%q) = %q, want %q", tt.origin, got, tt.want)
		}
	}
}

// FuzzCheckCORSOrigin: whatever checkCORSOrigin accepts is one origin
// exactly as browsers send it in Origin — https, or http on a loopback
// host; a lowercase host; a port of 1–65535 without leading zeros, never
// the scheme's default; nothing after it — and never a wildcard or null.
func FuzzCheckCORSOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com", "https://app.example.com:8443", "http://localhost:5173", "http://[::1]:3000",
		"https://app.example.com/", "https://*.example.com", "null", "http://app.example.com", "https://app.example.com:443",
		"https://APP.example.com", "https://u@app.example.com", "https://app.example.com:0", "https://app.example.com?",
		"http://127.0.0.1:080", "https://app.example.com#", "https://[::1]", "https://a%2eb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		if checkCORSOrigin(origin) != "" {
			return
		}
		u, err := url.Parse(origin)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", origin, err)
		}
		if origin != u.Scheme+"://"+u.Host || u.Host != strings.ToLower(u.Host) || strings.Contains(origin, "*") || origin == "null" {
			t.Fatalf("accepted %q, which is not scheme://host in lowercase", origin)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && IsLoopbackHost(u.Hostname()):
		default:
			t.Fatalf("accepted %q: scheme %q on host %q", origin, u.Scheme, u.Hostname())
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
				t.Fatalf("accepted %q with port %q", origin, p)
			}
			if (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80) {
				t.Fatalf("accepted %q with the scheme's default port written out", origin)
			}
		}
	})
}

func TestClientOrigins(t *testing.T) {
	spa := spaClient()
	spa.RedirectURIs = []string{"https://app.example/cb", "https://app.example/other", "https://app.example:443/x",
		"https://app.example:8443/cb", "http://localhost:5173/cb", "http://[::1]:3000/cb", "http://127.0.0.1:80/cb"}
	want := []string{"https://app.example", "https://app.example:8443", "http://localhost:5173", "http://[::1]:3000", "http://127.0.0.1", spaCDNOrigin}
	if got := CORSOrigins(&spa); !slices.Equal(got, want) {
		t.Errorf("public web client: got %q, want %q", got, want)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*storage.Client)
	}{
		{"confidential", func(c *storage.Client) { c.TokenEndpointAuthMethod = "client_secret_basic" }},
		{"private_key_jwt", func(c *storage.Client) { c.TokenEndpointAuthMethod = "private_key_jwt" }},
		{"native", func(c *storage.Client) { c.ApplicationType = "native" }},
		{"disabled", func(c *storage.Client) { c.Disabled = true }},
	} {
		c := spaClient()
		tt.mutate(&c)
		if got := CORSOrigins(&c); got != nil {
			t.Errorf("%s client: got %q, want none", tt.name, got)
		}
	}
	for uri, want := range map[string]string{
		"com.example.app:/cb": "", "https://u@app.example/cb": "", "javascript:alert(1)": "", "": "",
		"https://APP.example/cb": "https://app.example", "http://localhost:80/": "http://localhost",
		// Issuers, whose origin the admin API checks changes against: with
		// a port, a path, or neither.
		"http://localhost:8080": "http://localhost:8080", "https://login.example.com": "https://login.example.com",
		"https://example.com/idp": "https://example.com", "https://example.com:8443/a/b/c": "https://example.com:8443",
		"https://[2001:db8::1]:8443/login": "https://[2001:db8::1]:8443",
	} {
		if got := WebOrigin(uri); got != want {
			t.Errorf("WebOrigin(%q): got %q, want %q", uri, got, want)
		}
	}
}
