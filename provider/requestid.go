package provider

import (
	"encoding/base64"
	"io"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/logging"
)

// requestIDHeader carries a request's id in both directions.
const requestIDHeader = "X-Request-Id"

// withRequestID gives every request an id: the caller's X-Request-Id when
// it is one well-formed value (validRequestID), so a proxy's id carries
// through, or else 16 random bytes in base64url. The id is echoed in the
// response's X-Request-Id and put in the request's context, where the
// logger (logging.NewHandler) adds it to every line logged with it.
func (p *Provider) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if v := r.Header.Values(requestIDHeader); len(v) == 1 && validRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID(p.cfg.Random)
		}
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(logging.WithRequestID(r.Context(), id)))
	})
}

// validRequestID reports whether id may be taken from a caller: 1 to 64
// characters of [A-Za-z0-9._-], nothing that could forge or break a log
// line.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 bytes of random in base64url (22 characters).
// An id is for correlating log lines, not a secret: should random fail,
// the request still gets served, with "-".
func newRequestID(random io.Reader) string {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "-"
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
