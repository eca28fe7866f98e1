package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Scopes the flows ask for.
const (
	signInScope  = "openid profile email"
	offlineScope = "openid offline_access"
)

// A scenario is what each worker repeats. An iteration is one request, or
// for the flow scenarios one complete flow of several requests.
type scenario struct {
	name string
	// unit names one iteration in the report: "requests" or "flows".
	unit string
	// about is the one-line description for -h.
	about string
	// needsUser, needsSecret and needsTOTPFile say which flags the
	// scenario needs.
	needsUser, needsSecret, needsTOTPFile bool
	// notInAll keeps it out of -scenario all.
	notInAll bool
	// prepare readies worker number worker (0 to c-1) of a run: its
	// sign-in, its tokens. It returns what the worker repeats. Preparation
	// is not measured. An error from an iteration never stops the worker;
	// the next iteration may recover.
	prepare func(ctx context.Context, g *generator, b *browser, worker int) (work, error)
}

// work is what a prepared worker repeats.
type work struct {
	// iteration is one request, or one flow.
	iteration func(context.Context) error
	// pace, when not nil, is called before each iteration and returns when
	// the next one may start, or with ctx's error. Its wait is the
	// generator's (signin_totp waits for a one-time code it has not used
	// yet), so it is not measured: not in the iteration's latency.
	pace func(context.Context) error
}

// scenarios returns every scenario, in the order -scenario all runs them.
func scenarios() []scenario {
	return []scenario{
		{name: "discovery", unit: "requests", about: "GET /.well-known/openid-configuration",
			prepare: func(_ context.Context, g *generator, b *browser, _ int) (work, error) {
				u, err := url.Parse(discoveryURL(g.cfg.issuer))
				if err != nil {
					return work{}, err
				}
				return work{iteration: func(ctx context.Context) error { return b.getFixed(ctx, "discovery", u) }}, nil
			}},
		{name: "jwks", unit: "requests", about: "GET the jwks_uri",
			prepare: func(_ context.Context, g *generator, b *browser, _ int) (work, error) {
				u, err := url.Parse(g.ep.JWKS)
				if err != nil {
					return work{}, err
				}
				return work{iteration: func(ctx context.Context) error { return b.getFixed(ctx, "jwks", u) }}, nil
			}},
		{name: "client_credentials", unit: "requests", needsSecret: true,
			about: "POST the token endpoint, grant_type=client_credentials, client_secret_basic",
			prepare: func(_ context.Context, g *generator, b *browser, _ int) (work, error) {
				return work{iteration: func(ctx context.Context) error {
					_, err := g.clientCredentials(ctx, b, g.confidential)
					return err
				}}, nil
			}},
		{name: "signin", unit: "flows", needsUser: true,
			about: "a whole sign-in through the login form in a fresh browser, then the code exchange (public client, PKCE)",
			prepare: func(_ context.Context, g *generator, b *browser, _ int) (work, error) {
				return work{iteration: func(ctx context.Context) error {
					_, err := g.signIn(ctx, b, g.public, signInScope, g.account())
					return err
				}}, nil
			}},
		{name: "signin_totp", unit: "flows", needsUser: true, needsTOTPFile: true, notInAll: true,
			about:   "signin as users with a one-time code (worker i is <user>-<i>); paced by the 30-second code steps: compare CPU per flow with signin",
			prepare: prepareSignInTOTP},
		{name: "sso", unit: "flows", needsUser: true,
			about:   "signed in once, then /authorize with the session cookie and the code exchange (public client)",
			prepare: prepareSSO},
		{name: "refresh", unit: "requests", needsUser: true, needsSecret: true,
			about:   "signed in once with offline_access (confidential client), then rotating refresh_token grants",
			prepare: prepareRefresh},
		{name: "userinfo", unit: "requests", needsUser: true,
			about:   "signed in once (public client), then GET /userinfo with the access token",
			prepare: prepareUserInfo},
		{name: "refresh_dpop", unit: "requests", needsUser: true, needsSecret: true, notInAll: true,
			about:   "refresh with a DPoP proof (ES256, a key per worker) on every request: compare CPU per request with refresh",
			prepare: withDPoP(prepareRefresh)},
		{name: "userinfo_dpop", unit: "requests", needsUser: true, notInAll: true,
			about:   "userinfo with a DPoP-bound token, as Authorization: DPoP with a proof on every call: compare with userinfo",
			prepare: withDPoP(prepareUserInfo)},
		{name: "introspect", unit: "requests", needsSecret: true,
			about:   "a client_credentials token, then the same client introspects it",
			prepare: prepareIntrospect},
	}
}

