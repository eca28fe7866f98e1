package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Cross-origin requests (CORS): which web pages may call which endpoints.
//
//   - Discovery and the JWKS are public documents: any origin may read them
//     (Access-Control-Allow-Origin: *).
//   - The token, revocation and pushed authorization request (PAR)
//     endpoints: only a public web client (auth
//     method none, not native) is called from a browser, and it names
//     itself with client_id in the form. A request from a page on another
//     origin is served only when that origin is one of the named client's
//     (clientpolicy.CORSOrigins), and its answer then carries that origin. Any other
//     cross-origin request is refused with invalid_request before anything
//     runs: one carrying a client credential (a confidential client's
//     secret or assertion must never be in a browser), one naming no
//     public web client, one from an origin the client did not register.
//     So a page elsewhere can neither read nor cause a code redemption, a
//     revocation or a push, even with a "simple" request the browser sends
//     without asking first.
//   - Userinfo: the answer is readable by the origins of the access token's
//     client (a public web client). An answer that holds nothing (no token,
//     or one that does not verify) is readable by any public web client's
//     origin, so that the app can tell an expired token from a network
//     failure.
//   - Preflights (OPTIONS) of these four carry no body, so no client is
//     known: any origin of any public web client passes, with exactly the
//     methods of the endpoint and the headers Authorization,
//     Content-Type and DPoP (DPoP-Nonce is exposed), cached by the browser for 2 hours (Chromium's cap).
//   - Never Access-Control-Allow-Credentials: no cookie is sent to these
//     endpoints from another origin, and none is needed.
//   - The authorization endpoint and the HTML pages have no CORS at all
//     (RFC 9700 §2.6).
//
// Every answer of the four client endpoints carries Vary: Origin.
const (
	corsAllowHeaders  = "Authorization, Content-Type, DPoP"
	corsExposeHeaders = "WWW-Authenticate, Retry-After, DPoP-Nonce"
	corsMaxAge        = "7200"
)

// corsOrigins knows every origin of every public web client, for the
// preflights, which name no client. It lists the clients at most every ttl
// and is emptied with the client cache (InvalidateClients).
type corsOrigins struct {
	store clientLister
	now   func() time.Time
	ttl   time.Duration

	mu      sync.Mutex
	set     map[string]bool
	fetched time.Time
	// gen counts clears, as in clientCache.
	gen uint64
}

// clientLister lists every client (the origins of public web clients).
type clientLister interface {
	ListClients(ctx context.Context) ([]storage.Client, error)
}

func newCORSOrigins(store clientLister, now func() time.Time, ttl time.Duration) *corsOrigins {
	return &corsOrigins{store: store, now: now, ttl: ttl}
}

// has reports whether origin is an origin of some enabled public web
// client. A store failure is returned, never taken as an answer.
func (co *corsOrigins) has(ctx context.Context, origin string) (bool, error) {
	now := co.now()
	co.mu.Lock()
	set, fetched, gen := co.set, co.fetched, co.gen
	co.mu.Unlock()
	if set != nil && now.Sub(fetched) < co.ttl {
		return set[origin], nil
	}
	list, err := co.store.ListClients(ctx)
	if err != nil {
		return false, err
	}
	set = make(map[string]bool)
	for i := range list {
		for _, o := range clientpolicy.CORSOrigins(&list[i]) {
			set[o] = true
		}
	}
	co.mu.Lock()
	if co.gen == gen {
		co.set, co.fetched = set, now
	}
	co.mu.Unlock()
	return set[origin], nil
}

func (co *corsOrigins) clear() {
	co.mu.Lock()
	co.set = nil
	co.gen++
	co.mu.Unlock()
}

// crossOrigin returns the Origin of a request sent by a page on another
// origin than the issuer's, or "" for a request without one (a server's)
// or from the issuer's own pages. "null" (sandboxed frames, files) is
// returned as is: no client has it.
func (p *Provider) crossOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || o == clientpolicy.WebOrigin(p.cfg.Issuer) {
		return ""
	}
	return o
}

