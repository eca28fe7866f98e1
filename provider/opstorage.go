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

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// opStorage implements op.Storage over the provider's stores, for the
// building blocks of op that Gatehouse's own handlers reuse: authorize
// (clients, auth requests, codes), discovery (algorithms), end_session
// (verifying id_token_hint against the published keys). The token
// endpoint, userinfo, revocation and introspection are Gatehouse's own,
// and op's token paths are refused here (errNotOp).
type opStorage struct {
	p *Provider
}

var _ op.Storage = (*opStorage)(nil)

// errNotOp answers op's calls into a path Gatehouse serves itself; op
// never makes them while its token, userinfo, revocation, introspection
// and end_session handlers are not routed.
var errNotOp = errors.New("provider: served by Gatehouse, not op")

// internal turns a failure into server_error for op: the cause is kept as
// parent (logged, never shown), so no internal text reaches a client.
func internal(err error) error {
	return oidc.ErrServerError().WithDescription("Gatehouse could not complete the request; try again").WithParent(err)
}

// randomID is a random identifier: 16 bytes of r in base64url.
func randomID(r io.Reader) (string, error) { return randomToken(r, 16) }

// randomToken returns n random bytes of r in base64url, unpadded.
func randomToken(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateAuthRequest stores a request validated by op. Gatehouse's authorize
// handler does not come through here (it binds the request to the browser
// first); a request created this way has no browser binding and so can
// never be completed by the login UI, nor does it get its client's
// default_acr_values.
func (s *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	ar, err := s.p.newAuthRequest(req, nil, "")
	if err != nil {
		return nil, err
	}
	if err := s.p.authRequests.CreateAuthRequest(ctx, ar); err != nil {
		return nil, err
	}
	return authRequest{ar}, nil
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	ar, err := s.p.authRequests.AuthRequest(ctx, id, s.p.cfg.Now())
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
	err := s.p.authRequests.SaveCode(ctx, id, TokenHash(code), now.Add(s.p.cfg.CodeTTL), now)
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

// The token paths are Gatehouse's own (codegrant.go, refreshgrant.go,
// clientcredentials.go, accesstoken.go, idtoken.go, revoke.go, userinfo.go,
// logout.go).

func (s *opStorage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, errNotOp
}

func (s *opStorage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNotOp
}

func (s *opStorage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errNotOp
}

func (s *opStorage) TerminateSession(context.Context, string, string) error { return errNotOp }

func (s *opStorage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return oidc.ErrServerError().WithParent(errNotOp)
}

func (s *opStorage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", errNotOp
}

func (s *opStorage) AuthorizeClientIDSecret(context.Context, string, string) error { return errNotOp }

func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return errNotOp
}

func (s *opStorage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errNotOp
}

func (s *opStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errNotOp
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, errNotOp
}

func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotOp
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errNotOp
}

// opSigningKey adapts a managed key to op.SigningKey.
type opSigningKey struct{ k *keys.SigningKey }

func (k opSigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.k.Algorithm() }
func (k opSigningKey) Key() any                                    { return k.k.Key() }
func (k opSigningKey) ID() string                                  { return k.k.ID() }

// SigningKey is the key of Config.SigningAlg. op signs nothing for
// Gatehouse (tokens are signed by accesstoken.go and idtoken.go with each
// client's algorithm; codes are sealed, not signed); op asks for it only
// to describe the provider.
func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	k, err := s.p.keys.Signer(s.p.cfg.SigningAlg)
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

// GetClientByClientID returns the client, for authorize and end_session.
func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.p.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Health is op's readiness probe: the store answers.
func (s *opStorage) Health(ctx context.Context) error {
	return s.p.health.Ping(ctx)
}

// ScopeGroups asks for the names of the user's groups (the groups claim, a
// list of strings), in the ID token and at userinfo; any client may ask.
const ScopeGroups = "groups"

// groupReader reads the names of a user's groups (the groups scope).
type groupReader interface {
	UserGroups(ctx context.Context, userID string) ([]string, error)
}

// userGroups returns the user's group names when scopes grant the groups
// scope, and nil without reading the store otherwise.
func (p *Provider) userGroups(ctx context.Context, userID string, scopes []string) ([]string, error) {
	if !slices.Contains(scopes, ScopeGroups) {
		return nil, nil
	}
	groups, err := p.groups.UserGroups(ctx, userID)
	if groups == nil && err == nil {
		groups = []string{} // granted, and a member of none: an empty list
	}
	return groups, err
}

// setUserClaims sets sub and the claims the scopes ask for (groups, read
// by userGroups, for the groups scope). The ID token and the userinfo
// response share it, so their sub always agrees.
func setUserClaims(info *oidc.UserInfo, u *storage.User, scopes, groups []string) {
	info.Subject = u.ID
	if groups != nil {
		info.AppendClaims("groups", groups)
	}
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
