package provider

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const (
	tokenPath     = "/oauth/token"
	maxTokenBytes = 64 << 10
)

// tokenParams must appear at most once in a token request (RFC 6749 §3.2).
var tokenParams = []string{
	"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope", "device_code",
	"client_id", "client_secret", "client_assertion", "client_assertion_type",
}

// token is the token endpoint (RFC 6749 §3.2): it checks the form, then
// authenticates the client, pinned to the method it registered (so a
// client_secret_basic client cannot fall back to secrets in the body;
// private_key_jwt assertions are verified here), and hands the request to
// the grant's own path, one file each, with the thumbprint of the key of
// its DPoP proof, if any (tokenDPoP). Every response is no-store (OIDC
// Core §3.1.3.3); every 5xx carries Retry-After (tokenError, storeError).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if !p.clientForm(w, r, maxTokenBytes, tokenParams) {
		return
	}
	switch oidc.GrantType(r.PostForm.Get("grant_type")) {
	case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeDeviceCode:
	case "":
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("grant_type is missing"))
		return
	default:
		p.tokenError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("supported grant types: authorization_code, refresh_token, client_credentials, "+string(oidc.GrantTypeDeviceCode)))
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
	// The DPoP proof, once the client is known (dpop.go): the key
	// thumbprint the tokens are bound to, "" for bearer tokens.
	jkt, e := p.tokenDPoP(w, r, c)
	if e != nil {
		p.tokenError(w, r, e)
		return
	}
	switch oidc.GrantType(r.PostForm.Get("grant_type")) {
	case oidc.GrantTypeCode:
		p.codeGrant(w, r, c, jkt) // codegrant.go
	case oidc.GrantTypeRefreshToken:
		p.refreshGrant(w, r, c, jkt) // refreshgrant.go
	case oidc.GrantTypeClientCredentials:
		p.clientCredentialsGrant(w, r, c, jkt) // clientcredentials.go
	case oidc.GrantTypeDeviceCode:
		p.deviceGrant(w, r, c, jkt) // devicegrant.go
	}
}

// expiresIn is a token response's expires_in: the seconds from now to exp.
func expiresIn(exp, now time.Time) uint64 {
	return uint64(max(exp.Sub(now), 0).Seconds())
}

// checkClientAuthMethod authenticates the client of a token, revocation or
// introspection request, pinned to its registered
// token_endpoint_auth_method, and returns it. A private_key_jwt client
// authenticates with a client assertion (verifyClientAssertion), whose sub
// names the client when client_id is absent; any other client sending an
// assertion, and a private_key_jwt client sending a secret or nothing, is
// refused with invalid_client.
func (p *Provider) checkClientAuthMethod(r *http.Request) (*client, *oidc.Error) {
	user, pass, basic := r.BasicAuth()
	_, postSecret := r.PostForm["client_secret"]
	_, hasAssertion := r.PostForm["client_assertion"]
	_, hasAssertionType := r.PostForm["client_assertion_type"]
	assertion := hasAssertion || hasAssertionType
	if (basic && postSecret) || (assertion && (basic || postSecret)) {
		return nil, oidc.ErrInvalidRequest().WithDescription("client authentication must not use more than one method")
	}
	id := r.PostForm.Get("client_id")
	used := "none"
	var tok *jwt.JSONWebToken
	switch {
	case basic:
		used = "client_secret_basic"
		decoded, err := url.QueryUnescape(user)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid basic auth header")
		}
		if id != "" && id != decoded {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the authenticated client")
		}
		id = decoded
	case postSecret:
		used = "client_secret_post"
	case assertion:
		used = privateKeyJWT
		if r.PostForm.Get("client_assertion_type") != clientAssertionType {
			return nil, oidc.ErrInvalidClient().WithDescription("client_assertion_type must be %s", clientAssertionType)
		}
		var cl assertionClaims
		var e *oidc.Error
		if tok, cl, e = parseClientAssertion(r.PostForm.Get("client_assertion")); e != nil {
			return nil, e
		}
		if id != "" && id != cl.Subject {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id does not match the client assertion")
		}
		id = cl.Subject
	}
	if id == "" {
		return nil, oidc.ErrInvalidClient().WithDescription("client authentication is missing")
	}
	c, err := p.clients.get(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, oidc.ErrInvalidClient().WithDescription("invalid client credentials")
	}
	if err != nil {
		return nil, storeFailure(err)
	}
	if c.c.TokenEndpointAuthMethod != used {
		return nil, oidc.ErrInvalidClient().WithDescription("the client must authenticate with %s", c.c.TokenEndpointAuthMethod)
	}
	if used == privateKeyJWT {
		if e := p.verifyClientAssertion(r.Context(), c, tok); e != nil {
			return nil, e
		}
		return c, nil
	}
	// Authenticate before op looks at the grant, so that a wrong secret is
	// always invalid_client, whatever the code or token.
	secret := r.PostForm.Get("client_secret")
	if basic {
		if secret, err = url.QueryUnescape(pass); err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription("invalid basic auth header")
		}
	}
	if used != "none" && !p.clientSecretMatches(c.c.SecretHash, secret) {
		return nil, oidc.ErrInvalidClient().WithDescription("invalid client credentials")
	}
	return c, nil
}

