package adminapi

import (
	"errors"
	"net/http"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
)

// ErrCrossOrigin is what SessionAdmins returns for a change carried by a
// browser session but not sent from the issuer's own pages: the answer is
// 403, so that another site cannot make an administrator's browser call
// the API (cross-site request forgery).
var ErrCrossOrigin = errors.New("adminapi: a session's change from another origin")

// SessionAdmins authenticates people by their Gatehouse browser session:
// a member of gatehouse-admins signed in with a second factor (Admin is
// console.Console.SessionAdmin) may do everything, recorded as the user.
// It is for the API on the main listener, where the session cookie is
// sent; a request with an Authorization header is BearerTokens'. A change
// (any method but GET and HEAD) must come from a page of Origin, the
// issuer's: its Origin header, or without one Sec-Fetch-Site:
// same-origin, says so; reads need no such proof, as no other origin can
// read the answers (the API sends no CORS headers).
type SessionAdmins struct {
	Admin  func(r *http.Request) (userID string, ok bool, err error)
	Origin string
}

// Authenticate implements Authenticator.
func (s SessionAdmins) Authenticate(r *http.Request) (*Principal, error) {
	id, ok, err := s.Admin(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.sameOrigin(r) {
		return nil, ErrCrossOrigin
	}
	return &Principal{Actor: admin.Actor{Kind: audit.ActorUser, ID: id}, Scopes: []string{ScopeAdmin}}, nil
}

func (s SessionAdmins) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == s.Origin
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}
