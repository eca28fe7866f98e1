// Package provider is the only package that knows zitadel/oidc's op: it
// implements op's storage interfaces over Gatehouse's stores and adds the
// policy op leaves to us — strict redirect matching, PKCE S256 for public
// clients, RFC 9207 iss in authorization responses, single-use codes,
// rotating refresh tokens, no-store token responses and a userinfo endpoint
// that takes bearer tokens from the header only.
package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"

	jose "github.com/go-jose/go-jose/v4"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/dpop"
	"github.com/gatehouse-idp/gatehouse/keys"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Store is every store the provider is built over: what its login UI
// needs (loginui.Store) and what each of its flows declares next to its
// code (codeGrantStore, refreshGrantStore, …). One backend (or the
// composite of SQL and Redis) serves all of them; each flow holds it only
// as the small interface it uses.
type Store interface {
	loginui.Store
	storage.ClientAssertions
	storage.DPoPProofs
	clientReader
	clientLister
	groupReader
	allowedStore
	authRequestStore
	consentStore
	codeGrantStore
	refreshGrantStore
	revocationStore
	familyRevoker
	liveCheckStore
	registrationStore
	pushedRequestStore
	perIPThrottle
	deviceStore
	pinger
}

// pinger reports whether the store answers (readiness, op's health).
type pinger interface {
	Ping(ctx context.Context) error
}

// Keys is what the provider needs from the key manager.
type Keys interface {
	// Signer returns the active signing key of an algorithm.
	Signer(alg string) (*keys.SigningKey, error)
	// PublicKeys returns every published public key.
	PublicKeys() []jose.JSONWebKey
	// Algorithms lists the algorithms that have an active key.
	Algorithms() []string
	// Sealer seals under the key-encryption key: the login UI keeps
	// users' one-time-code secrets sealed with it.
	Sealer() *keys.Sealer
}

// CodeKeys supplies the symmetric keys that seal authorization codes
// (*keys.Manager after EnsureCodeKeys). It is called on every code issued
// or redeemed and must answer from memory.
type CodeKeys interface {
	// CodeKeys returns the key to seal with now and every key a code may
	// still be opened with, newest first.
	CodeKeys() (seal keys.CodeKey, open []keys.CodeKey, err error)
}

// codeCrypto is op's Crypto over rotating code keys: each call uses the
// keys current at that instant, each with its name as JWE key id.
type codeCrypto struct{ keys CodeKeys }

func (c codeCrypto) Encrypt(s string) (string, error) {
	seal, _, err := c.keys.CodeKeys()
	if err != nil {
		return "", err
	}
	return op.NewAES256GCMCrypto(seal.Key, seal.ID).Encrypt(s)
}

func (c codeCrypto) Decrypt(s string) (string, error) {
	seal, open, err := c.keys.CodeKeys()
	if err != nil {
		return "", err
	}
	decrypters := make([]op.Decrypter, len(open))
	for i, k := range open {
		decrypters[i] = op.NewAES256GCMCrypto(k.Key, k.ID)
	}
	return op.NewCompositeCrypto(op.NewAES256GCMCrypto(seal.Key, seal.ID), decrypters).Decrypt(s)
}

