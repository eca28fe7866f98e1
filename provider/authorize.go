package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// authRequestStore is what authorize (and op's building blocks, through
// opStorage) ask of the store.
type authRequestStore interface {
	CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error
	AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	SaveCode(ctx context.Context, id, codeHash string, codeExpiresAt, now time.Time) error
}

const (
	authorizePath = "/authorize"
	callbackPath  = "/authorize/callback"
	loginPath     = "/login"
	signedOutPath = "/signed-out"
)

func loginURL(id string) string { return loginPath + "?id=" + url.QueryEscape(id) }

// Limits on authorization request input. Anything larger is refused with
// invalid_request (or an error page before the redirect URI is trusted).
const (
	maxParamBytes     = 4096
	maxAuthorizeBytes = 32 << 10
)

// singleParams must appear at most once (RFC 6749 §3.1).
var singleParams = []string{
	"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state", "nonce",
	"prompt", "max_age", "login_hint", "id_token_hint", "code_challenge", "code_challenge_method",
	"ui_locales", "display", "acr_values", "claims", "request", "request_uri", "dpop_jkt",
}

// codeResponse is a successful authorization response; iss per RFC 9207.
type codeResponse struct {
	Code   string `schema:"code"`
	State  string `schema:"state,omitempty"`
	Issuer string `schema:"iss"`
}

// errorResponse is an error authorization response; iss per RFC 9207.
type errorResponse struct {
	Error       string `schema:"error"`
	Description string `schema:"error_description,omitempty"`
	State       string `schema:"state,omitempty"`
	Issuer      string `schema:"iss"`
}

