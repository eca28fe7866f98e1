// Package adminapi is the admin REST API under /admin/v1: the HTTP surface
// only. Every change goes through package admin (the one implementation of
// operator actions, each audited with its actor); reads go to the store.
// Callers authenticate through an Authenticator: Gatehouse's own
// client_credentials access tokens with the gatehouse:admin or
// gatehouse:admin.read scope (BearerTokens), and later the console's
// session. The API is described by openapi.json, served at
// /admin/v1/openapi.json; routes.go is its whole URL surface.
package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The scopes the API honours: ScopeAdmin may do everything, ScopeRead
// only read (GET and HEAD).
const (
	ScopeAdmin = "gatehouse:admin"
	ScopeRead  = "gatehouse:admin.read"
)

// Principal is who calls: the actor recorded with every change it makes,
// and the scopes it holds.
type Principal struct {
	Actor  admin.Actor
	Scopes []string
}

// may reports whether p may make a request with that method.
func (p *Principal) may(method string) bool {
	if slices.Contains(p.Scopes, ScopeAdmin) {
		return true
	}
	return (method == http.MethodGet || method == http.MethodHead) && slices.Contains(p.Scopes, ScopeRead)
}

// ErrBadCredentials is what an Authenticator returns for credentials it
// recognises but refuses (an expired or forged token, a client without
// the scope): the answer is 401.
var ErrBadCredentials = errors.New("adminapi: credentials refused")

// Authenticator finds who makes a request. It returns nil and no error
// when the request carries no credentials of its kind (the next
// authenticator is asked), ErrBadCredentials for credentials of its kind
// that it refuses, and any other error for a failure to check them (the
// answer is 503).
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// TokenVerifier checks Gatehouse's own access tokens
// (provider.Provider.ServiceToken).
type TokenVerifier interface {
	// ServiceToken returns the client id and scopes of a live
	// client_credentials access token, "" for any other token; err only
	// for a store failure.
	ServiceToken(ctx context.Context, token string) (clientID string, scopes []string, err error)
}

// BearerTokens authenticates applications by a Gatehouse client_credentials
// access token in the Authorization header (RFC 6750 §2.1; never in the
// URL or the body). The principal is the client (audit actor "client"),
// with the token's admin scopes: a live token without one is a principal
// that may do nothing (403, insufficient_scope); any other token is
// refused (401, invalid_token).
type BearerTokens struct {
	Verifier TokenVerifier
}

// Authenticate implements Authenticator.
func (b BearerTokens) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, nil
	}
	clientID, scopes, err := b.Verifier.ServiceToken(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if clientID == "" {
		return nil, ErrBadCredentials
	}
	scopes = slices.DeleteFunc(scopes, func(s string) bool { return s != ScopeAdmin && s != ScopeRead })
	return &Principal{Actor: admin.Actor{Kind: audit.ActorClient, ID: clientID}, Scopes: scopes}, nil
}

// Store is what the API reads; changes go through admin.Service.
type Store interface {
	ListClients(ctx context.Context) ([]storage.Client, error)
	UsersPage(ctx context.Context, q storage.UserPageQuery) ([]storage.User, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	ListGroups(ctx context.Context) ([]storage.Group, error)
	GroupMembers(ctx context.Context, group string) ([]string, error)
	UserGroups(ctx context.Context, userID string) ([]string, error)
	UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error)
	UserConsents(ctx context.Context, userID string) ([]storage.Consent, error)
	SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error)
	AuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error)
}

// Config configures the API. Store, Actions and at least one
// Authenticator are required.
type Config struct {
	Store   Store
	Actions *admin.Service
	// Authenticators are asked in order; the first that finds credentials
	// decides.
	Authenticators []Authenticator
	Logger         *slog.Logger
	Now            func() time.Time
	// Issuer is the server's issuer: client secrets published in
	// Gatehouse's repository are accepted only while it is on loopback
	// (clientpolicy.ParseFile).
	Issuer string
}

// API serves /admin/v1. Create it with New.
type API struct {
	cfg Config
	log *slog.Logger
}

// New returns the API with cfg.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, log: cfg.Logger}
}

type principalKey struct{}

// principal returns the caller authenticate found.
func principal(r *http.Request) *Principal {
	p, _ := r.Context().Value(principalKey{}).(*Principal)
	return p
}

// authenticate lets a request through only with a principal whose
// scopes allow its method: 401 with WWW-Authenticate without credentials
// or with refused ones, 403 (insufficient_scope) with too little scope.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		for _, auth := range a.cfg.Authenticators {
			found, err := auth.Authenticate(r)
			if errors.Is(err, ErrBadCredentials) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token", error_description="the access token is invalid or expired"`)
				a.problem(w, r, http.StatusUnauthorized, typeUnauthorized, "The credentials were refused.")
				return
			}
			if errors.Is(err, ErrCrossOrigin) {
				a.problem(w, r, http.StatusForbidden, typeForbidden, "A change made with a browser session must come from Gatehouse's own pages (the Origin header).")
				return
			}
			if err != nil {
				a.storeError(w, r, "authenticate", err)
				return
			}
			if found != nil {
				p = found
				break
			}
		}
		if p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", scope="`+ScopeAdmin+`"`)
			a.problem(w, r, http.StatusUnauthorized, typeUnauthorized, "Send a Gatehouse access token with the "+ScopeAdmin+" or "+ScopeRead+" scope: Authorization: Bearer TOKEN.")
			return
		}
		if !p.may(r.Method) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="insufficient_scope", scope="`+ScopeAdmin+`"`)
			a.problem(w, r, http.StatusForbidden, typeForbidden, r.Method+" needs the "+ScopeAdmin+" scope.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}
