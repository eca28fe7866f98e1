package adminapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// userView is a user as the API shows it: never its password hash.
type userView struct {
	ID            string   `json:"id"`
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Disabled      bool     `json:"disabled"`
	Groups        []string `json:"groups,omitempty"`
	CreatedAt     string   `json:"created_at,omitempty"`
	UpdatedAt     string   `json:"updated_at,omitempty"`
}

func viewUser(u *storage.User) userView {
	return userView{
		ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Disabled: u.Disabled, CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt),
	}
}

// stamp formats t as RFC 3339 in UTC, "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// userETag is the entity tag of a user's current version: its updated_at
// as the store keeps it, which every change moves forward
// (admin.Service.UpdateUser).
func userETag(u *storage.User) string {
	if u.UpdatedAt.IsZero() {
		return `"0"`
	}
	return `"` + strconv.FormatInt(u.UpdatedAt.UnixNano(), 36) + `"`
}

// ifMatchGiven is ifMatch for a request that may leave If-Match out (a
// delete): without one it passes.
func (a *API) ifMatchGiven(w http.ResponseWriter, r *http.Request, current string) bool {
	return r.Header.Get("If-Match") == "" || a.ifMatch(w, r, current)
}

// ifMatch checks the request's If-Match against current, the resource's
// entity tag: without one it answers 428, with one that does not match
// (strong comparison, RFC 9110 §13.1.1; "*" matches) 412.
func (a *API) ifMatch(w http.ResponseWriter, r *http.Request, current string) bool {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		a.problem(w, r, http.StatusPreconditionRequired, typeIfMatchRequired, "Send If-Match with the ETag of the version you read.")
		return false
	}
	if h == "*" {
		return true
	}
	for _, tag := range strings.Split(h, ",") {
		if strings.TrimSpace(tag) == current {
			return true
		}
	}
	a.problem(w, r, http.StatusPreconditionFailed, typePrecondition, "It changed since the version your If-Match names: read it again.")
	return false
}

// loadUser reads the user the path names, answering 404 or 503 itself.
func (a *API) loadUser(w http.ResponseWriter, r *http.Request) (*storage.User, bool) {
	u, err := a.cfg.Store.UserByID(r.Context(), chi.URLParam(r, "id"))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		a.problem(w, r, http.StatusNotFound, typeNotFound, "There is no such user.")
		return nil, false
	case err != nil:
		a.storeError(w, r, "load user", err)
		return nil, false
	}
	return u, true
}

// maxSearch bounds GET /users?q=.
const maxSearch = 256

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	var bad []fieldProblem
	pq := readPage(r.URL.Query(), &bad)
	search := r.URL.Query().Get("q")
	if len(search) > maxSearch || !utf8.ValidString(search) {
		bad = append(bad, fieldProblem{Parameter: "q", Detail: "at most " + strconv.Itoa(maxSearch) + " bytes of UTF-8"})
	}
	if bad != nil {
		a.problem(w, r, http.StatusBadRequest, typeInvalidQuery, "The query has problems; each is listed.", bad...)
		return
	}
	// One more than the page holds: whether another page follows.
	list, err := a.cfg.Store.UsersPage(r.Context(), storage.UserPageQuery{After: pq.after, Contains: search, Limit: pq.limit + 1})
	if err != nil {
		a.storeError(w, r, "list users", err)
		return
	}
	views := make([]userView, len(list))
	for i := range list {
		views[i] = viewUser(&list[i])
	}
	// The page starts after pq.after already: paginate only cuts it.
	writePage(w, paginate(r, views, func(u userView) string { return u.Username }, pageQuery{limit: pq.limit}))
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok {
		return
	}
	groups, err := a.cfg.Store.UserGroups(r.Context(), u.ID)
	if err != nil {
		a.storeError(w, r, "user groups", err)
		return
	}
	v := viewUser(u)
	v.Groups = groups
	w.Header().Set("ETag", userETag(u))
	writeJSON(w, http.StatusOK, v)
}

// userFields are the members of a user's body: all of them on create
// (username and password required), all but username on update.
var userFields = []string{"username", "password", "email", "name", "email_verified", "disabled"}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	members, bad, ok := a.readObject(w, r, userFields...)
	if !ok {
		return
	}
	var n admin.NewUser
	for _, f := range []struct {
		name string
		v    *string
	}{{"username", &n.Username}, {"password", &n.Password}, {"email", &n.Email}, {"name", &n.Name}} {
		if !member(members, f.name, "a string", f.v, &bad) && (f.name == "username" || f.name == "password") {
			if _, given := members[f.name]; !given {
				bad = append(bad, fieldProblem{Pointer: "/" + f.name, Detail: "required"})
			}
		}
	}
	member(members, "email_verified", "true or false", &n.EmailVerified, &bad)
	var disabled bool
	member(members, "disabled", "true or false", &disabled, &bad)
	if disabled {
		bad = append(bad, fieldProblem{Pointer: "/disabled", Detail: "a new user is enabled; disable it with PATCH"})
	}
	if bad == nil {
		var invalid admin.Invalid
		if errors.As(n.Check(), &invalid) {
			bad = pointerProblems(invalid)
		}
	}
	if bad != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", bad...)
		return
	}
	u, err := a.cfg.Actions.CreateUser(r.Context(), principal(r).Actor, n)
	if u == nil {
		a.actionError(w, r, "user", err)
		return
	}
	if err != nil {
		a.storeError(w, r, "create user", err) // created, but not in the trail
		return
	}
	w.Header().Set("Location", Prefix+"/users/"+u.ID)
	w.Header().Set("ETag", userETag(u))
	writeJSON(w, http.StatusCreated, viewUser(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	members, bad, ok := a.readObject(w, r, userFields...)
	if !ok {
		return
	}
	var ch admin.UserChange
	var email, name, password string
	var verified, disabled bool
	if member(members, "email", "a string", &email, &bad) {
		ch.Email = &email
	}
	if member(members, "name", "a string", &name, &bad) {
		ch.Name = &name
	}
	if member(members, "password", "a string", &password, &bad) {
		ch.Password = &password
	}
	if member(members, "email_verified", "true or false", &verified, &bad) {
		ch.EmailVerified = &verified
	}
	if member(members, "disabled", "true or false", &disabled, &bad) {
		ch.Disabled = &disabled
	}
	if _, given := members["username"]; given {
		bad = append(bad, fieldProblem{Pointer: "/username", Detail: "a username never changes"})
	}
	if bad == nil {
		var invalid admin.Invalid
		if errors.As(ch.Check(), &invalid) {
			bad = pointerProblems(invalid)
		}
	}
	if bad != nil {
		a.problem(w, r, http.StatusUnprocessableEntity, typeInvalidBody, "The request body has problems; each is listed.", bad...)
		return
	}
	u, ok := a.loadUser(w, r)
	if !ok || !a.ifMatch(w, r, userETag(u)) {
		return
	}
	res, err := a.cfg.Actions.UpdateUser(r.Context(), principal(r).Actor, u, ch)
	if res.User == nil {
		a.actionError(w, r, "user", err)
		return
	}
	if err != nil {
		a.storeError(w, r, "update user", err) // changed, but not all of what follows
		return
	}
	w.Header().Set("ETag", userETag(res.User))
	writeJSON(w, http.StatusOK, viewUser(res.User))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	u, ok := a.loadUser(w, r)
	if !ok || !a.ifMatchGiven(w, r, userETag(u)) {
		return
	}
	if _, err := a.cfg.Actions.DeleteUser(r.Context(), principal(r).Actor, u); err != nil {
		a.actionError(w, r, "user", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