// authorize is the authorization endpoint. Until client_id and
// redirect_uri are proven to belong together, every error is an HTML page
// and nothing redirects; after that, errors go back to the client with
// state and iss.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxAuthorizeBytes)
	if len(r.URL.RawQuery) > maxAuthorizeBytes || r.ParseForm() != nil {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-in request",
			"The application sent a request Gatehouse cannot read.", "invalid_request")
		return
	}
	form := r.Form
	if len(form["client_id"]) > 1 || len(form["redirect_uri"]) > 1 {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-in request",
			"The request names more than one application or return address.", "invalid_request")
		return
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-in request",
			"The request does not say which application it comes from (client_id is missing).", "invalid_request")
		return
	}
	c, err := p.clients.get(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is not registered with Gatehouse.", "invalid_client")
		return
	}
	if err != nil {
		p.unavailable(w, r, "authorize: load client", err)
		return
	}
	// A pushed request (request_uri) or a request object (request) is
	// the whole request: the other parameters of the URL are ignored
	// (RFC 9101 §6.3, RFC 9126 §4). Until its redirect URI is checked
	// below, every error is a page.
	form, plain, ok := p.resolveAuthorizeRequest(w, r, c, form)
	if !ok {
		return
	}
	redirectURI := form.Get("redirect_uri")
	if redirectURI == "" || len(redirectURI) > maxParamBytes || !clientpolicy.RedirectAllowed(c.c, redirectURI) {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid return address",
			"The application asked Gatehouse to send you to an address it has not registered, so Gatehouse will not send you there.",
			"invalid_request")
		return
	}

	// From here on the redirect URI is trusted: errors go back to it.
	state := form.Get("state")
	mode := oidc.ResponseMode(form.Get("response_mode"))
	if _, ok := loginui.FormPostOrigin(redirectURI); mode != oidc.ResponseModeFormPost || !ok {
		// A redirect URI that cannot take a form hears of that in the query.
		mode = oidc.ResponseModeQuery
	}
	fail := func(e *oidc.Error) { p.authorizeError(w, r, redirectURI, mode, state, e) }

	switch {
	case plain && (p.cfg.RequirePAR || c.c.RequirePushedAuthorizationRequests):
		fail(oidc.ErrInvalidRequest().WithDescription("this client must push its authorization requests to %s and send the request_uri it gets", p.cfg.Issuer+parPath))
		return
	case plain && c.c.RequestObjectSigningAlg != "":
		fail(oidc.ErrInvalidRequest().WithDescription("this client must send its authorization requests as request objects signed with %s", c.c.RequestObjectSigningAlg))
		return
	}
	req, maxAge, hintSub, e := p.parseAuthorizeParams(ctx, c, form)
	if e != nil {
		fail(e)
		return
	}

	binding, err := p.ui.BrowserBinding(w, r)
	if err != nil {
		p.unavailable(w, r, "authorize: browser binding", err)
		return
	}
	ar, err := p.newAuthRequest(req, c.c.DefaultACRValues, binding)
	if err != nil {
		p.unavailable(w, r, "authorize: new request", err)
		return
	}
	ar.HintSubject = hintSub
	ar.DPoPJKT = form.Get("dpop_jkt")

	forceLogin := slices.Contains(req.Prompt, oidc.PromptLogin) || slices.Contains(req.Prompt, oidc.PromptSelectAccount)
	var session *storage.Session
	var user *storage.User
	usable := false
	if !forceLogin {
		session, user, err = p.ui.ReadSession(ctx, w, r)
		if err != nil && !errors.Is(err, loginui.ErrNoSession) {
			// A failed lookup never counts as signed in.
			p.unavailable(w, r, "authorize: session lookup", err)
			return
		}
		usable = err == nil &&
			(maxAge == nil || p.cfg.Now().Sub(session.AuthTime) <= time.Duration(*maxAge)*time.Second) &&
			(hintSub == "" || hintSub == user.ID)
	}
	promptNone := slices.Contains(req.Prompt, oidc.PromptNone)
	if usable {
		// A session that lacks a second factor this request needs is not
		// used as it is: the login UI steps it up (asks the factor, keeps
		// the session). With prompt=none only what the server or the
		// client requires stops it; a request's acr_values are a wish,
		// answered by the session as it is (its acr says what was done).
		mode := p.cfg.UI.MFA
		switch {
		case mfa.NeedsMore(mode, session.AMR, c.c.RequireMFA, false):
			if promptNone {
				fail(oidc.ErrInteractionRequired().WithDescription("a second factor is required"))
				return
			}
			usable = false
		case !promptNone && mfa.NeedsMore(mode, session.AMR, c.c.RequireMFA, mfa.WantsMultiFactor(ar.ACRValues)):
			usable = false
		}
	}
	// A client with allowed_groups admits only their members; the groups
	// are read for such a client only (allowedgroups.go).
	allowed := true
	if usable {
		if _, allowed, err = p.allowedUser(ctx, c, user.ID); err != nil {
			p.unavailable(w, r, "authorize: groups lookup", err)
			return
		}
	}
	consent := false
	if usable && allowed {
		if consent, err = p.needsConsent(ctx, c, user.ID, ar.Scopes, ar.Prompt); err != nil {
			p.unavailable(w, r, "authorize: consent lookup", err)
			return
		}
	}
	if session != nil {
		// The use is recorded in one write. The app joins the session only
		// when it gets its code now: one shown the consent page joins when
		// the user allows it (consent.go), never before, and one that does
		// not admit the user never.
		join := ""
		if usable && allowed && !consent {
			join = c.c.ID
		}
		switch err := p.ui.RecordUse(ctx, r, session, join); {
		case errors.Is(err, loginui.ErrNoSession): // ended meanwhile
			usable, consent = false, false
		case err != nil:
			p.unavailable(w, r, "authorize: session update", err)
			return
		}
	}
	if promptNone && !usable {
		fail(oidc.ErrLoginRequired().WithDescription("the user is not signed in"))
		return
	}
	if usable && !allowed {
		// Signed in, but not to this application: nothing is stored.
		p.refuseSignIn(w, r, c, ar, user.ID, session.ID, user, false)
		return
	}
	if usable {
		if consent && promptNone {
			fail(&oidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this application"})
			return
		}
		// Single sign-on: the session answers without a sign-in page.
		ar.Done, ar.UserID, ar.SessionID, ar.AuthTime, ar.AMR = true, user.ID, session.ID, session.AuthTime, session.AMR
	}
	code := ""
	if usable && !consent {
		// The request is stored once, already holding its code: one store
		// write for the whole SSO answer instead of a create and a
		// SaveCode. The code is single-use all the same (TakeCode).
		if code, err = op.BuildAuthRequestCode(authRequest{ar}, p.op.Crypto()); err != nil {
			p.unavailable(w, r, "authorize: issue code", err)
			return
		}
		ar.CodeHash = TokenHash(code)
		ar.ExpiresAt = p.cfg.Now().Add(p.cfg.CodeTTL)
	}
	if err := p.authRequests.CreateAuthRequest(ctx, ar); err != nil {
		p.unavailable(w, r, "authorize: store request", err)
		return
	}
	switch {
	case usable && consent:
		http.Redirect(w, r, consentURL(ar.ID), http.StatusFound)
	case usable:
		p.authorizeRedirect(w, r, ar.RedirectURI, oidc.ResponseMode(ar.ResponseMode),
			codeResponse{Code: code, State: ar.State, Issuer: p.cfg.Issuer})
	default:
		http.Redirect(w, r, loginURL(ar.ID), http.StatusFound)
	}
}

