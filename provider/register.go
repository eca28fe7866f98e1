package provider

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/egress"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Dynamic client registration (OpenID Connect Dynamic Client Registration
// 1.0, RFC 7591) and its management protocol (RFC 7592), routed only when
// Config.Registration is on. POST registerPath with an initial access token
// an operator minted (gatehouse clients token) registers a client;
// GET, PUT and DELETE on registerPath/{client_id} with the registration
// access token returned then read, replace and delete it. A registered
// client passes clientpolicy.Validate like every other client, never
// skips consent, and is stored with Source registration, so clients of
// clients.yaml or the admin API can never be reached here.

// registerPath is the registration endpoint; a client's
// registration_client_uri is registerPath + "/" + its id.
const registerPath = "/register"

// maxRegistrationBody bounds a registration request's body.
const maxRegistrationBody = 64 << 10

// Audit kinds of dynamic registration (actor ActorRegistration).
const (
	EventClientRegistered          = "client_registered"
	EventClientRegistrationUpdated = "client_registration_updated"
	EventClientRegistrationDeleted = "client_registration_deleted"
)

// ActorRegistration is the actor of the registration endpoints' audit
// events: whoever holds an initial or a registration access token.
const ActorRegistration = "registration"

// reservedScopePrefix starts the scopes Gatehouse keeps for itself (the
// admin API's gatehouse:admin, gatehouse:admin.read): no registered client
// may ask for them, and no authorization request gets them (authorize.go).
const reservedScopePrefix = "gatehouse:"

// registrationStore is what registration asks of the store: the tokens and
// registrations, and the registered clients through storage.ClientWriter.
type registrationStore interface {
	storage.Registrations
	Client(ctx context.Context, id string) (*storage.Client, error)
	UpdateClient(ctx context.Context, c *storage.Client, ifVersion int64, now time.Time) error
	DeleteClient(ctx context.Context, id, source string) (bool, error)
}

