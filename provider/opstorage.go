package provider

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// opStorage implements op.Storage over the provider's stores. op calls it
// from its token endpoint and from the building blocks Gatehouse's own
// handlers reuse.
type opStorage struct {
	p *Provider
}

var _ op.Storage = (*opStorage)(nil)
var (
	_ op.ClientCredentialsStorage  = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

// internal turns a store failure into server_error for op: the cause is
// kept as parent (logged, never shown), so no internal text reaches a
// client.
func internal(err error) error {
	return oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again").WithParent(err)
}

func randomID(r io.Reader) (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateAuthRequest stores a request validated by op. Gatehouse's authorize
// handler does not come through here (it binds the request to the browser
// first); a request created this way has no browser binding and so can
// never be completed by the login UI.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	ar, err := s.p.newAuthRequest(req, "")
	if err != nil {
		return nil, err
	}
	if err := s.p.store.CreateAuthRequest(ctx, ar); err != nil {
		return nil, err
	}
	return authRequest{ar}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.p.store.AuthRequest(ctx, id, s.p.cfg.Now())
	if err != nil {
		return nil, err
	}
	return authRequest{ar}, nil
}

// AuthRequestByCode serves op's code exchange, which Gatehouse replaces
// (provider/codegrant.go): op never redeems a code.
func (s *opStorage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errors.New("provider: codes are redeemed by Gatehouse's own code grant")
}

// SaveAuthCode attaches the code op made for a completed request. A request
// gets one code only: a replayed callback fails here.
func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	now := s.p.cfg.Now()
	err := s.p.store.SaveCode(ctx, id, tokenHash(code), now.Add(s.p.cfg.CodeTTL), now)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return oidc.ErrInvalidRequest().WithDescription("this authorization request has already been answered or has expired").WithParent(err)
	}
	return err
}

// DeleteAuthRequest is called by op after a code exchange only, which
// Gatehouse does itself (provider/codegrant.go): it writes nothing.
func (s *opStorage) DeleteAuthRequest(context.Context, string) error {
	return nil
}

// CreateAccessToken issues the id of a JWT access token. Access tokens are
// self-contained (RFC 9068 style JWTs); nothing is stored per access token.
func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	var clientID string
	switch r := req.(type) {
	case serviceRequest:
		clientID = r.clientID
		s.p.emit(ctx, Event{Kind: EventTokenIssued, ClientID: r.clientID, GrantType: "client_credentials"})
	default:
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	return s.p.newAccessTokenID(ctx, req, clientID)
}

// CreateAccessAndRefreshTokens issues an access token id and a refresh
// token for a refresh (codes are Gatehouse's own, provider/codegrant.go): it
// rotates: the old token is marked used and the new one stored in one
// transaction, or nothing is issued.
//
// Lifetimes follow the client's refresh policy (client.refreshPolicy): the
// family's absolute deadline is fixed at the code exchange (now + the
// absolute TTL) and copied to every rotation; each token expires at
// now + the idle TTL, never past that deadline (with no idle limit, at the
// deadline). Rotation never extends a family.
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	p := s.p
	now := p.cfg.Now()
	r, ok := req.(*refreshRequest)
	if !ok {
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	clientID := r.g.ClientID
	c, err := p.clients.get(ctx, clientID)
	if err != nil {
		return "", "", time.Time{}, internal(fmt.Errorf("load client: %w", err))
	}
	pol := c.refreshPolicy()
	token, err := p.newRefreshToken()
	if err != nil {
		return "", "", time.Time{}, err
	}
	next := &storage.RefreshGrant{
		TokenHash: tokenHash(token),
		ClientID:  clientID,
		UserID:    req.GetSubject(),
		Scopes:    req.GetScopes(),
		Audience:  req.GetAudience(),
		CreatedAt: now,
	}
	next.FamilyID, next.AuthTime, next.AMR, next.SessionID = r.g.FamilyID, r.g.AuthTime, r.g.AMR, r.g.SessionID
	// The family's absolute deadline is fixed at the code exchange:
	// rotation never extends it, so a grant cannot slide forever.
	// Grants stored before the deadline was recorded expire at it.
	next.AbsoluteExpiresAt = r.g.AbsoluteExpiresAt
	if next.AbsoluteExpiresAt.IsZero() {
		next.AbsoluteExpiresAt = r.g.ExpiresAt
	}
	next.ExpiresAt = pol.expiry(now, next.AbsoluteExpiresAt)
	// The family keeps the scopes it was granted, even when this
	// refresh asked for fewer.
	next.Scopes = r.g.Scopes
	if m, ok := ctx.Value(refreshMemoKey{}).(refreshMemo); ok && m.pending != nil && m.req == r {
		// The token endpoint stores the rotation once op has built
		// the answer, both in one transaction (refreshGrant).
		m.pending.next = next
		id, exp, err := p.newAccessTokenID(ctx, req, clientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		return id, token, exp, nil
	}
	err = p.store.RotateRefreshGrant(ctx, r.g.TokenHash, next, now)
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token has already been used or has expired")
	}
	if err != nil {
		return "", "", time.Time{}, internal(fmt.Errorf("rotate refresh grant: %w", err))
	}
	p.emit(ctx, Event{Kind: EventTokenRefreshed, ClientID: clientID, UserID: next.UserID, Family: next.FamilyID})
	id, exp, err := p.newAccessTokenID(ctx, req, clientID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return id, token, exp, nil
}

// TokenRequestByRefreshToken returns the grant behind a refresh token,
// reusing the token endpoint's lookup of the same token when there was one.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	if m, ok := ctx.Value(refreshMemoKey{}).(refreshMemo); ok && m.token == token {
		return m.req, nil
	}
	return s.p.refreshRequestByToken(ctx, token)
}