func truncateName(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func asOIDCError(err error) *oidc.Error {
	var e *oidc.Error
	if errors.As(err, &e) {
		return e
	}
	return oidc.ErrInvalidRequest()
}

// resolveAuthorizeRequest returns the parameters of an authorization
// request to client c: those of the request_uri's pushed request, taken
// (par.go), or of the request object (requestobject.go), or, with
// neither, the form itself (plain). It writes an error page and returns
// ok=false when neither can be used: no redirect URI is trusted yet.
func (p *Provider) resolveAuthorizeRequest(w http.ResponseWriter, r *http.Request, c *client, form url.Values) (params url.Values, plain, ok bool) {
	refuse := func(e *oidc.Error) {
		if e.ErrorType == oidc.ServerError {
			p.unavailable(w, r, "authorize: request_uri or request object", e)
			return
		}
		p.log.InfoContext(r.Context(), "authorize error", "error", e.ErrorType, "description", e.Description)
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-in request",
			"The application sent a sign-in request Gatehouse cannot use: "+e.Description+".", string(e.ErrorType))
	}
	if len(form["request"]) > 1 || len(form["request_uri"]) > 1 || (form.Has("request") && form.Has("request_uri")) {
		refuse(oidc.ErrInvalidRequest().WithDescription("a request carries at most one request or request_uri"))
		return nil, false, false
	}
	var e *oidc.Error
	switch {
	case form.Has("request_uri"):
		params, e = p.takePushedRequest(r, c, form.Get("request_uri"))
	case form.Has("request"):
		if p.cfg.RequirePAR || c.c.RequirePushedAuthorizationRequests {
			e = oidc.ErrInvalidRequest().WithDescription("this client must push its authorization requests")
			break
		}
		params, e = p.requestObjectParams(r.Context(), c, form.Get("request"))
	default:
		return form, true, true
	}
	if e != nil {
		refuse(e)
		return nil, false, false
	}
	return params, false, true
}

// parseAuthorizeParams checks the parameters of an authorization request
// to client c whose redirect URI is registered: each at most once and
// bounded, parsed by op, Gatehouse's policy (checkAuthorizeRequest),
// prompt and max_age, a valid id_token_hint (whose sub it returns).
// /authorize and the pushed authorization request endpoint both call it.
func (p *Provider) parseAuthorizeParams(ctx context.Context, c *client, form url.Values) (req *oidc.AuthRequest, maxAge *uint, hintSub string, e *oidc.Error) {
	for _, name := range singleParams {
		if len(form[name]) > 1 {
			return nil, nil, "", oidc.ErrInvalidRequest().WithDescription("parameter %s appears more than once", name)
		}
	}
	for name, vals := range form {
		if len(vals[0]) > maxParamBytes {
			return nil, nil, "", oidc.ErrInvalidRequest().WithDescription("parameter %s is too long", truncateName(name))
		}
	}
	if form.Has("request") || form.Has("request_uri") {
		return nil, nil, "", oidc.ErrInvalidRequest().WithDescription("request and request_uri cannot be nested")
	}
	req = new(oidc.AuthRequest)
	if err := p.op.Decoder().Decode(req, form); err != nil {
		return nil, nil, "", oidc.ErrInvalidRequest().WithDescription("the request parameters are malformed")
	}
	if e := p.checkAuthorizeRequest(c, req, form); e != nil {
		return nil, nil, "", e
	}
	maxAge, err := op.ValidateAuthReqPrompt(req.Prompt, req.MaxAge)
	if err != nil {
		return nil, nil, "", asOIDCError(err)
	}
	if req.IDTokenHint != "" {
		if hintSub, err = op.ValidateAuthReqIDTokenHint(ctx, req.IDTokenHint, p.op.IDTokenHintVerifier(ctx)); err != nil {
			return nil, nil, "", asOIDCError(err)
		}
	}
	return req, maxAge, hintSub, nil
}