// scenarioNames returns the names -scenario accepts.
func scenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return append(names, "all")
}

// findScenarios returns the scenarios name selects ("all": every one but
// those marked notInAll).
func findScenarios(name string) ([]scenario, error) {
	all := scenarios()
	if name == "all" {
		return slices.DeleteFunc(all, func(s scenario) bool { return s.notInAll }), nil
	}
	i := slices.IndexFunc(all, func(s scenario) bool { return s.name == name })
	if i < 0 {
		return nil, fmt.Errorf("-scenario: unknown scenario %q; choose one of %s", name, strings.Join(scenarioNames(), ", "))
	}
	return all[i : i+1], nil
}

func prepareSSO(ctx context.Context, g *generator, b *browser, _ int) (work, error) {
	if _, err := g.signIn(ctx, b, g.public, signInScope, g.account()); err != nil {
		return work{}, err
	}
	lost := false
	return work{iteration: func(ctx context.Context) error {
		if lost {
			// The session ended (see the errors): sign in again, within
			// this iteration.
			if _, err := g.signIn(ctx, b, g.public, signInScope, g.account()); err != nil {
				return err
			}
			lost = false
		}
		_, err := g.authorizeWithSession(ctx, b, g.public, signInScope)
		if se := asStepError(err); se != nil && se.reason == "login required" {
			lost = true
		}
		return err
	}}, nil
}

func prepareRefresh(ctx context.Context, g *generator, b *browser, _ int) (work, error) {
	signIn := func(ctx context.Context) (string, error) {
		t, err := g.signIn(ctx, b, g.confidential, offlineScope, g.account())
		if err != nil {
			return "", err
		}
		if t.RefreshToken == "" {
			return "", &stepError{step: "token (code)", reason: "no refresh_token",
				detail: fmt.Sprintf("client %q got no refresh token for scope %q", g.confidential.id, offlineScope),
				hint:   fmt.Sprintf("give client %q grant_types: [authorization_code, refresh_token, client_credentials] in clients.yaml", g.confidential.id)}
		}
		return t.RefreshToken, nil
	}
	rt, err := signIn(ctx)
	if err != nil {
		return work{}, err
	}
	return work{iteration: func(ctx context.Context) error {
		if rt == "" {
			// The family was revoked or expired: start a new one.
			next, err := signIn(ctx)
			if err != nil {
				return err
			}
			rt = next
		}
		t, err := g.refresh(ctx, b, g.confidential, rt)
		if err == nil {
			rt = t.RefreshToken // always the newest: rotation
		} else if se := asStepError(err); se != nil && se.reason == "invalid_grant" {
			rt = ""
		}
		return err
	}}, nil
}

func prepareUserInfo(ctx context.Context, g *generator, b *browser, _ int) (work, error) {
	t, err := g.signIn(ctx, b, g.public, signInScope, g.account())
	if err != nil {
		return work{}, err
	}
	at := t.AccessToken
	return work{iteration: func(ctx context.Context) error {
		if at == "" {
			// The token expired: get another through the session.
			t, err := g.authorizeWithSession(ctx, b, g.public, signInScope)
			if err != nil {
				return err
			}
			at = t.AccessToken
		}
		err := g.userInfo(ctx, b, at)
		if se := asStepError(err); se != nil && se.status == http.StatusUnauthorized {
			at = ""
		}
		return err
	}}, nil
}

func prepareIntrospect(ctx context.Context, g *generator, b *browser, _ int) (work, error) {
	t, err := g.clientCredentials(ctx, b, g.confidential)
	if err != nil {
		return work{}, err
	}
	at := t.AccessToken
	return work{iteration: func(ctx context.Context) error {
		if at == "" {
			t, err := g.clientCredentials(ctx, b, g.confidential)
			if err != nil {
				return err
			}
			at = t.AccessToken
		}
		err := g.introspect(ctx, b, g.confidential, at)
		if se := asStepError(err); se != nil && se.reason == "inactive" {
			at = "" // expired: the next iteration gets a new one
		}
		return err
	}}, nil
}
