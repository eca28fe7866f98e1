package adminapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// clientView is a client under the names of clients.yaml (RFC 7591),
// where it comes from (source: file, api or registration) and its state;
// the secret hash is never shown.
type clientView struct {
	ID                                 string          `json:"client_id"`
	Name                               string          `json:"client_name"`
	Source                             string          `json:"source"`
	ReadOnly                           bool            `json:"read_only"`
	Disabled                           bool            `json:"disabled"`
	Version                            int64           `json:"version"`
	ApplicationType                    string          `json:"application_type"`
	TokenEndpointAuthMethod            string          `json:"token_endpoint_auth_method"`
	RedirectURIs                       []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs             []string        `json:"post_logout_redirect_uris"`
	GrantTypes                         []string        `json:"grant_types"`
	ResponseTypes                      []string        `json:"response_types"`
	Scope                              string          `json:"scope"`
	AllowedCORSOrigins                 []string        `json:"allowed_cors_origins"`
	IDTokenSignedResponseAlg           string          `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenFormat                  string          `json:"access_token_format"`
	JWKS                               json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                            string          `json:"jwks_uri,omitempty"`
	SkipConsent                        bool            `json:"skip_consent"`
	RequireMFA                         bool            `json:"require_mfa"`
	DefaultACRValues                   []string        `json:"default_acr_values"`
	AllowedGroups                      []string        `json:"allowed_groups"`
	RequirePushedAuthorizationRequests bool            `json:"require_pushed_authorization_requests"`
	RequestObjectSigningAlg            string          `json:"request_object_signing_alg,omitempty"`
	DPoPBoundAccessTokens              bool            `json:"dpop_bound_access_tokens"`
	Profile                            string          `json:"profile,omitempty"`
	BackchannelLogoutURI               string          `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired   bool            `json:"backchannel_logout_session_required"`
	FrontchannelLogoutURI              string          `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired  bool            `json:"frontchannel_logout_session_required"`
	RefreshTokenGracePeriod            string          `json:"refresh_token_grace_period,omitempty"`
	RefreshTokenIdleTTL                string          `json:"refresh_token_idle_ttl,omitempty"`
	RefreshTokenAbsoluteTTL            string          `json:"refresh_token_absolute_ttl,omitempty"`
	CreatedAt                          string          `json:"created_at,omitempty"`
	UpdatedAt                          string          `json:"updated_at,omitempty"`
}

func source(c *storage.Client) string {
	if c.Source == "" {
		return storage.ClientSourceFile
	}
	return c.Source
}

func viewClient(c *storage.Client) clientView {
	v := clientView{
		ID: c.ID, Name: c.Name, Source: source(c), ReadOnly: source(c) == storage.ClientSourceFile,
		Disabled: c.Disabled, Version: c.Version, ApplicationType: c.ApplicationType,
		TokenEndpointAuthMethod: c.TokenEndpointAuthMethod, RedirectURIs: orEmpty(c.RedirectURIs),
		PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs), GrantTypes: orEmpty(c.GrantTypes),
		ResponseTypes: orEmpty(c.ResponseTypes), Scope: strings.Join(c.Scopes, " "),
		AllowedCORSOrigins: orEmpty(c.AllowedCORSOrigins), IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
		AccessTokenFormat: c.AccessTokenFormat, JWKS: c.JWKS, JWKSURI: c.JWKSURI,
		SkipConsent: c.SkipConsent, RequireMFA: c.RequireMFA, DefaultACRValues: orEmpty(c.DefaultACRValues),
		AllowedGroups: orEmpty(c.AllowedGroups), RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
		RequestObjectSigningAlg: c.RequestObjectSigningAlg, DPoPBoundAccessTokens: c.DPoPBoundAccessTokens, Profile: c.Profile,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
		FrontchannelLogoutURI: c.FrontchannelLogoutURI, FrontchannelLogoutSessionRequired: c.FrontchannelLogoutSessionRequired,
		CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt),
	}
	if v.AccessTokenFormat == "" {
		v.AccessTokenFormat = "jwt"
	}
	if c.RefreshGracePeriod < 0 {
		v.RefreshTokenGracePeriod = "0s"
	} else if c.RefreshGracePeriod > 0 {
		v.RefreshTokenGracePeriod = clientpolicy.FormatDuration(c.RefreshGracePeriod)
	}
	if c.RefreshTokenIdleTTL > 0 {
		v.RefreshTokenIdleTTL = clientpolicy.FormatDuration(c.RefreshTokenIdleTTL)
	}
	if c.RefreshTokenAbsoluteTTL > 0 {
		v.RefreshTokenAbsoluteTTL = clientpolicy.FormatDuration(c.RefreshTokenAbsoluteTTL)
	}
	return v
}

// clientETag is the entity tag of a client's version.
func clientETag(c *storage.Client) string { return `"v` + strconv.FormatInt(c.Version, 10) + `"` }

func (a *API) listClients(w http.ResponseWriter, r *http.Request) {
	var bad []fieldProblem
	pq := readPage(r.URL.Query(), &bad)
	if bad != nil {
		a.problem(w, r, http.StatusBadRequest, typeInvalidQuery, "The query has problems; each is listed.", bad...)
		return
	}
	list, err := a.cfg.Store.ListClients(r.Context())
	if err != nil {
		a.storeError(w, r, "list clients", err)
		return
	}
	views := make([]clientView, len(list))
	for i := range list {
		views[i] = viewClient(&list[i])
	}
	writePage(w, paginate(r, views, func(c clientView) string { return c.ID }, pq))
}

// loadClient reads the client the path names, disabled or not, answering
// 404 or 503 itself.
func (a *API) loadClient(w http.ResponseWriter, r *http.Request) (*storage.Client, bool) {
	list, err := a.cfg.Store.ListClients(r.Context())
	if err != nil {
		a.storeError(w, r, "list clients", err)
		return nil, false
	}
	id := chi.URLParam(r, "id")
	i := slices.IndexFunc(list, func(c storage.Client) bool { return c.ID == id })
	if i < 0 {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such client.")
		return nil, false
	}
	return &list[i], true
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) {
	c, ok := a.loadClient(w, r)
	if !ok {
		return
	}
	w.Header().Set("ETag", clientETag(c))
	writeJSON(w, http.StatusOK, viewClient(c))
}

// refuseFileClient answers 409 for a client declared in clients.yaml: the
// file is its only source of truth.
func (a *API) refuseFileClient(w http.ResponseWriter, r *http.Request, c *storage.Client) bool {
	if source(c) != storage.ClientSourceFile {
		return false
	}
	a.problem(w, r, http.StatusConflict, typeReadOnly, "This client is declared in clients.yaml: change it there.")
	return true
}

// parseClientBody reads a client's metadata from the body, under the
// names of clients.yaml, and checks it as clients.yaml is checked
// (clientpolicy.ParseFile, which applies clientpolicy.Validate): every
// problem is listed with its JSON pointer. The secret is given as
// client_secret (hashed here) or client_secret_hash; client_secret_env
// and client_secret_file name the server's environment and files and are
// refused. keepSecret, when not "", is the stored secret hash an update
// that gives no secret keeps: it is returned as kept.
func (a *API) parseClientBody(w http.ResponseWriter, r *http.Request, pathID, keepSecret string) (c *storage.Client, kept string, ok bool) {
	members, bad, ok := a.readObject(w, r)
	if !ok {
		return nil, "", false
	}
	for _, k := range []string{"client_secret_env", "client_secret_file"} {
		if _, given := members[k]; given {
			bad = append(bad, fieldProblem{Pointer: "/" + k, Detail: "names the server's environment or files: give client_secret or client_secret_hash"})
		}
	}
	for _, k := range []string{"source", "read_only", "disabled", "version", "created_at", "updated_at"} {
		if _, given := members[k]; given {
			bad = append(bad, fieldProblem{Pointer: "/" + k, Detail: "set by Gatehouse, not by the request"})
		}
	}
	if raw, given := members["client_id"]; pathID != "" && given {
		var id string
		if json.Unmarshal(raw, &id) != nil || id != pathID {
			bad = append(bad, fieldProblem{Pointer: "/client_id", Detail: "must be the client id of the path, " + strconv.Quote(pathID)})
		}
	}
	if bad != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", bad...)
		return nil, "", false
	}
	if pathID != "" {
		members["client_id"], _ = json.Marshal(pathID)
	}
	_, hasSecret := members["client_secret"]
	_, hasHash := members["client_secret_hash"]
	var method string
	_ = json.Unmarshal(members["token_endpoint_auth_method"], &method)
	placeholder := keepSecret != "" && !hasSecret && !hasHash && method != "none"
	if placeholder {
		// The parser wants a secret for a confidential client; the stored
		// hash replaces this one below.
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		members["client_secret"], _ = json.Marshal(base64.RawURLEncoding.EncodeToString(b))
	}
	doc, err := json.Marshal(members)
	if err != nil {
		a.storeError(w, r, "encode client", err)
		return nil, "", false
	}
	f, err := clientpolicy.ParseFile([]byte("clients:\n  - "+string(doc)+"\n"), clientpolicy.Source{Filename: "body", Issuer: a.cfg.Issuer})
	var ps clientpolicy.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			bad = append(bad, fieldProblem{Pointer: pointer(strings.TrimPrefix(strings.TrimPrefix(p.Field, "clients[0]"), ".")), Detail: p.Msg})
		}
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", bad...)
		return nil, "", false
	}
	if err != nil || len(f.Clients) != 1 {
		a.storeError(w, r, "parse client", err)
		return nil, "", false
	}
	c = &f.Clients[0]
	if len(f.DemoSecret) > 0 {
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.",
			fieldProblem{Pointer: "/client_secret", Detail: "a secret published in Gatehouse's repository: anyone can read it"})
		return nil, "", false
	}
	if placeholder {
		kept = keepSecret
	}
	return c, kept, true
}

func (a *API) createClient(w http.ResponseWriter, r *http.Request) {
	c, _, ok := a.parseClientBody(w, r, "", "")
	if !ok {
		return
	}
	err := a.cfg.Actions.CreateClient(r.Context(), principal(r).Actor, c, storage.ClientSourceAPI)
	if err != nil && c.Version == 0 {
		a.actionError(w, r, "client", err)
		return
	}
	if err != nil {
		a.storeError(w, r, "create client", err) // created, but not in the trail
		return
	}
	w.Header().Set("Location", Prefix+"/clients/"+c.ID)
	w.Header().Set("ETag", clientETag(c))
	writeJSON(w, http.StatusCreated, viewClient(c))
}

// updateClient replaces a client created through the API or by
// registration with the body, at the version If-Match names.
func (a *API) updateClient(w http.ResponseWriter, r *http.Request) {
	old, ok := a.loadClient(w, r)
	if !ok || a.refuseFileClient(w, r, old) {
		return
	}
	if r.Header.Get("If-Match") == "" {
		a.ifMatch(w, r, "")
		return
	}
	c, kept, ok := a.parseClientBody(w, r, old.ID, old.SecretHash)
	if !ok || !a.ifMatch(w, r, clientETag(old)) {
		return
	}
	c.Source = source(old)
	version := c.Version
	err := a.cfg.Actions.UpdateClient(r.Context(), principal(r).Actor, c, old.Version, kept)
	if err != nil && c.Version == version {
		a.actionError(w, r, "client", err)
		return
	}
	if err != nil {
		a.storeError(w, r, "update client", err)
		return
	}
	c.CreatedAt, c.Disabled = old.CreatedAt, old.Disabled
	w.Header().Set("ETag", clientETag(c))
	writeJSON(w, http.StatusOK, viewClient(c))
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request) {
	c, ok := a.loadClient(w, r)
	if !ok || a.refuseFileClient(w, r, c) || !a.ifMatchGiven(w, r, clientETag(c)) {
		return
	}
	if err := a.cfg.Actions.DeleteClient(r.Context(), principal(r).Actor, c.ID, source(c)); err != nil {
		a.actionError(w, r, "client", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
