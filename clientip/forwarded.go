package clientip

import (
	"net/netip"
	"strings"
)

// parseForwarded adds the hops of one Forwarded header line (RFC 7239 §4)
// to h: one per forwarded-element, its for= node's address, or the zero
// Addr when the element names none ("unknown", an obfuscated identifier,
// no for=) or is malformed. Empty elements are skipped (RFC 9110 §5.6.1).
// Elements are split at commas outside quoted strings; an unterminated
// quote makes the rest of the line one malformed element.
func parseForwarded(line string, h *hops) {
	for len(line) > 0 {
		elem, rest := cutOutsideQuotes(line, ',')
		line = rest
		elem = trimOWS(elem)
		if elem == "" {
			continue
		}
		h.add(forwardedFor(elem))
	}
}

// forwardedFor returns the address of the for= pair of one element, or the
// zero Addr.
func forwardedFor(elem string) netip.Addr {
	var node string
	seen := false
	for len(elem) > 0 {
		pair, rest := cutOutsideQuotes(elem, ';')
		elem = rest
		pair = trimOWS(pair)
		name, value, ok := strings.Cut(pair, "=")
		if !ok || !isToken(name) {
			return netip.Addr{}
		}
		v, ok := pairValue(value)
		if !ok {
			return netip.Addr{}
		}
		if strings.EqualFold(name, "for") {
			if seen { // a parameter occurs at most once per element
				return netip.Addr{}
			}
			node, seen = v, true
		}
	}
	if !seen {
		return netip.Addr{}
	}
	return nodeAddr(node)
}

// pairValue unquotes a forwarded-pair's value: a quoted-string, or a token
// (leniently also holding ':', '[' and ']', which proxies write unquoted
// though the grammar wants them quoted).
func pairValue(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		if v == "" {
			return "", false
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; !isTokenChar(c) && c != ':' && c != '[' && c != ']' {
				return "", false
			}
		}
		return v, true
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && i+1 < len(v):
			i++
			b.WriteByte(v[i])
		case c == '"':
			return b.String(), i == len(v)-1
		case c < ' ' && c != '\t', c == 0x7f:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false // unterminated
}

// nodeAddr reads a node (RFC 7239 §6): an IPv4 address or a bracketed
// IPv6 address, each with an optional port, or "unknown" or an obfuscated
// identifier, which name no address.
func nodeAddr(node string) netip.Addr {
	var host, port string
	if strings.HasPrefix(node, "[") {
		end := strings.IndexByte(node, ']')
		if end < 0 {
			return netip.Addr{}
		}
		host, port = node[1:end], node[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" || !validPort(port, true) {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	host, port, _ = strings.Cut(node, ":")
	if port != "" || strings.HasSuffix(node, ":") {
		port = ":" + port
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() || !validPort(port, true) {
		return netip.Addr{} // unknown, _obfuscated, or malformed
	}
	return a
}

// validPort reports whether p is empty or ":" followed by 1 to 5 digits
// (at most 65535), or, when obfuscated is allowed, by an obfuscated port
// ("_" and 1 or more of ALPHA, DIGIT, ".", "_", "-").
func validPort(p string, obfuscated bool) bool {
	if p == "" {
		return true
	}
	if p[0] != ':' || len(p) < 2 {
		return false
	}
	p = p[1:]
	if obfuscated && p[0] == '_' {
		if len(p) < 2 {
			return false
		}
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}

// parseXForwardedFor adds the hops of one X-Forwarded-For header line to
// h: comma-separated addresses, IPv6 bare or bracketed, each with an
// optional port when it can be told apart ("192.0.2.1:443", "[::1]:443").
// An entry that is not an address is a zero Addr; empty entries are
// skipped.
func parseXForwardedFor(line string, h *hops) {
	for len(line) > 0 {
		entry, rest, _ := strings.Cut(line, ",")
		line = rest
		entry = trimOWS(entry)
		if entry == "" {
			continue
		}
		h.add(xffAddr(entry))
	}
}

func xffAddr(e string) netip.Addr {
	if strings.HasPrefix(e, "[") {
		end := strings.IndexByte(e, ']')
		if end < 0 || !validPort(e[end+1:], false) {
			return netip.Addr{}
		}
		e = e[1:end]
	} else if host, port, ok := strings.Cut(e, ":"); ok && !strings.Contains(port, ":") {
		// One colon: IPv4 with a port (an IPv6 address has at least two).
		if !validPort(":"+port, false) {
			return netip.Addr{}
		}
		e = host
	}
	a, err := netip.ParseAddr(e)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// cutOutsideQuotes cuts s at the first sep outside a quoted string
// (with \-escapes inside it); without one, it returns s whole.
func cutOutsideQuotes(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// trimOWS removes optional whitespace (spaces and tabs) around s.
func trimOWS(s string) string { return strings.Trim(s, " \t") }

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
