package provider

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Pushed authorization requests (RFC 9126): a client posts its
// authorization request, authenticated as at the token endpoint, and
// gets a request_uri that the browser brings to /authorize in place of
// the parameters. Gatehouse takes request_uri values from here only.
const (
	parPath = "/oauth/par"
	// requestURIPrefix starts every request_uri (RFC 9126 §2.2).
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// pushedRequestTTL is how long a request_uri may be used: the
	// browser goes to /authorize right after the push.
	pushedRequestTTL = 60 * time.Second
	// maxPARBytes bounds a push; request objects make it longer than a
	// query string.
	maxPARBytes = 64 << 10
	// requestRefBytes is the randomness of a request_uri.
	requestRefBytes = 32
)

// clientAuthParams are how a client authenticates itself; they are not
// part of the authorization request it pushes.
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// pushedRequestStore keeps pushed requests until their single use.
type pushedRequestStore interface {
	storage.PushedRequests
}

// parResponse is the answer to a push (RFC 9126 §2.2).
type parResponse struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int    `json:"expires_in"`
}

// pushAuthorizationRequest is the pushed authorization request endpoint.
// It reads top to bottom: check the form, authenticate the client (exactly
// as the token endpoint does), count a public client's push against its
// IP (reservePerIP, parBudget), take the request's parameters (from its request
// object, when it sends one), check them as /authorize would, bind them to
// the key of a DPoP proof sent with them (dpop_jkt), store them under a
// fresh request_uri for 60 seconds, answer 201. Every answer is no-store;
// errors are JSON (RFC 9126 §2.3), store failures 503 with Retry-After.
func (p *Provider) pushAuthorizationRequest(w http.ResponseWriter, r *http.Request) {
	if !p.clientForm(w, r, maxPARBytes, nil) {
		return
	}
	if r.PostForm.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request carries its parameters itself.
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("request_uri must not be pushed"))
		return
	}
	c, e := p.checkClientAuthMethod(r)
	if e != nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		}
		p.tokenError(w, r, e)
		return
	}
	var push *storage.LoginAttempt // nil: not counted
	if c.public() {
		var ok bool
		if push, ok = p.reservePerIP(w, r, c, parBudget); !ok {
			return
		}
	}

	params := url.Values{}
	for name, vals := range r.PostForm {
		if !slices.Contains(clientAuthParams, name) {
			params[name] = vals
		}
	}
	if raw := params.Get("request"); raw != "" {
		// RFC 9101 §6.3 as RFC 9126 §3 applies it: the object's claims
		// are the request; the form's other parameters are ignored.
		if params, e = p.requestObjectParams(r.Context(), c, raw); e != nil {
			p.tokenError(w, r, e)
			return
		}
	} else if c.c.RequestObjectSigningAlg != "" {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("this client must send its authorization requests as request objects signed with %s", c.c.RequestObjectSigningAlg))
		return
	}
	if id := params.Get("client_id"); id != "" && id != c.c.ID {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("client_id does not match the authenticated client"))
		return
	}
	params.Set("client_id", c.c.ID)
	if e := p.checkPushedParams(r, c, params); e != nil {
		p.tokenError(w, r, e)
		return
	}
	// RFC 9449 §10.1: a DPoP proof sent with the push binds the request's
	// code to the proof's key, as dpop_jkt does; both must name one key.
	jkt, e := p.clientDPoP(w, r, c, parPath)
	if e != nil {
		p.tokenError(w, r, e)
		return
	}
	if jkt != "" {
		if sent := params.Get("dpop_jkt"); sent != "" && sent != jkt {
			p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("dpop_jkt does not match the key of the DPoP proof"))
			return
		}
		params.Set("dpop_jkt", jkt)
	}

	ref, err := randomToken(p.cfg.Random, requestRefBytes)
	if err != nil {
		p.givePerIPBack(r.Context(), push)
		p.serverError(w, r, "par: random", err)
		return
	}
	now := p.cfg.Now()
	pr := &storage.PushedRequest{ID: TokenHash(ref), ClientID: c.c.ID, Params: params.Encode(),
		CreatedAt: now, ExpiresAt: now.Add(pushedRequestTTL)}
	if err := p.pushed.PushRequest(r.Context(), pr); err != nil {
		p.givePerIPBack(r.Context(), push)
		p.storeError(w, r, "par: store request", err)
		return
	}
	// Not an audit event: a push is no one's action yet (the sign-in and
	// the consent that may follow are audited), and public clients push
	// in numbers that would drown the trail. gatehouse_http_requests_total
	// counts pushes by status (route /oauth/par: 201, 429, 503).
	p.log.DebugContext(r.Context(), "par: pushed", "client_id", c.c.ID)
	httphelper.MarshalJSONWithStatus(w, parResponse{RequestURI: requestURIPrefix + ref, ExpiresIn: int(pushedRequestTTL.Seconds())}, http.StatusCreated)
}

// checkPushedParams applies to a pushed request the checks /authorize
// applies (the redirect URI registered, every parameter at most once and
// bounded, checkAuthorizeRequest, prompt and max_age, a valid
// id_token_hint), so that a client learns of a bad request at the push.
// /authorize checks the parameters again when they come back.
func (p *Provider) checkPushedParams(r *http.Request, c *client, params url.Values) *oidc.Error {
	if redirectURI := params.Get("redirect_uri"); redirectURI == "" || len(redirectURI) > maxParamBytes || !clientpolicy.RedirectAllowed(c.c, redirectURI) {
		return oidc.ErrInvalidRequest().WithDescription("redirect_uri is missing or not registered for this client")
	}
	_, _, _, e := p.parseAuthorizeParams(r.Context(), c, params)
	return e
}

// requestURIRef returns the random part of one of Gatehouse's own
// request_uri values, or ok=false for any other URI.
func requestURIRef(uri string) (string, bool) {
	ref, ok := strings.CutPrefix(uri, requestURIPrefix)
	if !ok || len(ref) != base64.RawURLEncoding.EncodedLen(requestRefBytes) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(ref); err != nil {
		return "", false
	}
	return ref, true
}

// takePushedRequest takes the pushed request behind uri for client c:
// once, within its 60 seconds, and only for the client that pushed it.
// It returns its parameters, an invalid_request_uri error, or a store
// failure (storeFailure).
func (p *Provider) takePushedRequest(r *http.Request, c *client, uri string) (url.Values, *oidc.Error) {
	invalid := func(format string, args ...any) *oidc.Error {
		return (&oidc.Error{ErrorType: "invalid_request_uri"}).WithDescription(format, args...)
	}
	ref, ok := requestURIRef(uri)
	if !ok {
		return nil, invalid("Gatehouse takes only the request_uri values of its pushed authorization request endpoint")
	}
	pr, err := p.pushed.TakePushedRequest(r.Context(), TokenHash(ref), c.c.ID, p.cfg.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalid("the request_uri is unknown, expired, used already, or pushed by another client")
	}
	if err != nil {
		return nil, storeFailure(err)
	}
	params, err := url.ParseQuery(pr.Params)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(fmt.Errorf("pushed request %s: %w", pr.ID, err))
	}
	return params, nil
}
