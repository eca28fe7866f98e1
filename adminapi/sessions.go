package adminapi

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// sessionView is a live browser session. Its id is the stored one (a
// hash of the cookie), so it can end the session but never sign anyone in.
type sessionView struct {
	ID                string   `json:"id"`
	UserID            string   `json:"user_id"`
	CreatedAt         string   `json:"created_at,omitempty"`
	LastSeen          string   `json:"last_seen,omitempty"`
	ExpiresAt         string   `json:"expires_at,omitempty"`
	AbsoluteExpiresAt string   `json:"absolute_expires_at,omitempty"`
	IP                string   `json:"ip"`
	UserAgent         string   `json:"user_agent"`
	Clients           []string `json:"clients"`
	AMR               []string `json:"amr"`
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	list, err := a.cfg.Store.UserSessions(r.Context(), u.ID, a.cfg.Now())
	if err != nil {
		a.storeError(w, r, "user sessions", err)
		return
	}
	views := make([]sessionView, len(list))
	for i, s := range list {
		views[i] = sessionView{
			ID: s.ID, UserID: s.UserID, CreatedAt: stamp(s.CreatedAt), LastSeen: stamp(s.LastSeen),
			ExpiresAt: stamp(s.ExpiresAt), AbsoluteExpiresAt: stamp(s.AbsoluteExpiresAt),
			IP: s.IP, UserAgent: s.UserAgent, Clients: orEmpty(s.Clients), AMR: orEmpty(s.AMR),
		}
	}
	writeJSON(w, http.StatusOK, page[sessionView]{Items: views})
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// endedView says what ending sessions did.
type endedView struct {
	Sessions int `json:"sessions"`
	Notices  int `json:"notices"`
	Families int `json:"families"`
}

// endUserSessions ends every session of the user (their apps are told);
// with ?revoke_tokens=true their refresh tokens are revoked too.
func (a *API) endUserSessions(w http.ResponseWriter, r *http.Request) {
	revoke := false
	switch v := r.URL.Query().Get("revoke_tokens"); v {
	case "", "false":
	case "true":
		revoke = true
	default:
		a.problem(w, r, http.StatusBadRequest, typeInvalidQuery, "The query has problems; each is listed.",
			fieldProblem{Parameter: "revoke_tokens", Detail: "want true or false"})
		return
	}
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	res, err := a.cfg.Actions.EndUserSessions(r.Context(), principal(r).Actor, u.ID, "revoked through the admin API", revoke)
	if err != nil {
		a.storeError(w, r, "end sessions", err)
		return
	}
	writeJSON(w, http.StatusOK, endedView{Sessions: len(res.Sessions), Notices: res.Notices, Families: res.Families})
}

// endSession ends one session of the user.
func (a *API) endSession(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	ctx, sid := r.Context(), chi.URLParam(r, "sid")
	// Only a session of this user: the path says whose.
	list, err := a.cfg.Store.UserSessions(ctx, u.ID, a.cfg.Now())
	if err != nil {
		a.storeError(w, r, "user sessions", err)
		return
	}
	found := false
	for _, s := range list {
		found = found || s.ID == sid
	}
	if !found {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "The user has no such live session.")
		return
	}
	res, err := a.cfg.Actions.EndSession(ctx, principal(r).Actor, sid, "revoked through the admin API")
	if err != nil {
		a.storeError(w, r, "end session", err)
		return
	}
	writeJSON(w, http.StatusOK, endedView{Sessions: len(res.Sessions), Notices: res.Notices, Families: res.Families})
}

// consentView is a consent a user gave an application.
type consentView struct {
	ClientID  string   `json:"client_id"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"created_at,omitempty"`
	UpdatedAt string   `json:"updated_at,omitempty"`
}

func (a *API) listConsents(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	list, err := a.cfg.Store.UserConsents(r.Context(), u.ID)
	if err != nil {
		a.storeError(w, r, "user consents", err)
		return
	}
	views := make([]consentView, len(list))
	for i, c := range list {
		views[i] = consentView{ClientID: c.ClientID, Scopes: orEmpty(c.Scopes), CreatedAt: stamp(c.CreatedAt), UpdatedAt: stamp(c.UpdatedAt)}
	}
	writeJSON(w, http.StatusOK, page[consentView]{Items: views})
}

// revokeConsent withdraws the consent and revokes the refresh tokens the
// user holds for that application.
func (a *API) revokeConsent(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	n, err := a.cfg.Actions.RevokeConsent(r.Context(), principal(r).Actor, u.ID, chi.URLParam(r, "client"))
	if errors.Is(err, storage.ErrNotFound) {
		a.problem(w, r, http.StatusNotFound, typeNotFound, "The user gave that application no consent.")
		return
	}
	if err != nil {
		a.storeError(w, r, "revoke consent", err)
		return
	}
	writeJSON(w, http.StatusOK, endedView{Families: n})
}

// factorsResetView says what resetting a user's second factors did.
type factorsResetView struct {
	TOTP          bool `json:"totp"`
	RecoveryCodes int  `json:"recovery_codes"`
	Passkeys      int  `json:"passkeys"`
	Sessions      int  `json:"sessions"`
}

// resetFactors removes every second factor of the user and ends their
// sessions (admin.ResetFactors), for a user who lost them.
func (a *API) resetFactors(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	res, err := a.cfg.Actions.ResetFactors(r.Context(), principal(r).Actor, u.ID)
	if err != nil {
		a.storeError(w, r, "reset factors", err)
		return
	}
	writeJSON(w, http.StatusOK, factorsResetView{TOTP: res.TOTP, RecoveryCodes: res.RecoveryCodes,
		Passkeys: res.Passkeys, Sessions: len(res.SignedOut.Sessions)})
}
