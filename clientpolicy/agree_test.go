package clientpolicy

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// FuzzRedirectRulesAgree: registration (Validate) and matching at authorize
// and end_session (RedirectAllowed, PostLogoutRedirectAllowed) apply one
// rule. For a client that Validate accepts with the URI registered:
//
//   - the URI is matched for itself, and a native client's loopback URI
//     with any port of 1–65535 too (RFC 8252 §7.3);
//   - what matching accepts is the registered URI exactly or, for a native
//     client only, the registered loopback URI with another port, worked
//     out here with net/url rather than LoopbackMatch's string cuts;
//   - what matching accepts is itself a URI Validate would register.
func FuzzRedirectRulesAgree(f *testing.F) {
	for _, s := range []struct {
		native              bool
		registered, request string
		port                uint16
	}{
		{false, "https://app.example/cb", "https://app.example/cb", 443},
		{false, "http://localhost:3000/cb", "http://localhost:3001/cb", 3001},
		{true, "http://127.0.0.1/cb", "http://127.0.0.1:51234/cb", 51234},
		{true, "http://[::1]:8080/cb?x=1", "http://[::1]:9/cb?x=1", 9},
		{true, "http://localhost/cb", "http://localhost:080/cb", 80},
		{true, "http://127.0.0.1/cb", "http://127.0.0.1:/cb", 0},
		{true, "http://127.0.0.1/cb", "HTTP://127.0.0.1:5/cb", 5},
		{true, "com.example.app:/cb", "com.example.app:/cb", 1},
	} {
		f.Add(s.native, s.registered, s.request, s.port)
	}
	f.Fuzz(func(t *testing.T, native bool, registered, requested string, port uint16) {
		appType := appTypeWeb
		if native {
			appType = appTypeNative
		}
		c := storage.Client{
			ID: "c", Name: "c", ApplicationType: appType, TokenEndpointAuthMethod: authMethodNone,
			GrantTypes: []string{grantAuthorizationCode}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{registered}, PostLogoutRedirectURIs: []string{registered},
		}
		if Validate(c) != nil {
			return
		}
		rules := []struct {
			name    string
			allowed func(*storage.Client, string) bool
		}{
			{"RedirectAllowed", RedirectAllowed},
			{"PostLogoutRedirectAllowed", PostLogoutRedirectAllowed},
		}
		for _, rule := range rules {
			if !rule.allowed(&c, registered) {
				t.Fatalf("%s(%s client, %q): got false for the URI registered", rule.name, appType, registered)
			}
			if other, ok := withPort(registered, port); native && ok && port != 0 && !rule.allowed(&c, other) {
				t.Fatalf("%s(native client of %q, %q): got false, want any port to match a loopback URI", rule.name, registered, other)
			}
			if !rule.allowed(&c, requested) || requested == registered {
				continue
			}
			if !native || !otherPortOnly(registered, requested) {
				t.Fatalf("%s(%s client of %q, %q): got true, want only the URI itself or, for native clients, its loopback port changed",
					rule.name, appType, registered, requested)
			}
			if msg := checkRedirectURI(requested, appType); msg != "" {
				t.Fatalf("%s(%s client of %q, %q): got true for a URI registration refuses: %s", rule.name, appType, registered, requested, msg)
			}
		}
	})
}

// loopbackParts splits an http URI on a loopback host into the host as
// written without its port, the port, and what follows; ok is false for
// any other URI.
func loopbackParts(raw string) (host, port, rest string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || !IsLoopbackHost(u.Hostname()) {
		return "", "", "", false
	}
	rest, ok = strings.CutPrefix(raw, "http://"+u.Host)
	if !ok {
		return "", "", "", false
	}
	host, port = u.Host, u.Port()
	if port != "" {
		host = strings.TrimSuffix(u.Host, ":"+port)
	}
	return host, port, rest, true
}

// otherPortOnly reports whether requested is registered on the same
// loopback host, written the same but for the port, which is absent or
// 1–65535 in plain decimal.
func otherPortOnly(registered, requested string) bool {
	rh, _, rrest, ok := loopbackParts(registered)
	if !ok {
		return false
	}
	qh, qport, qrest, ok := loopbackParts(requested)
	if !ok || qh != rh || qrest != rrest {
		return false
	}
	if qport == "" {
		return !strings.HasSuffix(qh, ":")
	}
	n, err := strconv.Atoi(qport)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == qport
}

// withPort returns raw, an http URI on a loopback host, with its port
// replaced by port.
func withPort(raw string, port uint16) (string, bool) {
	host, _, rest, ok := loopbackParts(raw)
	if !ok {
		return "", false
	}
	return "http://" + host + ":" + strconv.Itoa(int(port)) + rest, true
}
