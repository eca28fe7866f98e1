package clientpolicy

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// checkLogoutURI returns what is wrong with a back- or front-channel
// logout URI, or "": the rules of redirect URIs for web clients (absolute,
// normal form, https except on a loopback host, no fragment, no user
// info), never a private-use scheme.
func checkLogoutURI(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Sprintf("scheme %q is not allowed: use https (or http on the loopback hosts 127.0.0.1, [::1] and localhost)", u.Scheme)
	}
	return checkRedirectURI(raw, appTypeWeb)
}

// checkURIList checks each URI of a redirect URI list and that none is
// listed twice.
func checkURIList(uris []string, key, appType string, bad func(field, msg string)) {
	for i, u := range uris {
		field := fmt.Sprintf("%s[%d]", key, i)
		if msg := checkRedirectURI(u, appType); msg != "" {
			bad(field, msg)
		}
		if slices.Index(uris, u) < i {
			bad(field, fmt.Sprintf("%q is listed twice", u))
		}
	}
}

// checkRedirectURI returns what is wrong with a redirect URI registered
// for a client of appType, or "". Redirect URIs are compared as exact
// strings, so a registered URI must be in the normal form a client would
// send; anything ambiguous is refused.
//
// Allowed: https with a host; http only on a loopback host (127.0.0.1,
// [::1], localhost), for native apps (RFC 8252 §7.3; with a path, so that
// any port matches) and local development of web apps; for native apps,
// also a private-use scheme that is a reverse domain name (RFC 8252 §7.1,
// §8.4), like com.example.app:/cb.
func checkRedirectURI(raw, appType string) string {
	switch {
	case raw == "":
		return "must not be empty"
	case len(raw) > maxRedirectURILen:
		return fmt.Sprintf("is longer than %d characters", maxRedirectURILen)
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard (*): register every redirect URI in full; they are compared exactly"
	case strings.Contains(raw, "#"):
		return "must not contain a fragment (#) (RFC 6749 §3.1.2)"
	case strings.Contains(raw, "@"):
		return "must not contain @: user info in a URI hides its real host"
	case strings.Contains(raw, `\`):
		return `must not contain a backslash (\)`
	case strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		return "must be ASCII without spaces or control characters (percent-encode the rest)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URI"
	}
	if u.Scheme == "" {
		return "must be an absolute URI with a scheme, such as https://app.example.com/callback"
	}
	if s := u.String(); s != raw {
		return fmt.Sprintf("is not in normal form: write it as %q", s)
	}
	if u.Host != strings.ToLower(u.Host) {
		return "the host must be lowercase"
	}
	if strings.HasSuffix(u.Host, ":") {
		return "has an empty port: leave out the colon"
	}
	if port := u.Port(); port != "" && !validRedirectPort(port) {
		return fmt.Sprintf("port %q is not a TCP port: write 1 to 65535 without leading zeros (a native app's loopback redirect may leave it out: any port matches, RFC 8252 §7.3)", port)
	}
	if msg := checkPercentEncoding(raw); msg != "" {
		return msg
	}
	path := u.EscapedPath()
	if u.Opaque != "" {
		path = u.Opaque
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." || strings.HasPrefix(seg, ".;") || strings.HasPrefix(seg, "..;") {
			return "must not contain dot segments (. or ..) in its path"
		}
	}

	switch u.Scheme {
	case "https":
		if u.Hostname() == "" {
			return "must have a host, such as https://app.example.com/callback"
		}
	case "http":
		if u.Hostname() == "" {
			return "must have a host"
		}
		if !IsLoopbackHost(u.Hostname()) {
			return "must use https: http is only allowed for the loopback hosts 127.0.0.1, [::1] and localhost"
		}
		// LoopbackMatch lets another port match only before a path: without
		// one, the app's redirect with the port it listens on would be refused.
		if appType == appTypeNative && u.Path == "" {
			return "a native app's loopback redirect URI needs a path, at least / (like http://127.0.0.1/callback): only then does any port match (RFC 8252 §7.3)"
		}
	default:
		if appType != appTypeNative {
			return fmt.Sprintf("scheme %q is not allowed for web clients: use https (or http on a loopback host); private-use schemes are for application_type native", u.Scheme)
		}
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("private-use scheme %q must be a reverse domain name you control, such as com.example.app (RFC 8252 §7.1, §8.4)", u.Scheme)
		}
	}
	return ""
}

// checkPercentEncoding refuses percent-encoding that is not in RFC 3986
// normal form (lowercase hex, encoded unreserved characters) or that hides
// a path separator.
func checkPercentEncoding(raw string) string {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		if i+2 >= len(raw) {
			return "has an incomplete percent-encoding"
		}
		hex := raw[i+1 : i+3]
		b, err := strconv.ParseUint(hex, 16, 8)
		if err != nil {
			return "has an invalid percent-encoding"
		}
		c := rune(b)
		switch {
		case hex != strings.ToUpper(hex):
			return "percent-encoding must use uppercase hex digits (RFC 3986 §6.2.2.1)"
		case isClientIDChar(c): // the unreserved characters
			return fmt.Sprintf("must not percent-encode %q: write it plainly (RFC 3986 §6.2.2.2)", c)
		case c == '/' || c == '\\':
			return "must not percent-encode / or \\"
		}
		i += 2
	}
	return ""
}

// IsLoopbackHost reports whether host (as url.URL.Hostname returns it,
// without brackets) is one of the loopback names Gatehouse allows plain
// http for. Other names that resolve to loopback are not included.
func IsLoopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// RedirectAllowed reports whether uri, a redirect_uri given at authorize,
// is one of c's registered redirect URIs, compared as exact strings. The
// one exception is RFC 8252 §7.3: for native clients a loopback redirect
// matches with any port (LoopbackMatch). Every URI that Validate accepts
// as registered matches itself.
func RedirectAllowed(c *storage.Client, uri string) bool {
	return registeredMatch(c.RedirectURIs, c.ApplicationType, uri)
}

// PostLogoutRedirectAllowed reports whether uri is one of c's registered
// post_logout_redirect_uris, compared as redirect URIs are
// (RedirectAllowed): exactly, except that a native client's loopback URI
// may come with another port. op's own check lets a native client's
// loopback URI change its host (any 127/8 address, ::1, localhost) and
// scheme as well, so the provider checks again after it with this.
func PostLogoutRedirectAllowed(c *storage.Client, uri string) bool {
	return registeredMatch(c.PostLogoutRedirectURIs, c.ApplicationType, uri)
}

// registeredMatch reports whether uri is one of registered, or, for a
// native client (appType), matches one of them by LoopbackMatch.
func registeredMatch(registered []string, appType, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	if appType != appTypeNative {
		return false
	}
	for _, reg := range registered {
		if LoopbackMatch(reg, uri) {
			return true
		}
	}
	return false
}

// LoopbackMatch compares registered and requested as strings, allowing only
// a different (or absent) port after the loopback host (RFC 8252 §7.3):
// "http://127.0.0.1/cb" matches "http://127.0.0.1:51234/cb" and nothing else.
// Hosts are compared exactly (127.0.0.1, [::1] and localhost do not match
// each other). It applies to native clients only (RedirectAllowed).
func LoopbackMatch(registered, requested string) bool {
	for _, host := range []string{"http://127.0.0.1", "http://[::1]", "http://localhost"} {
		regRest, ok := strings.CutPrefix(registered, host)
		if !ok {
			continue
		}
		regRest = stripPort(regRest)
		if !strings.HasPrefix(regRest, "/") {
			return false
		}
		reqRest, ok := strings.CutPrefix(requested, host)
		if !ok {
			return false
		}
		return stripPort(reqRest) == regRest
	}
	return false
}

// stripPort removes a leading ":port" from s, where port is a TCP port
// (1–65535) written as a plain decimal: digits only, no sign, no leading
// zero. Anything else after the colon (an empty port, 0, 99999, 080) makes
// the result impossible to match a registered path.
func stripPort(s string) string {
	if !strings.HasPrefix(s, ":") {
		return s
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if !validRedirectPort(s[1:i]) {
		return "\x00invalid port"
	}
	return s[i:]
}

// validRedirectPort reports whether port is a TCP port from 1 to 65535
// written as a plain decimal without leading zeros: the only form a
// loopback redirect's port is accepted in at authorize (RFC 8252 §7.3),
// and the only one a redirect URI or CORS origin is registered with.
func validRedirectPort(port string) bool {
	if len(port) == 0 || len(port) > 5 || port[0] == '0' {
		return false
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
