package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// endpoints are the provider's URLs, from its discovery document.
type endpoints struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	UserInfo      string `json:"userinfo_endpoint"`
	Introspection string `json:"introspection_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// discoveryURL returns the discovery document's URL for issuer.
func discoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
}

// discover fetches the discovery document and checks that it names every
// endpoint the scenarios use.
func discover(ctx context.Context, b *browser, issuer string) (endpoints, error) {
	a, err := b.do(ctx, request{step: "discovery", method: http.MethodGet, url: discoveryURL(issuer), want: []int{http.StatusOK}})
	if err != nil {
		return endpoints{}, err
	}
	var ep endpoints
	if err := json.Unmarshal(a.body, &ep); err != nil {
		return endpoints{}, &stepError{step: "discovery", reason: "not JSON", detail: err.Error()}
	}
	var missing []string
	for name, v := range map[string]string{
		"authorization_endpoint": ep.Authorization, "token_endpoint": ep.Token, "userinfo_endpoint": ep.UserInfo,
		"introspection_endpoint": ep.Introspection, "jwks_uri": ep.JWKS,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return endpoints{}, &stepError{step: "discovery", reason: "incomplete", detail: "missing " + strings.Join(missing, ", ")}
	}
	return ep, nil
}

// oauthClient is a registered client as the generator uses it. A public
// client has no secret and sends client_id in the token request.
type oauthClient struct {
	id, secret, redirectURI string
}

// auth adds the client's authentication to a token-endpoint request.
func (c oauthClient) auth(r *request) {
	if c.secret == "" {
		r.form.Set("client_id", c.id)
		return
	}
	r.basic = [2]string{c.id, c.secret}
}

// tokens is a token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
}

// flowState is the client side of one authorization request.
type flowState struct {
	state, nonce, verifier string
}

func newFlowState() flowState {
	return flowState{state: rand.Text(), nonce: rand.Text(), verifier: rand.Text() + rand.Text()}
}

// authorizeURL is the authorization request of f: code flow, PKCE S256.
func (g *generator) authorizeURL(c oauthClient, scope string, f flowState) string {
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.id},
		"redirect_uri":          {c.redirectURI},
		"scope":                 {scope},
		"state":                 {f.state},
		"nonce":                 {f.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(g.ep.Authorization, "?") {
		sep = "&"
	}
	return g.ep.Authorization + sep + q.Encode()
}

// account is whom a sign-in is for.
type account struct {
	username, password string
	// code is the one-time code to give when the sign-in asks for a
	// second step. With "", a sign-in that asks for one fails with reason
	// reasonSecondStep; with a code, one that does not ask fails too.
	code string
}

// account returns the user of -user and -password.
func (g *generator) account() account {
	return account{username: g.cfg.user, password: g.cfg.password}
}

// reasonSecondStep is a sign-in's stepError reason when the user's
// password was right and a second step was asked for that the sign-in had
// no code for.
const reasonSecondStep = "second step asked"

// signIn runs a whole sign-in as who in a fresh browser: authorization
// request, the HTML login form, the one-time code when who has one, the
// callback, and the code exchange. The browser keeps the session cookie
// afterwards.
func (g *generator) signIn(ctx context.Context, b *browser, c oauthClient, scope string, who account) (tokens, error) {
	b.newFlow()
	f := newFlowState()
	a, err := b.do(ctx, request{step: "authorize", method: http.MethodGet, url: g.authorizeURL(c, scope, f), want: []int{http.StatusFound, http.StatusSeeOther}})
	if err != nil {
		return tokens{}, g.authorizeRefused(c, err)
	}
	if a.location == nil || a.location.Path != "/login" || a.location.Query().Get("id") == "" {
		if _, err := g.authorizationResponse("authorize", c, f, a.location); err != nil {
			return tokens{}, err
		}
		return tokens{}, &stepError{step: "authorize", reason: "already signed in", detail: "a fresh browser was answered without the login page"}
	}
	loginURL := a.location
	page, err := b.do(ctx, request{step: "login page", method: http.MethodGet, url: loginURL.String(), want: []int{http.StatusOK}})
	if err != nil {
		return tokens{}, err
	}
	fields := hiddenFields(page.body)
	if fields.Get("csrf_token") == "" {
		return tokens{}, &stepError{step: "login page", reason: "no csrf_token", detail: "the login page has no csrf_token field"}
	}
	action, err := formAction(page.body, loginURL)
	if err != nil {
		return tokens{}, &stepError{step: "login page", reason: "bad form action", detail: err.Error()}
	}
	fields.Set("username", who.username)
	fields.Set("password", who.password)
	done, err := b.do(ctx, request{step: "login", method: http.MethodPost, url: action.String(), form: fields, sameSite: true, want: []int{http.StatusSeeOther, http.StatusFound}})
	if err != nil {
		if se := asStepError(err); se != nil && se.status == http.StatusOK {
			se.reason, se.detail = "sign-in refused", "the login form came back: wrong user or password"
			se.hint = fmt.Sprintf("create the user: echo 'PASSWORD' | gatehouse users add %s --password-stdin, and pass its password as -password", who.username)
		}
		return tokens{}, err
	}
	next := done.location
	if next == nil {
		return tokens{}, &stepError{step: "login", reason: "no Location", detail: "the sign-in answered a redirect without a Location"}
	}
	switch {
	case next.Path == "/login/factor" && who.code == "":
		return tokens{}, &stepError{step: "login", reason: reasonSecondStep,
			detail: fmt.Sprintf("user %s has two-step verification", who.username),
			hint:   fmt.Sprintf("sign in as a user without it (signin_totp is the scenario with one-time codes), or turn it off: gatehouse users mfa reset %s --all", who.username)}
	case next.Path == "/login/factor":
		if next, err = giveCode(ctx, b, next, who.code); err != nil {
			return tokens{}, err
		}
	case next.Path == "/login/enrol":
		return tokens{}, &stepError{step: "login", reason: "second step set-up asked",
			detail: fmt.Sprintf("user %s must set up two-step verification before signing in (mfa: required, or the client's require_mfa)", who.username),
			hint:   "use a server with mfa: optional (the default) and a client without require_mfa"}
	case who.code != "":
		return tokens{}, &stepError{step: "login", reason: "no second step",
			detail: fmt.Sprintf("user %s signed in with the password alone: it has no one-time code (any more)", who.username)}
	}
	cb, err := b.do(ctx, request{step: "callback", method: http.MethodGet, url: next.String(), want: []int{http.StatusFound, http.StatusSeeOther}})
	if err != nil {
		return tokens{}, err
	}
	code, err := g.authorizationResponse("callback", c, f, cb.location)
	if err != nil {
		return tokens{}, err
	}
	return g.exchange(ctx, b, c, f, code)
}

// giveCode answers the second step's page at factorURL with a one-time
// code, as a browser's user types it, and returns where the sign-in goes
// on.
func giveCode(ctx context.Context, b *browser, factorURL *url.URL, code string) (*url.URL, error) {
	page, err := b.do(ctx, request{step: "factor page", method: http.MethodGet, url: factorURL.String(), want: []int{http.StatusOK}})
	if err != nil {
		return nil, err
	}
	csrf := hiddenFields(page.body).Get("csrf_token")
	if csrf == "" {
		return nil, &stepError{step: "factor page", reason: "no csrf_token", detail: "the second step's page has no csrf_token field"}
	}
	if !bytes.Contains(page.body, []byte(`name="method" value="totp"`)) {
		return nil, &stepError{step: "factor page", reason: "no one-time code form", detail: "the second step's page asks for no one-time code"}
	}
	action, err := formAction(page.body, factorURL)
	if err != nil {
		return nil, &stepError{step: "factor page", reason: "bad form action", detail: err.Error()}
	}
	done, err := b.do(ctx, request{step: "factor", method: http.MethodPost, url: action.String(), sameSite: true,
		form: url.Values{"csrf_token": {csrf}, "method": {"totp"}, "code": {code}}, want: []int{http.StatusSeeOther, http.StatusFound}})
	if err != nil {
		if se := asStepError(err); se != nil && se.status == http.StatusOK {
			// The page came back with what was wrong: a used or wrong code.
			se.reason, se.detail = "code refused", pageAlert(done.body)
			se.hint = "the generator's clock must agree with the server's; a secret in -totp-secrets that is not the user's any more: reset the user with gatehouse users mfa reset USER --all"
		}
		return nil, err
	}
	if done.location == nil {
		return nil, &stepError{step: "factor", reason: "no Location", detail: "the second step answered a redirect without a Location"}
	}
	return done.location, nil
}

// authorizeWithSession sends an authorization request with the browser's
// session cookie (single sign-on) and exchanges the code it answers.
func (g *generator) authorizeWithSession(ctx context.Context, b *browser, c oauthClient, scope string) (tokens, error) {
	f := newFlowState()
	a, err := b.do(ctx, request{step: "authorize", method: http.MethodGet, url: g.authorizeURL(c, scope, f), want: []int{http.StatusFound, http.StatusSeeOther}})
	if err != nil {
		return tokens{}, g.authorizeRefused(c, err)
	}
	code, err := g.authorizationResponse("authorize", c, f, a.location)
	if err != nil {
		return tokens{}, err
	}
	return g.exchange(ctx, b, c, f, code)
}

// authorizeRefused explains an authorization request answered with an
// error page: Gatehouse does not redirect when the client or its redirect
// URI is unknown.
func (g *generator) authorizeRefused(c oauthClient, err error) error {
	if se := asStepError(err); se != nil && se.status == http.StatusBadRequest {
		se.hint = fmt.Sprintf("register client %q in clients.yaml with redirect URI %s (see -setup-help), or pass the right -redirect-uri", c.id, c.redirectURI)
	}
	return err
}

// authorizationResponse checks where an authorization step redirected:
// to the client's redirect URI with iss, the flow's state and a code, and
// returns the code. step names the step in errors.
func (g *generator) authorizationResponse(step string, c oauthClient, f flowState, loc *url.URL) (string, error) {
	if loc == nil {
		return "", &stepError{step: step, reason: "no Location", detail: "the redirect has no Location"}
	}
	if !sameEndpoint(loc, c.redirectURI) {
		switch loc.Path {
		case "/consent":
			return "", &stepError{step: step, reason: "consent required",
				detail: fmt.Sprintf("client %q shows a consent page", c.id),
				hint:   fmt.Sprintf("set skip_consent: true on client %q in clients.yaml and restart gatehouse", c.id)}
		case "/login":
			return "", &stepError{step: step, reason: "login required", detail: "the session was not accepted: the login page came back"}
		}
		return "", &stepError{step: step, reason: "unexpected redirect", detail: "to " + loc.String()}
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		se := &stepError{step: step, reason: e, detail: q.Get("error_description")}
		switch e {
		case "unauthorized_client", "invalid_scope":
			se.hint = fmt.Sprintf("client %q needs the authorization_code grant (and refresh_token for the refresh scenario) in clients.yaml", c.id)
		}
		return "", se
	}
	switch {
	case q.Get("state") != f.state:
		return "", &stepError{step: step, reason: "wrong state", detail: "the authorization response's state is not the request's"}
	case q.Get("iss") != g.ep.Issuer:
		return "", &stepError{step: step, reason: "wrong iss", detail: fmt.Sprintf("iss %q, want %q (RFC 9207)", q.Get("iss"), g.ep.Issuer)}
	case q.Get("code") == "":
		return "", &stepError{step: step, reason: "no code", detail: "the authorization response has no code"}
	}
	return q.Get("code"), nil
}

// sameEndpoint reports whether loc is redirectURI, ignoring the query.
func sameEndpoint(loc *url.URL, redirectURI string) bool {
	want, err := url.Parse(redirectURI)
	return err == nil && loc.Scheme == want.Scheme && loc.Host == want.Host && loc.Path == want.Path
}

// exchange redeems an authorization code.
func (g *generator) exchange(ctx context.Context, b *browser, c oauthClient, f flowState, code string) (tokens, error) {
	r := request{step: "token (code)", method: http.MethodPost, url: g.ep.Token, want: []int{http.StatusOK}, dpop: true, form: url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirectURI}, "code_verifier": {f.verifier},
	}}
	c.auth(&r)
	t, err := tokenRequest(ctx, b, r)
	if err != nil {
		return t, g.clientRefused(c, err)
	}
	if t.IDToken == "" {
		return t, &stepError{step: r.step, reason: "no id_token", detail: "the token response has no ID token"}
	}
	return t, nil
}

// refresh redeems a refresh token; the answer holds the next one.
func (g *generator) refresh(ctx context.Context, b *browser, c oauthClient, refreshToken string) (tokens, error) {
	r := request{step: "token (refresh)", method: http.MethodPost, url: g.ep.Token, want: []int{http.StatusOK}, dpop: true, form: url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
	}}
	c.auth(&r)
	t, err := tokenRequest(ctx, b, r)
	if err != nil {
		return t, g.clientRefused(c, err)
	}
	if t.RefreshToken == "" {
		return t, &stepError{step: r.step, reason: "no refresh_token", detail: "the refresh answer holds no new refresh token"}
	}
	return t, nil
}

// clientCredentials gets a service token for the confidential client.
func (g *generator) clientCredentials(ctx context.Context, b *browser, c oauthClient) (tokens, error) {
	r := request{step: "token (client_credentials)", method: http.MethodPost, url: g.ep.Token, want: []int{http.StatusOK}, dpop: true,
		form: url.Values{"grant_type": {"client_credentials"}}}
	c.auth(&r)
	t, err := tokenRequest(ctx, b, r)
	if err != nil {
		return t, g.clientRefused(c, err)
	}
	return t, nil
}

// clientRefused explains a token-endpoint error that says the client is
// not set up for what the scenario does.
func (g *generator) clientRefused(c oauthClient, err error) error {
	se := asStepError(err)
	if se == nil {
		return err
	}
	switch se.reason {
	case "invalid_client":
		se.hint = fmt.Sprintf("register client %q in clients.yaml with the secret you pass as -secret (see -setup-help)", c.id)
	case "unauthorized_client", "unsupported_grant_type":
		se.hint = fmt.Sprintf("give client %q the grant in clients.yaml: grant_types: [authorization_code, refresh_token, client_credentials]", c.id)
	case "invalid_scope":
		se.hint = fmt.Sprintf("give client %q a scope in clients.yaml, e.g. scope: load:read", c.id)
	}
	return se
}

// tokenRequest sends a token request and decodes a successful answer.
func tokenRequest(ctx context.Context, b *browser, r request) (tokens, error) {
	a, err := b.do(ctx, r)
	if err != nil {
		return tokens{}, err
	}
	var t tokens
	if err := json.Unmarshal(a.body, &t); err != nil {
		return t, &stepError{step: r.step, reason: "not JSON", detail: err.Error()}
	}
	if t.AccessToken == "" {
		return t, &stepError{step: r.step, reason: "no access_token", detail: "the token response has no access token"}
	}
	return t, nil
}

// userInfo calls the UserInfo endpoint with an access token.
func (g *generator) userInfo(ctx context.Context, b *browser, accessToken string) error {
	a, err := b.do(ctx, request{step: "userinfo", method: http.MethodGet, url: g.ep.UserInfo, bearer: accessToken, dpop: true, want: []int{http.StatusOK}})
	if err != nil {
		return err
	}
	if !bytes.Contains(a.body, []byte(`"sub"`)) {
		return &stepError{step: "userinfo", reason: "no sub", detail: "the UserInfo answer has no sub"}
	}
	return nil
}

// introspect asks about a token the client owns; it must be active.
func (g *generator) introspect(ctx context.Context, b *browser, c oauthClient, token string) error {
	r := request{step: "introspect", method: http.MethodPost, url: g.ep.Introspection, want: []int{http.StatusOK},
		form: url.Values{"token": {token}}}
	c.auth(&r)
	a, err := b.do(ctx, r)
	if err != nil {
		return g.clientRefused(c, err)
	}
	var resp struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(a.body, &resp); err != nil {
		return &stepError{step: "introspect", reason: "not JSON", detail: err.Error()}
	}
	if !resp.Active {
		return &stepError{step: "introspect", reason: "inactive", detail: "the client's own token was reported inactive",
			hint: fmt.Sprintf("give client %q a scope in clients.yaml (e.g. scope: load:read): a service token without scopes is inactive", c.id)}
	}
	return nil
}