// checkAuthorizeRequest applies Gatehouse's policy to a parsed request
// whose client and redirect URI are already known to be good. It may
// narrow req.Scopes to what the client may have.
func (p *Provider) checkAuthorizeRequest(c *client, req *oidc.AuthRequest, form url.Values) *oidc.Error {
	switch m := form.Get("response_mode"); m {
	case "", string(oidc.ResponseModeQuery):
	case string(oidc.ResponseModeFormPost):
		if _, ok := loginui.FormPostOrigin(req.RedirectURI); !ok {
			return oidc.ErrInvalidRequest().WithDescription("response_mode=form_post needs an http or https redirect_uri whose host is a name or an IPv4 address")
		}
	default:
		return oidc.ErrInvalidRequest().WithDescription("response_mode %q is not supported", truncateName(m))
	}
	if req.ResponseType == "" {
		return oidc.ErrInvalidRequest().WithDescription("response_type is missing")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	}
	if !slices.Contains(c.c.ResponseTypes, "code") || !c.hasGrant(string(oidc.GrantTypeCode)) {
		return oidc.ErrUnauthorizedClient().WithDescription("this client may not use the authorization code flow")
	}
	if !slices.Contains(req.Scopes, oidc.ScopeOpenID) {
		return oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	req.Scopes = grantableScopes(c, req.Scopes)
	for _, pr := range req.Prompt {
		switch pr {
		case oidc.PromptNone, oidc.PromptLogin, oidc.PromptConsent, oidc.PromptSelectAccount:
		default:
			return oidc.ErrInvalidRequest().WithDescription("prompt value %q is not supported", truncateName(pr))
		}
	}
	// dpop_jkt binds the code to a DPoP key (RFC 9449 §10); an empty
	// value is no value (RFC 6749 §3.1).
	if jkt := form.Get("dpop_jkt"); jkt != "" && !validJKT(jkt) {
		return oidc.ErrInvalidRequest().WithDescription("dpop_jkt is not a base64url SHA-256 JWK thumbprint (43 characters, unpadded)")
	}
	return checkPKCE(c, req.CodeChallenge, req.CodeChallengeMethod)
}

// grantableScopes narrows the scopes a user's sign-in asks for to what
// client c may have: the standard ones, offline_access only for a client
// with the refresh_token grant, its registered extra scopes, never
// Gatehouse's own (the admin API's, for client_credentials tokens only).
// Authorize and the device flow both use it.
func grantableScopes(c *client, scopes []string) []string {
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool {
		switch s {
		case oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups:
			return false
		case oidc.ScopeOfflineAccess:
			return !c.hasGrant(string(oidc.GrantTypeRefreshToken))
		}
		return strings.HasPrefix(s, reservedScopePrefix) || !c.IsScopeAllowed(s)
	})
	return slices.Compact(scopes)
}

// checkPKCE enforces RFC 7636 the way RFC 9700 asks: S256 only (a missing
// method means plain, which is refused), a well-formed challenge, and PKCE
// required for public clients.
func checkPKCE(c *client, challenge string, method oidc.CodeChallengeMethod) *oidc.Error {
	if challenge == "" {
		if method != "" {
			return oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
		}
		if c.public() {
			return oidc.ErrInvalidRequest().WithDescription("PKCE is required for public clients: send code_challenge with code_challenge_method=S256")
		}
		if c.c.Profile == clientpolicy.ProfileFAPI2 {
			return oidc.ErrInvalidRequest().WithDescription("PKCE is required for this client (FAPI 2.0): send code_challenge with code_challenge_method=S256")
		}
		return nil
	}
	if method != oidc.CodeChallengeMethodS256 {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	// BASE64URL(SHA-256(verifier)) is always 43 characters.
	if len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return oidc.ErrInvalidRequest().WithDescription("code_challenge is not a base64url SHA-256 value")
	}
	return nil
}

// newAuthRequest builds the stored form of req, bound to the browser by
// binding. A request that names no acr_values gets defaultACR, its
// client's default_acr_values (OpenID Connect Dynamic Client Registration
// §2: a request's own values override them), so the step-up here and the
// login UI read one list.
func (p *Provider) newAuthRequest(req *oidc.AuthRequest, defaultACR []string, binding string) (*storage.AuthRequest, error) {
	id, err := randomID(p.cfg.Random)
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	var maxAge *int64
	if req.MaxAge != nil {
		v := int64(*req.MaxAge)
		maxAge = &v
	}
	mode := string(req.ResponseMode)
	if mode == "" {
		mode = string(oidc.ResponseModeQuery)
	}
	acr := []string(req.ACRValues)
	if len(acr) == 0 {
		acr = slices.Clone(defaultACR)
	}
	return &storage.AuthRequest{
		ID: id, ClientID: req.ClientID, RedirectURI: req.RedirectURI,
		Scopes: req.Scopes, State: req.State, Nonce: req.Nonce,
		ResponseType: string(req.ResponseType), ResponseMode: mode,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
		Prompt: req.Prompt, MaxAge: maxAge, LoginHint: req.LoginHint, ACRValues: acr,
		BrowserHash: binding, CreatedAt: now, ExpiresAt: now.Add(p.cfg.AuthRequestTTL),
	}, nil
}

