package clientpolicy

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// checkCORSOrigins checks allowed_cors_origins: only a public web client
// (token_endpoint_auth_method none, application_type web) has any, as a
// confidential client's secret must never be in a browser and a native app
// is no web page; each is an origin as a browser sends it in Origin
// (checkCORSOrigin), listed once.
func checkCORSOrigins(c *storage.Client, bad func(field, msg string)) {
	if len(c.AllowedCORSOrigins) == 0 {
		return
	}
	if c.TokenEndpointAuthMethod != authMethodNone || c.ApplicationType != appTypeWeb {
		bad(keyCORSOrigins, "only public web clients (token_endpoint_auth_method none, application_type web) are called from browsers: "+
			"a confidential client's secret must stay on its server, and a native app is no web page; remove it")
		return
	}
	for i, o := range c.AllowedCORSOrigins {
		field := fmt.Sprintf("%s[%d]", keyCORSOrigins, i)
		if msg := checkCORSOrigin(o); msg != "" {
			bad(field, msg)
		}
		if slices.Index(c.AllowedCORSOrigins, o) < i {
			bad(field, fmt.Sprintf("%q is listed twice", o))
		}
	}
}

// checkCORSOrigin returns what is wrong with an allowed CORS origin, or
// "": it must be written exactly as browsers send Origin (RFC 6454 §6.2:
// scheme://host with the port only when not the scheme's default, no
// path, not even /), be https, or http on a loopback host, and name one
// origin: no wildcard, no null.
func checkCORSOrigin(raw string) string {
	switch {
	case raw == "":
		return "must not be empty"
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard (*): list every origin in full; they are compared exactly"
	case raw == "null":
		return `"null" is the origin of sandboxed and file pages, shared by all of them: it cannot be allowed`
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "must be ASCII without spaces or control characters"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "must be an origin: scheme://host[:port], such as https://app.example.com"
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(raw, "?#@") {
		return fmt.Sprintf("must be an origin only, without path, query or user info: write %q", u.Scheme+"://"+u.Host)
	}
	if port := u.Port(); strings.HasSuffix(u.Host, ":") || (port != "" && !validRedirectPort(port)) {
		return fmt.Sprintf("port %q is not a TCP port: write 1 to 65535 without leading zeros", port)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "must use https: http is only allowed for the loopback hosts 127.0.0.1, [::1] and localhost"
		}
	default:
		return fmt.Sprintf("scheme %q is not allowed: use https (or http on a loopback host)", u.Scheme)
	}
	if norm := WebOrigin(raw); norm != raw {
		return fmt.Sprintf("is not written as browsers send it in Origin: write %q", norm)
	}
	return ""
}

// CORSOrigins returns the web origins whose pages may call the token,
// revocation and userinfo endpoints for c: none unless c is an enabled
// public web client; then the origins of its http(s) redirect URIs and its
// allowed_cors_origins, each written as browsers send Origin.
func CORSOrigins(c *storage.Client) []string {
	if c == nil || c.Disabled || c.TokenEndpointAuthMethod != authMethodNone || c.ApplicationType == appTypeNative {
		return nil
	}
	var out []string
	for _, uri := range c.RedirectURIs {
		if o := WebOrigin(uri); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	for _, o := range c.AllowedCORSOrigins {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// WebOrigin returns the origin of an http(s) URI as browsers serialize it
// (RFC 6454 §6.2: the default port left out), or "" for any other URI.
func WebOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return u.Scheme + "://" + host
}

// origin returns scheme://host:port of an http(s) URL, the port written
// out even when it is the scheme's default.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}