// TerminateSession is op's hook for its own end_session handler, which
// Gatehouse replaces (provider/logout.go ends the browser's session).
func (s *opStorage) TerminateSession(context.Context, string, string) error {
	return errors.New("provider: sessions are ended by Gatehouse's end_session handler")
}

// RevokeToken belongs to the revocation endpoint, which Gatehouse does not
// serve yet and does not advertise.
func (s *opStorage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return &oidc.Error{ErrorType: "unsupported_token_type", Description: "revocation is not supported"}
}

func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	r, err := s.p.refreshRequestByToken(ctx, token)
	if err != nil {
		return "", "", op.ErrInvalidRefreshToken
	}
	if r.g.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return r.g.UserID, r.g.TokenHash, nil
}

// opSigningKey adapts a managed key to op.SigningKey.
type opSigningKey struct{ k *keys.SigningKey }

func (k opSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.k.Algorithm() }
func (k opSigningKey) Key() any                                    { return k.k.Key() }
func (k opSigningKey) ID() string                                  { return k.k.ID() }

// SigningKey returns the key op signs with. op signs both the ID token and
// the JWT access token of a token response with it (RFC 9068 lets an access
// token use the same algorithm), and passes no client; the algorithm comes
// from the request: the authenticated client's id_token_signed_response_alg,
// which the token endpoint puts into the context (withSigningAlg), else
// Config.SigningAlg. The authorize endpoint never signs (codes are sealed,
// not signed), and userinfo, introspection and end_session only verify,
// against every published key. A client whose algorithm has no active key
// gets an error, never a token signed with another algorithm.
func (s *opStorage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.p.keys.Signer(signingAlg(ctx, s.p.cfg.SigningAlg))
	if err != nil {
		return nil, internal(err)
	}
	return opSigningKey{k}, nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	algs := s.p.keys.Algorithms()
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out, nil
}

// publicKey adapts a published JWK to op.Key.
type publicKey struct{ k jose.JSONWebKey }

func (k publicKey) ID() string                         { return k.k.KeyID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.SignatureAlgorithm(k.k.Algorithm) }
func (k publicKey) Use() string                        { return k.k.Use }
func (k publicKey) Key() any                           { return k.k.Key }

// KeySet is what op verifies our own tokens (access tokens at userinfo,
// id_token_hint) against: the published keys, from memory.
func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	pub := s.p.keys.PublicKeys()
	out := make([]op.Key, len(pub))
	for i, k := range pub {
		out[i] = publicKey{k}
	}
	return out, nil
}

// GetClientByClientID returns the client. A private_key_jwt client whose
// assertion the token endpoint verified for this request
// (withAssertedClient) comes back as an assertedOpClient, which op treats
// as authenticated by AuthorizeClientIDSecret below.
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if assertedClient(ctx, id) && c.c.TokenEndpointAuthMethod == privateKeyJWT {
		return assertedOpClient{c}, nil
	}
	return c, nil
}