// clientMetadata is a client's registration metadata as RFC 7591 §2,
// OpenID Connect Dynamic Client Registration §2 and the logout
// specifications name it: what a request may carry and what the answers
// show. Metadata Gatehouse does not keep (client_uri, logo_uri, contacts,
// policy_uri, tos_uri…) is ignored, as RFC 7591 §2 allows, and left out of
// the answers; metadata whose silent omission would weaken what the client
// expects is refused (refusedMetadata).
type clientMetadata struct {
	RedirectURIs                      []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod           string          `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg       string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	GrantTypes                        []string        `json:"grant_types,omitempty"`
	ResponseTypes                     []string        `json:"response_types,omitempty"`
	ClientName                        string          `json:"client_name,omitempty"`
	Scope                             string          `json:"scope,omitempty"`
	JWKS                              json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                           string          `json:"jwks_uri,omitempty"`
	ApplicationType                   string          `json:"application_type,omitempty"`
	PostLogoutRedirectURIs            []string        `json:"post_logout_redirect_uris,omitempty"`
	IDTokenSignedResponseAlg          string          `json:"id_token_signed_response_alg,omitempty"`
	DefaultACRValues                  []string        `json:"default_acr_values,omitempty"`
	BackchannelLogoutURI              string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  bool            `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI             string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired bool            `json:"frontchannel_logout_session_required,omitempty"`
	// RequireMFA is Gatehouse's own: sign-ins to the client need a second
	// factor. Off unless asked.
	RequireMFA bool `json:"require_mfa,omitempty"`
	// DPoPBoundAccessTokens: every token request must carry a DPoP proof
	// (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`

	// In requests only skip_consent is read, to refuse it (a registered
	// client never skips consent); RFC 7592 §2.2 updates carry client_id
	// and may carry client_secret.
	SkipConsent  bool   `json:"skip_consent,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// clientInformation is a registration's answer (RFC 7591 §3.2.1, RFC 7592
// §3): the client's metadata as stored and its credentials.
type clientInformation struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
	clientMetadata
}

// refusedMetadata lists request metadata Gatehouse does not implement and
// whose silent omission would leave a client believing it has a protection
// it has not (encrypted or signed answers it would not get, pairwise
// subjects, re-authentication it would not see, certificate-bound tokens,
// request objects it relies on), with why.
var refusedMetadata = map[string]string{
	"id_token_encrypted_response_alg":            "encrypted ID tokens are not supported",
	"id_token_encrypted_response_enc":            "encrypted ID tokens are not supported",
	"userinfo_signed_response_alg":               "signed userinfo answers are not supported: userinfo answers JSON",
	"userinfo_encrypted_response_alg":            "encrypted userinfo answers are not supported",
	"userinfo_encrypted_response_enc":            "encrypted userinfo answers are not supported",
	"request_object_signing_alg":                 "request objects are not offered to registered clients: declare the client in clients.yaml",
	"request_object_encryption_alg":              "encrypted request objects are not supported",
	"request_object_encryption_enc":              "encrypted request objects are not supported",
	"request_uris":                               "request objects are taken by value or pushed, never fetched from a request_uri",
	"require_pushed_authorization_requests":      "requiring pushed authorization requests is not offered to registered clients: declare the client in clients.yaml (any client may push its requests)",
	"subject_type":                               "only public subject identifiers are supported",
	"sector_identifier_uri":                      "only public subject identifiers are supported",
	"default_max_age":                            "default_max_age is not supported: send max_age with each authorization request",
	"require_auth_time":                          "require_auth_time is not supported",
	"tls_client_certificate_bound_access_tokens": "certificate-bound access tokens are not supported",
	"authorization_signed_response_alg":          "JWT-secured authorization responses are not supported",
	"software_statement":                         "software statements are not supported",
}

// absentValue reports whether a metadata value is JSON null, false, an
// empty string or an empty list: what a client sends for "not set".
func absentValue(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "null", "false", `""`, "[]":
		return true
	}
	return false
}

// registrationError answers an RFC 7591 §3.2.2 error: 400 with
// invalid_client_metadata or invalid_redirect_uri and what is wrong.
func (p *Provider) registrationError(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	p.log.InfoContext(r.Context(), "registration refused", "error", code, "description", description)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// registrationUnauthorized answers a missing or wrong bearer token: 401
// with WWW-Authenticate (RFC 6750 §3).
func registrationUnauthorized(w http.ResponseWriter, description string) {
	w.Header().Set("Cache-Control", "no-store")
	if description == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	bearerError(w, http.StatusUnauthorized, "invalid_token", description)
}

// registrationStoreError answers a failed store call: 503 with
// Retry-After, never its detail.
func (p *Provider) registrationStoreError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	p.log.ErrorContext(r.Context(), msg, "err", err)
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{
		"error": "temporarily_unavailable", "error_description": "the store did not answer; try again in a moment",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// readMetadata reads a registration request's JSON body: application/json,
// at most maxRegistrationBody bytes, one object whose known fields have
// their types, and none of refusedMetadata set. It answers the request
// itself and returns false when the body is refused.
func (p *Provider) readMetadata(w http.ResponseWriter, r *http.Request) (clientMetadata, bool) {
	var md clientMetadata
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		p.registrationError(w, r, http.StatusUnsupportedMediaType, "invalid_client_metadata", "the request body must be JSON, sent with Content-Type: application/json")
		return md, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			p.registrationError(w, r, http.StatusRequestEntityTooLarge, "invalid_client_metadata", fmt.Sprintf("the request body is larger than %d KiB", maxRegistrationBody>>10))
			return md, false
		}
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", "the request body could not be read")
		return md, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", "the request body must be one JSON object")
		return md, false
	}
	if err := json.Unmarshal(body, &md); err != nil {
		msg := "the request body is not valid client metadata"
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
			msg = fmt.Sprintf("%s must be %s, not a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", msg)
		return md, false
	}
	var refused []string
	for name, why := range refusedMetadata {
		if raw, ok := fields[name]; ok && !absentValue(raw) {
			refused = append(refused, name+": "+why)
		}
	}
	if md.SkipConsent {
		refused = append(refused, "skip_consent: a registered client never skips its users' consent")
	}
	if raw, ok := fields["registration_access_token"]; ok && !absentValue(raw) {
		refused = append(refused, "registration_access_token: send it in the Authorization header only")
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", strings.Join(refused, "; "))
		return md, false
	}
	return md, true
}

// jsonKind names a Go kind as a JSON type, for error messages.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	}
	return "a " + kind
}

// newRegisteredClient maps metadata to the client it registers, with the
// defaults of RFC 7591 §2 and OpenID Connect Dynamic Client Registration §2
// (web, client_secret_basic, authorization_code, code; a native app that
// names no method is public, none, as Gatehouse requires of native apps).
// The secret hash is left to the caller.
func newRegisteredClient(id string, md clientMetadata) (storage.Client, string) {
	c := storage.Client{
		ID:                                id,
		Source:                            storage.ClientSourceRegistration,
		Name:                              md.ClientName,
		RedirectURIs:                      md.RedirectURIs,
		PostLogoutRedirectURIs:            md.PostLogoutRedirectURIs,
		GrantTypes:                        md.GrantTypes,
		ResponseTypes:                     md.ResponseTypes,
		TokenEndpointAuthMethod:           md.TokenEndpointAuthMethod,
		ApplicationType:                   md.ApplicationType,
		JWKSURI:                           md.JWKSURI,
		IDTokenSignedResponseAlg:          md.IDTokenSignedResponseAlg,
		DefaultACRValues:                  md.DefaultACRValues,
		BackchannelLogoutURI:              md.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:  md.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI:             md.FrontchannelLogoutURI,
		FrontchannelLogoutSessionRequired: md.FrontchannelLogoutSessionRequired,
		RequireMFA:                        md.RequireMFA,
		DPoPBoundAccessTokens:             md.DPoPBoundAccessTokens,
	}
	if len(md.JWKS) > 0 && !absentValue(md.JWKS) {
		c.JWKS = md.JWKS
	}
	if c.Name == "" {
		c.Name = id
	}
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "client_secret_basic"
		if c.ApplicationType == "native" {
			c.TokenEndpointAuthMethod = "none"
		}
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	if len(c.ResponseTypes) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	// The standard scopes are always allowed (clientpolicy refuses them in
	// the list of extra ones); the rest are checked by Validate and here.
	var reserved []string
	for s := range strings.FieldsSeq(md.Scope) {
		switch {
		case s == "openid" || s == "profile" || s == "email" || s == "offline_access":
		case strings.HasPrefix(s, reservedScopePrefix):
			reserved = append(reserved, s)
		case !slices.Contains(c.Scopes, s):
			c.Scopes = append(c.Scopes, s)
		}
	}
	msg := ""
	if len(reserved) > 0 {
		msg = fmt.Sprintf("scope: %s reserved for Gatehouse itself (scopes starting %s)", strings.Join(reserved, ", "), reservedScopePrefix)
	}
	return c, msg
}

// checkRegisteredClient validates c with clientpolicy.Validate (every rule
// of clients.yaml) and the registration's own rules, and answers the first
// refusal itself: invalid_redirect_uri when a redirect URI is wrong,
// invalid_client_metadata otherwise, with every problem in the description.
func (p *Provider) checkRegisteredClient(w http.ResponseWriter, r *http.Request, c storage.Client, md clientMetadata, scopeMsg string) bool {
	var msgs []string
	redirect := false
	if scopeMsg != "" {
		msgs = append(msgs, scopeMsg)
	}
	if alg := md.TokenEndpointAuthSigningAlg; alg != "" {
		ok := c.TokenEndpointAuthMethod == "private_key_jwt" && slices.Contains(clientpolicy.AssertionSigningAlgs(), jose.SignatureAlgorithm(alg))
		if !ok {
			msgs = append(msgs, fmt.Sprintf("token_endpoint_auth_signing_alg: %q is not accepted: only private_key_jwt clients name one, one of RS256, ES256, EdDSA, PS256", alg))
		}
	}
	// Gatehouse itself fetches jwks_uri and posts to backchannel_logout_uri:
	// clients.yaml may point them at this machine or its network (tests,
	// development, internal apps), a registered client may not. A name is
	// checked here only when it is a loopback name or an address; the
	// address any name resolves to is checked at each connection (package
	// egress).
	for _, f := range []struct{ field, uri string }{
		{"jwks_uri", c.JWKSURI}, {"backchannel_logout_uri", c.BackchannelLogoutURI},
	} {
		if u, err := url.Parse(f.uri); f.uri != "" && err == nil && (u.Scheme != "https" || !publicHost(u.Hostname())) {
			msgs = append(msgs, f.field+": must be https on a public host: not this machine's loopback, a private or link-local address (Gatehouse calls it)")
		}
	}
	if err := clientpolicy.Validate(c); err != nil {
		var probs clientpolicy.Problems
		if !errors.As(err, &probs) {
			probs = clientpolicy.Problems{{Msg: err.Error()}}
		}
		for _, pr := range probs {
			if strings.HasPrefix(pr.Field, "redirect_uris") {
				redirect = true
			}
			field := pr.Field
			if field == "scope" || strings.HasPrefix(field, "scope[") {
				field = "scope"
			}
			msgs = append(msgs, field+": "+pr.Msg)
		}
	}
	if len(msgs) == 0 {
		return true
	}
	code := "invalid_client_metadata"
	if redirect {
		code = "invalid_redirect_uri"
	}
	p.registrationError(w, r, http.StatusBadRequest, code, strings.Join(msgs, "; "))
	return false
}

// storedSecretHash is the form a new client secret is stored in: keyed
// under Config.ClientSecretKey when there is one, as clients.yaml's are.
func (p *Provider) storedSecretHash(secret string) (string, error) {
	h := clientpolicy.HashSecret(secret)
	if len(p.cfg.ClientSecretKey) == 0 {
		return h, nil
	}
	return KeyClientSecretHash(p.cfg.ClientSecretKey, h)
}

// needsSecret reports whether a client of that method is given a secret.
func needsSecret(method string) bool {
	return method == "client_secret_basic" || method == "client_secret_post"
}

// register is the registration endpoint (RFC 7591 §3): the initial access
// token, the metadata, the client's policy, then the client stored with a
// use of the token counted in one transaction, and the answer with the
// client's credentials, shown once.
func (p *Provider) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := bearer(r)
	if token == "" {
		registrationUnauthorized(w, "")
		return
	}
	md, ok := p.readMetadata(w, r)
	if !ok {
		return
	}
	id, err := randomToken(p.cfg.Random, 16)
	if err != nil {
		p.registrationStoreError(w, r, "registration: random", err)
		return
	}
	c, scopeMsg := newRegisteredClient(id, md)
	var secret string
	if needsSecret(c.TokenEndpointAuthMethod) {
		if secret, err = randomToken(p.cfg.Random, 32); err != nil {
			p.registrationStoreError(w, r, "registration: random", err)
			return
		}
		c.SecretHash = clientpolicy.HashSecret(secret)
	}
	if !p.checkRegisteredClient(w, r, c, md, scopeMsg) {
		return
	}
	if secret != "" {
		if c.SecretHash, err = p.storedSecretHash(secret); err != nil {
			p.registrationStoreError(w, r, "registration: secret hash", err)
			return
		}
	}
	regToken, err := randomToken(p.cfg.Random, 32)
	if err != nil {
		p.registrationStoreError(w, r, "registration: random", err)
		return
	}
	tokenID, err := p.registrations.RegisterClient(ctx, &c, TokenHash(token), TokenHash(regToken), p.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		registrationUnauthorized(w, "the initial access token is invalid, expired or used up")
		return
	case err != nil:
		p.registrationStoreError(w, r, "registration: store client", err)
		return
	}
	p.InvalidateClients()
	p.recordRegistration(ctx, EventClientRegistered, c.ID, "initial_token="+tokenID)
	p.writeClientInformation(w, http.StatusCreated, c, secret, regToken)
}

// recordRegistration records one of the registration endpoints' events.
func (p *Provider) recordRegistration(ctx context.Context, kind, clientID, detail string) {
	if err := p.audit.Record(ctx, storage.AuditEvent{
		Time: p.cfg.Now(), Kind: kind, Actor: ActorRegistration, ClientID: clientID, Detail: detail,
	}); err != nil {
		p.log.ErrorContext(ctx, "audit", "kind", kind, "err", err)
	}
}

// writeClientInformation answers with c's metadata and credentials:
// secret and the registration access token as given (a secret only when
// just issued: only its hash is kept), never cached.
func (p *Provider) writeClientInformation(w http.ResponseWriter, status int, c storage.Client, secret, regToken string) {
	info := clientInformation{
		ClientID:                c.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        c.CreatedAt.Unix(),
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   p.cfg.Issuer + registerPath + "/" + c.ID,
		clientMetadata: clientMetadata{
			RedirectURIs:                      c.RedirectURIs,
			TokenEndpointAuthMethod:           c.TokenEndpointAuthMethod,
			GrantTypes:                        c.GrantTypes,
			ResponseTypes:                     c.ResponseTypes,
			ClientName:                        c.Name,
			Scope:                             strings.Join(c.Scopes, " "),
			JWKS:                              c.JWKS,
			JWKSURI:                           c.JWKSURI,
			ApplicationType:                   c.ApplicationType,
			PostLogoutRedirectURIs:            c.PostLogoutRedirectURIs,
			IDTokenSignedResponseAlg:          c.IDTokenSignedResponseAlg,
			DefaultACRValues:                  c.DefaultACRValues,
			BackchannelLogoutURI:              c.BackchannelLogoutURI,
			BackchannelLogoutSessionRequired:  c.BackchannelLogoutSessionRequired,
			FrontchannelLogoutURI:             c.FrontchannelLogoutURI,
			FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
			RequireMFA:                        c.RequireMFA,
			DPoPBoundAccessTokens:             c.DPoPBoundAccessTokens,
		},
	}
	if c.SecretHash != "" {
		never := int64(0) // RFC 7591 §3.2.1: 0, the secret does not expire
		info.ClientSecretExpiresAt = &never
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, info)
}

// registeredClient authenticates a request on a registration_client_uri
// (RFC 7592 §2): the bearer token must be the registration access token of
// that registered client. It answers the request itself (401 for any
// token that is not, the client's existence not revealed) and returns nil
// then; else the client as stored and the token.
func (p *Provider) registeredClient(w http.ResponseWriter, r *http.Request) (*storage.Client, string) {
	ctx := r.Context()
	token := bearer(r)
	if token == "" {
		registrationUnauthorized(w, "")
		return nil, ""
	}
	id := chi.URLParam(r, "client_id")
	const wrong = "the registration access token is invalid for this client"
	stored, err := p.registrations.RegistrationHash(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		registrationUnauthorized(w, wrong)
		return nil, ""
	} else if err != nil {
		p.registrationStoreError(w, r, "registration: token lookup", err)
		return nil, ""
	}
	if subtle.ConstantTimeCompare([]byte(TokenHash(token)), []byte(stored)) != 1 {
		registrationUnauthorized(w, wrong)
		return nil, ""
	}
	c, err := p.registrations.Client(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && c.Source != storage.ClientSourceRegistration {
		registrationUnauthorized(w, wrong) // deleted meanwhile
		return nil, ""
	} else if err != nil {
		p.registrationStoreError(w, r, "registration: read client", err)
		return nil, ""
	}
	return c, token
}

// readRegistration answers RFC 7592 §2.1: the client as stored, without its
// secret (only its hash is kept).
func (p *Provider) readRegistration(w http.ResponseWriter, r *http.Request) {
	c, token := p.registeredClient(w, r)
	if c == nil {
		return
	}
	p.writeClientInformation(w, http.StatusOK, *c, "", token)
}

// updateRegistration answers RFC 7592 §2.2: the body replaces every
// metadata value (an omitted one takes its default), checked like a
// registration. client_id must be the client's; a client_secret given must
// be its current one. The secret is kept while the client stays
// confidential, issued (and shown once) when it becomes so, dropped when it
// becomes public or uses keys. The update is written only over the version
// read: a concurrent change answers 409 and the client reads and retries.
func (p *Provider) updateRegistration(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	old, token := p.registeredClient(w, r)
	if old == nil {
		return
	}
	md, ok := p.readMetadata(w, r)
	if !ok {
		return
	}
	if md.ClientID != old.ID {
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", "client_id must be given and be this client's (RFC 7592 §2.2)")
		return
	}
	if md.ClientSecret != "" && (old.SecretHash == "" || !p.clientSecretMatches(old.SecretHash, md.ClientSecret)) {
		p.registrationError(w, r, http.StatusBadRequest, "invalid_client_metadata", "client_secret is not this client's current secret")
		return
	}
	c, scopeMsg := newRegisteredClient(old.ID, md)
	var secret string
	keep := needsSecret(c.TokenEndpointAuthMethod) && old.SecretHash != ""
	if needsSecret(c.TokenEndpointAuthMethod) && !keep {
		var err error
		if secret, err = randomToken(p.cfg.Random, 32); err != nil {
			p.registrationStoreError(w, r, "registration: random", err)
			return
		}
		c.SecretHash = clientpolicy.HashSecret(secret)
	}
	if keep {
		// Validate wants the plain form; the stored one is kept below.
		c.SecretHash = clientpolicy.HashSecret("kept")
	}
	if !p.checkRegisteredClient(w, r, c, md, scopeMsg) {
		return
	}
	var err error
	switch {
	case keep:
		c.SecretHash = old.SecretHash
	case secret != "":
		if c.SecretHash, err = p.storedSecretHash(secret); err != nil {
			p.registrationStoreError(w, r, "registration: secret hash", err)
			return
		}
	}
	err = p.registrations.UpdateClient(ctx, &c, old.Version, p.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrStale):
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusConflict, map[string]string{
			"error": "invalid_request", "error_description": "the client was changed by another request meanwhile: read it again and send the update again",
		})
		return
	case errors.Is(err, storage.ErrNotFound):
		registrationUnauthorized(w, "the registration access token is invalid for this client")
		return
	case err != nil:
		p.registrationStoreError(w, r, "registration: update client", err)
		return
	}
	c.CreatedAt = old.CreatedAt
	p.InvalidateClients()
	p.recordRegistration(ctx, EventClientRegistrationUpdated, c.ID, fmt.Sprintf("version=%d", c.Version))
	p.writeClientInformation(w, http.StatusOK, c, secret, token)
}

// deleteRegistration answers RFC 7592 §2.3: the client, its refresh
// grants, consents and registration access token are deleted; 204.
func (p *Provider) deleteRegistration(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _ := p.registeredClient(w, r)
	if c == nil {
		return
	}
	deleted, err := p.registrations.DeleteClient(ctx, c.ID, storage.ClientSourceRegistration)
	if err != nil {
		p.registrationStoreError(w, r, "registration: delete client", err)
		return
	}
	p.InvalidateClients()
	if deleted {
		p.recordRegistration(ctx, EventClientRegistrationDeleted, c.ID, "")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// publicHost reports whether a registered client may name host for
// Gatehouse to call: not a loopback name, and when it is an address, a
// public one (egress.Public).
func publicHost(host string) bool {
	if clientpolicy.IsLoopbackHost(host) {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return egress.Public(a)
	}
	return true
}