// allowOrigin lets the page on origin read the answer.
func allowOrigin(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// anyOrigin serves a public document to every web page: discovery and the
// JWKS, and their preflights.
func anyOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD")
			w.Header().Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientPreflight answers the preflight of a client endpoint serving
// methods: 204 with the methods and headers it takes for an origin of some
// public web client, a plain 204 (Allow only) otherwise, 503 when the
// clients cannot be listed.
func (p *Provider) clientPreflight(methods string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		h.Set("Allow", methods+", OPTIONS")
		origin := p.crossOrigin(r)
		if origin != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			ok, err := p.cors.has(r.Context(), origin)
			if err != nil {
				p.log.ErrorContext(r.Context(), "cors preflight: list clients", "err", err)
				h.Set("Retry-After", "5")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Methods", methods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// formClientCORS guards the token, revocation and PAR endpoints, whose
// client is named in the form: a cross-origin request passes only from an origin
// of the public web client it names, and its answer is then readable
// there; any other is refused (see the policy above).
func (p *Provider) formClientCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := p.crossOrigin(r)
		if origin == "" {
			next(w, r)
			return
		}
		c, why, err := p.browserClient(r)
		if err != nil {
			p.log.ErrorContext(r.Context(), "cors: load client", "err", err)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Retry-After", "5")
			httphelper.MarshalJSONWithStatus(w, oidc.ErrServerError(), http.StatusServiceUnavailable)
			return
		}
		if c != nil && !slices.Contains(clientpolicy.CORSOrigins(c), origin) {
			why = "origin " + truncateName(origin) + " is not one of this client's (its redirect URIs and allowed_cors_origins)"
		}
		if why != "" {
			p.log.InfoContext(r.Context(), "cors: cross-origin request refused", "origin", truncateName(origin), "reason", why)
			w.Header().Set("Cache-Control", "no-store")
			httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("%s", why), http.StatusBadRequest)
			return
		}
		allowOrigin(w.Header(), origin)
		next(w, r)
	}
}

// browserClient returns the public web client a token, revocation or
// PAR request names with client_id and no client credential; otherwise a nil
// client and why the request cannot come from a browser. err is a store
// failure. The body is read (at most maxTokenBytes) and put back for the
// handler.
func (p *Provider) browserClient(r *http.Request) (c *storage.Client, why string, err error) {
	form, ok := peekForm(r)
	switch {
	case !ok:
		return nil, "send a form-encoded body of at most 64 KiB", nil
	case r.Header.Get("Authorization") != "" || form.Has("client_secret") || form.Has("client_assertion") || form.Has("client_assertion_type"):
		return nil, "client credentials must not be sent from a browser: a confidential client calls this endpoint from its server", nil
	case len(form["client_id"]) != 1 || form.Get("client_id") == "":
		return nil, "send client_id, the public client calling from this page", nil
	}
	cl, err := p.clients.get(r.Context(), form.Get("client_id"))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "unknown client", nil
	}
	if err != nil {
		return nil, "", err
	}
	if clientpolicy.CORSOrigins(cl.c) == nil {
		return nil, "only public web clients may call this endpoint from a browser", nil
	}
	return cl.c, "", nil
}

// peekForm parses the form-encoded body of r and puts the body back as it
// was, so the handler reads the same bytes. ok is false for another
// content type, a body over maxTokenBytes, or one that does not parse.
func peekForm(r *http.Request) (url.Values, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" || r.Body == nil {
		return nil, false
	}
	body := r.Body
	buf, err := io.ReadAll(io.LimitReader(body, maxTokenBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), body), body}
	if err != nil || len(buf) > maxTokenBytes {
		return nil, false
	}
	form, err := url.ParseQuery(string(buf))
	if err != nil {
		return nil, false
	}
	return form, true
}

// userinfoCORS lets the pages of the access token's client read the
// userinfo answer, and those of any public web client read an answer that
// holds nothing (no token, or one that does not verify).
func (p *Provider) userinfoCORS(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := p.crossOrigin(r)
		if origin == "" {
			next(w, r)
			return
		}
		var claims *accessClaims
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP")) {
			claims, _ = p.parseAccessToken(token)
		}
		allowed := false
		if claims != nil {
			c, err := p.clients.get(r.Context(), claims.ClientID)
			allowed = err == nil && slices.Contains(clientpolicy.CORSOrigins(c.c), origin)
		} else {
			// A store failure leaves the answer unreadable, never readable.
			allowed, _ = p.cors.has(r.Context(), origin)
		}
		if allowed {
			allowOrigin(w.Header(), origin)
		}
		next(w, r)
	}
}