// callback is where the login UI sends the browser after sign-in. It
// answers only the browser that holds the session that completed the
// request (the sign-in renewed the browser's other cookie), and only once;
// a user the client does not admit (allowed_groups) is refused; a request
// that still needs the user's consent goes to the consent page.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ar, ok := p.completedRequest(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	c, err := p.clients.get(r.Context(), ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is no longer registered.", "invalid_client")
		return
	}
	if err != nil {
		p.unavailable(w, r, "callback: load client", err)
		return
	}
	// Every sign-in (password, second factor, passkey) ends here: a client
	// with allowed_groups admits only their members, before any consent.
	if _, ok, err := p.allowedUser(r.Context(), c, ar.UserID); err != nil {
		p.unavailable(w, r, "callback: groups lookup", err)
		return
	} else if !ok {
		p.refuseSignIn(w, r, c, ar, ar.UserID, ar.SessionID, nil, true)
		return
	}
	consent, err := p.needsConsent(r.Context(), c, ar.UserID, ar.Scopes, ar.Prompt)
	if err != nil {
		p.unavailable(w, r, "callback: consent lookup", err)
		return
	}
	if consent {
		http.Redirect(w, r, consentURL(ar.ID), http.StatusSeeOther)
		return
	}
	p.respondCode(w, r, ar)
}

// completedRequest loads the completed auth request id for the browser
// holding its session. It writes an error page and returns ok=false when
// the request is unknown, expired, not completed, or belongs to another
// browser.
func (p *Provider) completedRequest(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, bool) {
	ar, err := p.authRequests.AuthRequest(r.Context(), id, p.cfg.Now())
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !ar.Done) {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in link has expired",
			"Go back to the application and start signing in again.", "")
		return nil, false
	}
	if err != nil {
		p.unavailable(w, r, "load auth request", err)
		return nil, false
	}
	if !p.ui.SameSession(r, ar.SessionID) {
		p.ui.RenderError(r.Context(), w, http.StatusForbidden, "Sign-in started elsewhere",
			"This sign-in was started in another browser or window. Go back to the application and start again here.", "")
		return nil, false
	}
	return ar, true
}

// respondCode issues the code of a completed request and sends it to the
// client with state and iss.
func (p *Provider) respondCode(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest) {
	payload, err := op.BuildAuthResponseCodeResponsePayload(r.Context(), authRequest{ar}, p.op)
	if err != nil {
		var e *oidc.Error
		if errors.As(err, &e) && e.ErrorType == oidc.InvalidRequest {
			p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in link has already been used",
				"Go back to the application and start signing in again.", "")
			return
		}
		p.unavailable(w, r, "issue code", err)
		return
	}
	p.authorizeRedirect(w, r, ar.RedirectURI, oidc.ResponseMode(ar.ResponseMode),
		codeResponse{Code: payload.Code, State: ar.State, Issuer: p.cfg.Issuer})
}

func (p *Provider) authorizeError(w http.ResponseWriter, r *http.Request, redirectURI string, mode oidc.ResponseMode, state string, e *oidc.Error) {
	p.log.InfoContext(r.Context(), "authorize error", "error", e.ErrorType, "description", e.Description)
	p.authorizeRedirect(w, r, redirectURI, mode, errorResponse{
		Error: string(e.ErrorType), Description: e.Description, State: state, Issuer: p.cfg.Issuer,
	})
}

// authorizeRedirect sends an authorization response to a redirect URI that
// has been checked against the client's registration.
func (p *Provider) authorizeRedirect(w http.ResponseWriter, r *http.Request, redirectURI string, mode oidc.ResponseMode, resp any) {
	if mode == oidc.ResponseModeFormPost {
		// Gatehouse's own page: every parameter of the response (op's
		// template posts only a fixed few, never iss or error), under a CSP
		// that allows its one script by hash and posts only to the client.
		params := url.Values{}
		if err := p.op.Encoder().Encode(resp, params); err != nil {
			p.unavailable(w, r, "form_post response", err)
			return
		}
		p.ui.RenderFormPost(r.Context(), w, redirectURI, params)
		return
	}
	target, err := op.AuthResponseURL(redirectURI, oidc.ResponseTypeCode, oidc.ResponseModeQuery, resp, p.op.Encoder())
	if err != nil {
		p.unavailable(w, r, "build redirect", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// unavailable answers a request whose store call failed: 503 with
// Retry-After and a page that says so, never internal detail.
func (p *Provider) unavailable(w http.ResponseWriter, r *http.Request, msg string, err error) {
	p.log.ErrorContext(r.Context(), msg, "err", err)
	w.Header().Set("Retry-After", "5")
	p.ui.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Gatehouse is unavailable",
		"Gatehouse cannot complete this step right now. Please try again in a moment.", "temporarily_unavailable")
}