// AuthorizeClientIDSecret checks a client secret against its stored hash.
// An unknown client costs the same hash as a wrong secret. A
// private_key_jwt client whose assertion the token endpoint verified for
// this request (withAssertedClient) is authenticated already, and no
// secret is checked.
func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if assertedClient(ctx, id) {
		return nil
	}
	c, err := s.p.clients.get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		s.p.clientSecretMatches(clientpolicy.HashSecret(""), secret)
		return errors.New("unknown client")
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if c.public() || !s.p.clientSecretMatches(c.c.SecretHash, secret) {
		return errors.New("invalid client secret")
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest below
// fills the ID token's claims.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims. It always sets
// sub: op copies the whole UserInfo over the ID token claims, so a missing
// Subject here would erase sub from the token.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	var u *storage.User
	switch r := req.(type) {
	case *refreshRequest:
		u = r.user // read moments ago, when the refresh token was checked
	case codeIDTokenRequest:
		u = r.user // read moments ago, when the code was checked
	}
	if u == nil {
		var err error
		if u, err = s.p.store.UserByID(ctx, req.GetSubject()); err != nil {
			return internal(fmt.Errorf("load user: %w", err))
		}
	}
	if u.Disabled {
		return oidc.ErrInvalidGrant().WithDescription("the user is disabled")
	}
	setUserClaims(info, u, scopes)
	// sid names the SSO session (OpenID Back-Channel Logout §2.1), so the
	// client can match the session's logout token to its own session.
	switch r := req.(type) {
	case codeIDTokenRequest:
		if r.r.SessionID != "" {
			info.AppendClaims("sid", r.r.SessionID)
		}
	case *refreshRequest:
		if r.g.SessionID != "" {
			info.AppendClaims("sid", r.g.SessionID)
		}
		if acr := acrFor(r.g.AMR); acr != "" {
			info.AppendClaims("acr", acr)
		}
	}
	return nil
}

// SetUserinfoFromToken serves op's userinfo handler, which Gatehouse
// replaces (provider/userinfo.go); op gives it no scopes, so it sets sub
// only.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	u, err := s.p.store.UserByID(ctx, subject)
	if err != nil {
		return err
	}
	if u.Disabled {
		return errors.New("user disabled")
	}
	info.Subject = u.ID
	return nil
}

// SetIntrospectionFromToken belongs to the introspection endpoint, which
// Gatehouse does not serve yet and does not advertise.
func (s *opStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("provider: introspection is not supported")
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves op's own private_key_jwt verification and
// the JWT bearer grant. Gatehouse verifies client assertions itself before
// op runs (verifyClientAssertion) and offers no JWT bearer grant, so op
// never gets here.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("provider: client keys are not supported")
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("provider: the JWT bearer grant is not supported")
}

// Health is op's readiness probe: the store answers.
func (s *opStorage) Health(ctx context.Context) error {
	return s.p.store.Ping(ctx)
}

// setUserClaims sets sub and the claims the scopes ask for. The ID token
// and the userinfo response share it, so their sub always agrees.
func setUserClaims(info *oidc.UserInfo, u *storage.User, scopes []string) {
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = u.Username
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
	}
}

// serviceRequest is a client_credentials token request: the client acts
// for itself, so it is the subject and the audience.
type serviceRequest struct {
	clientID string
	scopes   []string
}

func (r serviceRequest) GetSubject() string    { return r.clientID }
func (r serviceRequest) GetAudience() []string { return []string{r.clientID} }
func (r serviceRequest) GetScopes() []string   { return r.scopes }

// ClientCredentials authenticates a confidential client for the
// client_credentials grant. The token endpoint has already pinned and
// checked its authentication method; this repeats the secret check for op,
// except for a private_key_jwt client whose assertion the token endpoint
// verified for this request (withAssertedClient).
func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.p.clients.get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errors.New("unknown client")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if assertedClient(ctx, id) && c.c.TokenEndpointAuthMethod == privateKeyJWT {
		return c, nil
	}
	if c.public() || !s.p.clientSecretMatches(c.c.SecretHash, secret) {
		return nil, errors.New("invalid client secret")
	}
	return c, nil
}

// ClientCredentialsTokenRequest grants the requested scopes the client is
// registered for (its clients.yaml scope), and no others: OpenID scopes
// mean nothing without a user.
func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	c, err := s.p.clients.get(ctx, clientID)
	if err != nil {
		return nil, internal(err)
	}
	granted := slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool { return !c.IsScopeAllowed(sc) })
	if len(scopes) > 0 && len(granted) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is registered for this client")
	}
	if len(scopes) == 0 {
		granted = slices.Clone(c.c.Scopes)
	}
	return serviceRequest{clientID: clientID, scopes: slices.Compact(granted)}, nil
}
