package provider

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// client adapts a storage.Client to op.Client.
type client struct {
	c   *storage.Client
	cfg *Config
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.c.ID }
func (c *client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType maps RFC 7591's web/native onto op's three kinds: a web
// client without a secret is a browser-based (user agent) app.
func (c *client) ApplicationType() op.ApplicationType {
	switch {
	case c.c.ApplicationType == "native":
		return op.ApplicationTypeNative
	case c.public():
		return op.ApplicationTypeUserAgent
	default:
		return op.ApplicationTypeWeb
	}
}

func (c *client) public() bool { return c.c.TokenEndpointAuthMethod == "none" }

// AuthMethod is the client's registered method, for op's authorize
// checks; client authentication itself is Gatehouse's
// (checkClientAuthMethod).
func (c *client) AuthMethod() oidc.AuthMethod {
	switch c.c.TokenEndpointAuthMethod {
	case "none":
		return oidc.AuthMethodNone
	case "client_secret_post":
		return oidc.AuthMethodPost
	case privateKeyJWT:
		return oidc.AuthMethodPrivateKeyJWT
	default:
		return oidc.AuthMethodBasic
	}
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	out := make([]oidc.ResponseType, len(c.c.ResponseTypes))
	for i, t := range c.c.ResponseTypes {
		out[i] = oidc.ResponseType(t)
	}
	return out
}

func (c *client) GrantTypes() []oidc.GrantType {
	out := make([]oidc.GrantType, len(c.c.GrantTypes))
	for i, t := range c.c.GrantTypes {
		out[i] = oidc.GrantType(t)
	}
	return out
}

func (c *client) hasGrant(g string) bool { return slices.Contains(c.c.GrantTypes, g) }

// LoginURL is where op would send the browser to sign in; Gatehouse's own
// authorize handler uses the same path.
func (c *client) LoginURL(id string) string { return loginURL(id) }

// AccessTokenType is bearer for op; the tokens themselves are Gatehouse's
// (accesstoken.go).
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return c.cfg.IDTokenTTL }
func (c *client) DevMode() bool                       { return false }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) IsScopeAllowed(scope string) bool { return slices.Contains(c.c.Scopes, scope) }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims in the
// ID token even when an access token is issued, as most relying parties
// expect.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

// refreshPolicy is a client's refresh-token policy with the server's
// defaults filled in.
type refreshPolicy struct {
	// rotate: each refresh replaces the token (reuse detection, the grace
	// window). Off for FAPI 2.0 clients, whose token is kept and whose
	// grant only has its idle expiry moved.
	rotate bool
	// grace is the retry window after a rotation; 0: none.
	grace time.Duration
	// idle is how long a token stays valid unused; 0: no idle limit.
	idle time.Duration
	// absolute is the family's life from the code exchange; always > 0.
	absolute time.Duration
}

// refreshPolicy returns the client's refresh-token policy: its own
// clients.yaml settings where given, else the server's (Config.RefreshGrace,
// no idle limit, Config.RefreshTokenTTL). A negative grace, the client's or
// the server's, means no window.
//
// Refresh tokens rotate, except a FAPI 2.0 client's: the profile
// (§5.3.2.1) discourages rotation, which gives a confidential client
// nothing (its tokens are useless without its private key) and locks out
// one that lost an answer after the grace window.
func (c *client) refreshPolicy() refreshPolicy {
	pol := refreshPolicy{rotate: c.c.Profile != clientpolicy.ProfileFAPI2, grace: c.cfg.RefreshGrace, absolute: c.cfg.RefreshTokenTTL}
	if g := c.c.RefreshGracePeriod; g != 0 {
		pol.grace = g
	}
	if pol.grace < 0 {
		pol.grace = 0
	}
	if c.c.RefreshTokenIdleTTL > 0 {
		pol.idle = c.c.RefreshTokenIdleTTL
	}
	if c.c.RefreshTokenAbsoluteTTL > 0 {
		pol.absolute = c.c.RefreshTokenAbsoluteTTL
	}
	return pol
}

// expiry returns when a refresh token issued at now expires under the
// policy, for a family whose absolute deadline is absolute: the idle
// deadline, but never past the absolute one.
func (pol refreshPolicy) expiry(now, absolute time.Time) time.Time {
	if pol.idle > 0 {
		if idle := now.Add(pol.idle); idle.Before(absolute) {
			return idle
		}
	}
	return absolute
}

// clientCache keeps clients in memory for a short time: op asks for the
// same client several times per request, and every token request needs it.
type clientCache struct {
	store clientReader
	cfg   *Config
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]clientEntry
	// gen counts clears: a lookup that began before one does not put what
	// it fetched into the emptied cache.
	gen uint64
}

type clientEntry struct {
	c       *client
	fetched time.Time
}

// clientReader reads one client by id (the cache's source).
type clientReader interface {
	Client(ctx context.Context, id string) (*storage.Client, error)
}

func newClientCache(store clientReader, cfg Config, ttl time.Duration) *clientCache {
	return &clientCache{store: store, cfg: &cfg, ttl: ttl, now: cfg.Now, entries: map[string]clientEntry{}}
}

// get returns the enabled client, or an error wrapping storage.ErrNotFound.
// Misses are not cached, so a client added by a sync is seen at once.
func (cc *clientCache) get(ctx context.Context, id string) (*client, error) {
	now := cc.now()
	cc.mu.Lock()
	e, ok := cc.entries[id]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Sub(e.fetched) < cc.ttl {
		return e.c, nil
	}
	sc, err := cc.store.Client(ctx, id)
	if err != nil {
		cc.mu.Lock()
		delete(cc.entries, id)
		cc.mu.Unlock()
		return nil, err
	}
	c := &client{c: sc, cfg: cc.cfg}
	cc.mu.Lock()
	if cc.gen == gen {
		cc.entries[id] = clientEntry{c: c, fetched: now}
	}
	cc.mu.Unlock()
	return c, nil
}

// clear empties the cache: every client is read from the store again.
func (cc *clientCache) clear() {
	cc.mu.Lock()
	clear(cc.entries)
	cc.gen++
	cc.mu.Unlock()
}

// InvalidateClients drops the clients the provider keeps in memory (each
// for up to 5 seconds, and the origins of all of them for the CORS
// preflights), so that a change just written to the store, such as
// a clients.yaml reload, applies from the next request on. Other instances
// see the change when their own entries expire.
func (p *Provider) InvalidateClients() {
	p.clients.clear()
	p.cors.clear()
}