// tokenError writes a protocol error as JSON with the status RFC 6749 §5.2
// asks for, and logs it (no secret is in an error's description). A
// server_error is a 500 that the client may retry (Retry-After).
func (p *Provider) tokenError(w http.ResponseWriter, r *http.Request, e *oidc.Error) {
	p.log.Log(r.Context(), e.LogLevel(), "request error", "error", e.ErrorType, "description", e.Description)
	status := http.StatusBadRequest
	switch e.ErrorType {
	case oidc.InvalidClient:
		status = http.StatusUnauthorized
	case oidc.ServerError:
		status = http.StatusInternalServerError
		if errors.As(e.Parent, new(unavailable)) {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Retry-After", "5")
	}
	httphelper.MarshalJSONWithStatus(w, e, status)
}

// unavailable marks a store failure as the Parent of a server_error: the
// answer is 503 (tokenError), the store may answer a retry.
type unavailable struct{ err error }

func (u unavailable) Error() string { return "store unavailable: " + u.err.Error() }
func (u unavailable) Unwrap() error { return u.err }

// storeFailure is the protocol error for a failed store call: server_error,
// answered with 503 and Retry-After; the cause is kept as its parent, never
// shown.
func storeFailure(err error) *oidc.Error {
	return oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again").WithParent(unavailable{err})
}

// storeError answers a request a store call failed for: 503 server_error
// with Retry-After, never an error that blames the client's credentials.
// The token, revocation, introspection and userinfo endpoints all answer
// store failures through it. The cause is logged, never shown.
func (p *Provider) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	w.Header().Set("Retry-After", "5")
	httphelper.MarshalJSONWithStatus(w, storeFailure(err), http.StatusServiceUnavailable)
}

// serverError answers a request that failed inside Gatehouse (no
// randomness, no signing key): 500 server_error with Retry-After. The cause
// is logged, never shown.
func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	p.tokenError(w, r, oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again"))
}

// clientForm starts an endpoint a client posts a form to (token, device
// authorization, PAR): every answer is no-store; the body, of at most
// maxBytes, must parse; nothing may come in the query; and each parameter
// of once (every parameter when once is nil) may appear at most once.
// Otherwise it answers invalid_request and reports false.
func (p *Provider) clientForm(w http.ResponseWriter, r *http.Request, maxBytes int64, once []string) bool {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("the request body cannot be parsed"))
		return false
	}
	if len(r.URL.RawQuery) > 0 {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("parameters must be sent in the request body"))
		return false
	}
	for name, vals := range r.PostForm {
		if len(vals) > 1 && (once == nil || slices.Contains(once, name)) {
			p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("parameter %s appears more than once", truncateName(name)))
			return false
		}
	}
	return true
}
