package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/go-jose/go-jose/v4/jwt"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const (
	tokenPath     = "/oauth/token"
	maxTokenBytes = 64 << 10
)

// tokenParams must appear at most once in a token request (RFC 6749 §3.2).
var tokenParams = []string{
	"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
	"client_id", "client_secret", "client_assertion", "client_assertion_type",
}

// token is the token endpoint: op's exchange, behind Gatehouse's checks.
// Every response is no-store (OIDC Core §3.1.3.3), and a confidential
// client must authenticate with the method it registered, so a
// client_secret_basic client cannot fall back to secrets in the body.
// Client assertions (private_key_jwt) are verified here, for every grant,
// and op gets the request without them (handOverAssertion).
// Once the client is authenticated, its signing algorithm goes into the
// request's context (withSigningAlg) for every grant, so that
// opStorage.SigningKey signs what op issues for it with the algorithm it
// registered.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("the request body cannot be parsed"))
		return
	}
	if len(r.URL.RawQuery) > 0 {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("parameters must be sent in the request body"))
		return
	}
	for _, name := range tokenParams {
		if len(r.PostForm[name]) > 1 {
			p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("parameter %s appears more than once", name))
			return
		}
	}
	switch oidc.GrantType(r.PostForm.Get("grant_type")) {
	case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials:
	case "":
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("grant_type is missing"))
		return
	default:
		p.tokenError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("supported grant types: authorization_code, refresh_token, client_credentials"))
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
	r = handOverAssertion(r, c)
	r = r.WithContext(withSigningAlg(r.Context(), c.c.IDTokenSignedResponseAlg))
	switch oidc.GrantType(r.PostForm.Get("grant_type")) {
	case oidc.GrantTypeRefreshToken:
		p.refreshGrant(retryAfterOn5xx{w}, r, c)
	case oidc.GrantTypeCode:
		p.codeGrant(w, r, c)
	case oidc.GrantTypeClientCredentials:
		op.Exchange(retryAfterOn5xx{w}, r, p.op)
	}
}

// retryAfterOn5xx adds Retry-After to a 5xx answer that has none: op's
// errors (the grants still answered through op.Exchange) carry none, and a
// client should retry a server error later, not give up.
type retryAfterOn5xx struct{ http.ResponseWriter }

func (w retryAfterOn5xx) WriteHeader(status int) {
	if status >= 500 && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	w.ResponseWriter.WriteHeader(status)
}

// refreshMemo carries a refresh-token lookup from the token endpoint to
// opStorage.TokenRequestByRefreshToken within one request, and the
// rotation opStorage prepares back to the token endpoint, which stores it
// together with the answer op built (refreshGrant).
type refreshMemo struct {
	token   string
	req     *refreshRequest
	pending *pendingRotation
}

// pendingRotation is a refresh rotation not stored yet: the next grant.
type pendingRotation struct {
	next *storage.RefreshGrant
}

type refreshMemoKey struct{}

// signingAlgKey is the context key of the JWS algorithm that signs the
// tokens of one token request. The value is request-scoped: the token
// endpoint sets it (withSigningAlg) on the request it hands to op, and it
// lives no longer than that request.
type signingAlgKey struct{}

// withSigningAlg returns ctx carrying alg as the algorithm that signs the
// tokens issued while serving this request: the authenticated client's
// id_token_signed_response_alg. An empty alg leaves ctx unchanged, so the
// provider's default applies.
func withSigningAlg(ctx context.Context, alg string) context.Context {
	if alg == "" {
		return ctx
	}
	return context.WithValue(ctx, signingAlgKey{}, alg)
}

// signingAlg returns the algorithm withSigningAlg put into ctx, or def when
// there is none.
func signingAlg(ctx context.Context, def string) string {
	if alg, ok := ctx.Value(signingAlgKey{}).(string); ok {
		return alg
	}
	return def
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

// handOverAssertion prepares a request whose client c authenticated with a
// verified client assertion for op, which cannot verify assertions itself:
// the assertion leaves the form, client_id names the client, and the
// context records the client as authenticated (withAssertedClient) for
// opStorage. Requests of other clients are returned unchanged.
func handOverAssertion(r *http.Request, c *client) *http.Request {
	if c.c.TokenEndpointAuthMethod != privateKeyJWT {
		return r
	}
	for _, f := range []url.Values{r.Form, r.PostForm} {
		if f == nil {
			continue
		}
		f.Del("client_assertion")
		f.Del("client_assertion_type")
		f.Set("client_id", c.c.ID)
	}
	return r.WithContext(withAssertedClient(r.Context(), c.c.ID))
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
// with Retry-After (storeUnavailable), never an error that blames the
// client's credentials. The cause is logged, never shown.
func (p *Provider) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	storeUnavailable(w)
}

// serverError answers a request that failed inside Gatehouse (no
// randomness, no signing key): 500 server_error with Retry-After. The cause
// is logged, never shown.
func (p *Provider) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), what, "err", err)
	p.tokenError(w, r, oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again"))
}