// Config holds the provider's settings. Issuer, RefreshKey and either
// CodeKeys or CryptoKey are required; zero durations take the defaults noted.
type Config struct {
	Issuer string
	// AccessTokenTTL defaults to 15 minutes, IDTokenTTL to 1 hour,
	// RefreshTokenTTL to 30 days, AuthRequestTTL to 10 minutes and CodeTTL
	// to 60 seconds. RefreshTokenTTL is the absolute life of a refresh
	// token family for clients without their own
	// refresh_token_absolute_ttl (storage.Client.RefreshTokenAbsoluteTTL).
	AccessTokenTTL  time.Duration
	IDTokenTTL      time.Duration
	RefreshTokenTTL time.Duration
	AuthRequestTTL  time.Duration
	CodeTTL         time.Duration
	// SigningAlg signs the ID and access tokens of clients that name no
	// id_token_signed_response_alg; default RS256.
	SigningAlg string
	// RefreshGrace is how long a retry of a just-rotated refresh token
	// gets the same answer again (default 10 s; negative turns it off, so
	// any second use revokes the family), for clients without their own
	// refresh_token_grace_period (storage.Client.RefreshGracePeriod).
	RefreshGrace time.Duration
	// CryptoKey seals authorization codes (op's AES-GCM crypto) when
	// CodeKeys is nil: one key, never rotated.
	CryptoKey [32]byte
	// CodeKeys, when set, supplies rotating keys instead of CryptoKey:
	// codes are sealed with the current key and opened with any key it
	// still lists (op's composite crypto), so a code sealed just before a
	// rotation still redeems, and one sealed with a key dropped since fails
	// with invalid_grant.
	CodeKeys CodeKeys
	// ClientSecretKey (32 bytes) keys the stored client secret hashes
	// ("hmac-sha256:", see KeyClientSecretHash). Without it only plain
	// "sha256:" hashes can be checked.
	ClientSecretKey []byte
	// RefreshKey (32 bytes) keys the MAC carried by every refresh token.
	RefreshKey []byte
	Now        func() time.Time
	Random     io.Reader
	Logger     *slog.Logger
	// Audit records the audit events, the login UI's too; nil only logs
	// them (audit.LogOnly, each at LogLevel).
	Audit audit.Recorder
	// Metrics, when set, counts every request (gatehouse_http_*), and
	// Handler serves it on /metrics unless MetricsOnAdmin, where only
	// AdminHandler does.
	Metrics        *metrics.Metrics
	MetricsOnAdmin bool
	// DPoPNonceRequired makes every DPoP proof (token endpoint, userinfo)
	// carry a current server nonce (RFC 9449 §8): a proof without one is
	// refused with use_dpop_nonce and the nonce to use. Off, nonces are
	// still offered (DPoP-Nonce) and checked when a proof carries one.
	DPoPNonceRequired bool
	// Registration turns on dynamic client registration (register.go):
	// the registration endpoint, with initial access tokens, and RFC 7592
	// management, advertised in discovery. Off: neither is routed.
	Registration bool
	// RequirePAR makes every client push its authorization requests
	// (RFC 9126): /authorize takes only request_uri values from the
	// pushed authorization request endpoint. Off: only clients with
	// RequirePushedAuthorizationRequests must.
	RequirePAR bool
	// UI configures the login UI, which New builds over the provider's
	// store and routes to. New supplies what the UI takes from the
	// provider: Issuer, Clients (the provider's client cache), Recorder
	// (Audit), LogoutQueued (wakes the back-channel delivery),
	// JoinLater and, when nil, CallbackURL.
	UI loginui.Config
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTokenTTL, 15*time.Minute)
	def(&c.IDTokenTTL, time.Hour)
	def(&c.RefreshTokenTTL, 30*24*time.Hour)
	def(&c.AuthRequestTTL, 10*time.Minute)
	def(&c.CodeTTL, 60*time.Second)
	if c.RefreshGrace == 0 {
		c.RefreshGrace = 10 * time.Second
	}
	if c.SigningAlg == "" {
		c.SigningAlg = string(jose.RS256)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Random == nil {
		c.Random = rand.Reader
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Audit == nil {
		c.Audit = audit.LogOnly{Logger: c.Logger, Level: LogLevel}
	}
}

// Provider is Gatehouse's OpenID provider. Create it with New and serve
// Handler.
type Provider struct {
	cfg Config
	// The store, as each flow uses it (see Store).
	authRequests authRequestStore
	consents     consentStore
	codes        codeGrantStore
	refreshes    refreshGrantStore
	revocations  revocationStore
	families     familyRevoker
	health       pinger
	keys         Keys
	ui           *loginui.UI
	audit        audit.Recorder
	clients      *clientCache
	// cors knows the origins of all public web clients (cors.go).
	cors *corsOrigins
	// jwks caches the key sets of clients' jwks_uri.
	jwks *jwksCache
	// assertions remembers used client assertion ids (the store).
	assertions storage.ClientAssertions
	// dpopProofs remembers used DPoP proof ids (the store); dpopNonces
	// makes and checks DPoP nonces (dpop.go).
	dpopProofs storage.DPoPProofs
	dpopNonces *dpop.Nonces
	op         *opServer
	// replaySealer seals the refresh answers kept for the grace window;
	// accessSealer seals opaque access tokens.
	replaySealer *keys.Sealer
	accessSealer *keys.Sealer
	// discovery is the pre-serialized discovery document.
	discovery []byte
	log       *slog.Logger
	// signers keeps the go-jose signer of each signing key (signJWS).
	signers signerCache
	// verified remembers verified JWT access tokens (verifiedtokens.go).
	verified *verifiedTokens
	// live keeps the revocation and user checks of userinfo and
	// introspection for liveCheckTTL (livechecks.go).
	live *liveChecks
	// groups reads users' groups for the groups scope.
	groups groupReader
	// allowed reads users' groups for clients' allowed_groups
	// (allowedgroups.go).
	allowed allowedStore
	// registrations registers clients (register.go), when
	// Config.Registration is on.
	registrations registrationStore
	// pushed keeps pushed authorization requests (par.go);
	// perIP counts the calls of public clients that store a row (pushes,
	// device authorizations: perip.go).
	pushed pushedRequestStore
	perIP  perIPThrottle
	// devices keeps device sign-ins (device.go, devicegrant.go).
	devices deviceStore
	// logouts is the running back-channel logout delivery, if any.
	logouts atomic.Pointer[LogoutDelivery]
}

// opServer wraps op's Provider to switch off grants Gatehouse does not
// offer (op enables the JWT bearer grant unconditionally). Client
// credentials are on because opStorage implements op's
// ClientCredentialsStorage.
type opServer struct {
	*op.Provider
}

func (opServer) GrantTypeJWTAuthorizationSupported() bool { return false }
func (opServer) GrantTypeTokenExchangeSupported() bool    { return false }
func (opServer) GrantTypeDeviceCodeSupported() bool       { return false } // Gatehouse's own: device.go

// Decoder is op's form decoder with parameter names matched exactly. Every
// request op parses (authorize, token, end_session) goes through it.
func (s opServer) Decoder() httphelper.Decoder { return exactNames{s.Provider.Decoder()} }

// exactNames decodes forms like inner, but only from parameters whose names
// can be OAuth or OpenID parameter names: lowercase ASCII letters, digits
// and underscores. op's own decoder (zitadel/schema) compares names ignoring
// case (Unicode folding) and, given two spellings of one name, keeps either,
// so "Redirect_Uri=https://evil.example" next to the redirect_uri Gatehouse
// checked reached op as the redirect URI. Any other name is an unrecognized
// parameter, which RFC 6749 §3.1 says to ignore.
type exactNames struct{ inner httphelper.Decoder }

func (d exactNames) Decode(dst any, src map[string][]string) error {
	exact := make(map[string][]string, len(src))
	for name, values := range src {
		if parameterName(name) {
			exact[name] = values
		}
	}
	return d.inner.Decode(dst, exact)
}

// parameterName reports whether name is made of lowercase ASCII letters,
// digits and underscores only, as every OAuth and OpenID parameter is.
func parameterName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return name != ""
}

// New builds the provider and its login UI (cfg.UI), which serves the
// login pages and owns the browser cookies; the provider routes to it.
func New(ctx context.Context, cfg Config, store Store, k Keys) (*Provider, error) {
	cfg.setDefaults()
	if len(cfg.RefreshKey) < 32 {
		return nil, errors.New("provider: RefreshKey must be at least 32 bytes")
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" || strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("provider: issuer %q must be an absolute URL without trailing slash", cfg.Issuer)
	}
	if _, err := k.Signer(cfg.SigningAlg); err != nil {
		return nil, fmt.Errorf("provider: no active %s signing key: %w", cfg.SigningAlg, err)
	}
	// The key that seals kept refresh answers is derived from the refresh
	// MAC key, so instances sharing one share the other.
	replaySealer, err := keys.NewSealer(deriveKey(cfg.RefreshKey, "gatehouse refresh replay"))
	if err != nil {
		return nil, err
	}
	accessSealer, err := keys.NewSealer(deriveKey(cfg.RefreshKey, "gatehouse opaque access token"))
	if err != nil {
		return nil, err
	}
	dpopNonces, err := dpop.NewNonces(dpopNonceSecret(cfg.RefreshKey), 0)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		dpopProofs:    store,
		dpopNonces:    dpopNonces,
		replaySealer:  replaySealer,
		accessSealer:  accessSealer,
		cfg:           cfg,
		authRequests:  store,
		consents:      store,
		codes:         store,
		refreshes:     store,
		revocations:   store,
		families:      store,
		health:        store,
		keys:          k,
		audit:         cfg.Audit,
		clients:       newClientCache(store, cfg, 5*time.Second),
		cors:          newCORSOrigins(store, cfg.Now, 5*time.Second),
		jwks:          newJWKSCache(cfg.Now),
		verified:      newVerifiedTokens(16384),
		live:          newLiveChecks(store, cfg.Now),
		assertions:    store,
		groups:        store,
		allowed:       store,
		devices:       store,
		log:           cfg.Logger,
		registrations: store,
		pushed:        store,
		perIP:         store,
	}
	opConfig := &op.Config{
		CryptoKey:             cfg.CryptoKey,
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, ScopeGroups, oidc.ScopeOfflineAccess},
		SupportedClaims:       supportedClaims,
		// Used only when end_session has no post_logout_redirect_uri.
		DefaultLogoutRedirectURI: signedOutPath,
	}
	// op's verifiers accept RS256, ES256 and PS256 unless told otherwise.
	// Gatehouse verifies only its own tokens (access tokens at userinfo,
	// introspection and revocation; ID tokens as id_token_hint), so it
	// accepts exactly the algorithms it signs with, EdDSA included.
	signAlgs := keys.KeptAlgorithms()
	opts := []op.Option{
		op.WithLogger(cfg.Logger),
		op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(signAlgs...)),
		op.WithIDTokenHintVerifierOpts(op.WithSupportedIDTokenHintSigningAlgorithms(signAlgs...)),
	}
	var codes op.Crypto = op.NewAES256GCMCrypto(cfg.CryptoKey, "")
	if cfg.CodeKeys != nil {
		if _, _, err := cfg.CodeKeys.CodeKeys(); err != nil {
			return nil, fmt.Errorf("provider: code keys: %w", err)
		}
		codes = codeCrypto{keys: cfg.CodeKeys}
	}
	opts = append(opts, op.WithCrypto(codes)) // seals codes; tokens are signed by Gatehouse
	if iss.Scheme == "http" {
		// Validated by config: http only for loopback issuers.
		opts = append(opts, op.WithAllowInsecure())
	}
	inner, err := op.NewProvider(opConfig, &opStorage{p: p}, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p.op = &opServer{Provider: inner}
	if p.cfg.UI.MFA == "" {
		p.cfg.UI.MFA = mfa.Optional
	}
	uiCfg := p.cfg.UI
	if s := k.Sealer(); uiCfg.Sealer == nil && s != nil {
		uiCfg.Sealer = s
	}
	uiCfg.Issuer = cfg.Issuer
	if uiCfg.CallbackURL == nil {
		uiCfg.CallbackURL = func(id string) string { return CallbackURL(cfg.Issuer, id) }
	}
	uiCfg.Clients = func(ctx context.Context, id string) (*storage.Client, error) {
		c, err := p.clients.get(ctx, id)
		if err != nil {
			return nil, err
		}
		return c.c, nil
	}
	uiCfg.Recorder = cfg.Audit
	uiCfg.LogoutQueued = p.kickLogouts
	uiCfg.JoinLater = p.joinLater
	if p.ui, err = loginui.New(store, uiCfg); err != nil {
		return nil, err
	}
	if p.discovery, err = p.buildDiscovery(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

var supportedClaims = []string{
	"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
	"name", "preferred_username", "email", "email_verified", "updated_at", "groups",
}

// UI is the login UI the provider built and routes to: the pages built
// on it elsewhere (the admin console) share its sessions and CSRF tokens.
func (p *Provider) UI() *loginui.UI { return p.ui }

// CallbackURL is where the login UI sends the browser once the auth request
// with that id is complete: op's /authorize/callback under the issuer.
func CallbackURL(issuer, authRequestID string) string {
	return issuer + callbackPath + "?id=" + url.QueryEscape(authRequestID)
}
