// Package console is the admin console: server-rendered pages under
// /admin on the main listener, for members of the gatehouse-admins group
// whose session was signed in with a second factor. It reads the stores
// through the small interfaces its views declare, and changes nothing
// itself: every write is an operator action of package admin, recorded
// in the audit trail with the signed-in admin as its actor. Sessions,
// CSRF tokens, the error page, the stylesheet and the security headers
// are the login UI's.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// AdminGroup is the group whose members may use the console.
const AdminGroup = "gatehouse-admins"

// pageSize is how many rows a list shows at once.
const pageSize = 50

// maxFormBytes bounds a console form post.
const maxFormBytes = 16 << 10

// Store is what the console reads: the union of what its views declare.
type Store interface {
	memberStore
	userStore
	groupStore
	clientStore
	keyStore
	auditStore
}

// memberStore says who is in the admin group.
type memberStore interface {
	UserGroups(ctx context.Context, userID string) ([]string, error)
}

// Actions are the operator actions the console's forms ask for
// (*admin.Service); each records its audit event with the actor.
type Actions interface {
	CreateUser(ctx context.Context, who admin.Actor, n admin.NewUser) (*storage.User, error)
	UpdateUser(ctx context.Context, who admin.Actor, u *storage.User, ch admin.UserChange) (admin.UserUpdate, error)
	EndSession(ctx context.Context, who admin.Actor, id, why string) (signout.Result, error)
	EndUserSessions(ctx context.Context, who admin.Actor, userID, why string, revokeTokens bool) (signout.Result, error)
	CreateGroup(ctx context.Context, who admin.Actor, name string) (*storage.Group, error)
	DeleteGroup(ctx context.Context, who admin.Actor, name string) error
	AddGroupMember(ctx context.Context, who admin.Actor, group, userID string) (bool, error)
	RemoveGroupMember(ctx context.Context, who admin.Actor, group, userID string) (bool, error)
	RotateKeys(ctx context.Context, who admin.Actor) ([]string, error)
	ResetFactors(ctx context.Context, who admin.Actor, userID string) (admin.FactorsReset, error)
}

// Config configures a Console. Every field but Now and Logger is
// required.
type Config struct {
	// UI is the login UI: the browser's session, CSRF tokens, the error
	// page, the sign-in the console sends a stranger to.
	UI *loginui.UI
	// Store is read by the views.
	Store Store
	// Actions performs the forms' changes.
	Actions Actions
	Now     func() time.Time
	Logger  *slog.Logger
}

// Console serves /admin. Create it with New.
type Console struct {
	ui      *loginui.UI
	store   Store
	actions Actions
	pages   map[string]*template.Template
	now     func() time.Time
	log     *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the console's templates, each wrapped in base.html.
var pageNames = []string{"users", "user", "groups", "group", "clients", "client", "keys", "audit", "refused"}

// New returns a Console with cfg, or an error naming what is missing.
func New(cfg Config) (*Console, error) {
	if cfg.UI == nil || cfg.Store == nil || cfg.Actions == nil {
		return nil, errors.New("console: UI, Store and Actions are required")
	}
	c := &Console{ui: cfg.UI, store: cfg.Store, actions: cfg.Actions, now: cfg.Now, log: cfg.Logger, pages: map[string]*template.Template{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return c, nil
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	// when is a time for people, in UTC; "—" for none.
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	// iso is a time for <time datetime>.
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short": func(id string) string { return shortID(id) },
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Routes adds the console's pages and forms to r.
func (c *Console) Routes(r chi.Router) {
	r.Get("/admin", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/admin/users", http.StatusFound) })
	r.Get("/admin/users", c.page(c.usersPage))
	r.Post("/admin/users", c.form(c.createUser))
	r.Get("/admin/users/{id}", c.page(c.userPage))
	r.Post("/admin/users/{id}/disable", c.form(c.disableUser))
	r.Post("/admin/users/{id}/enable", c.form(c.enableUser))
	r.Post("/admin/users/{id}/sessions/end", c.form(c.endUserSession))
	r.Post("/admin/users/{id}/sessions/end-all", c.form(c.endUserSessions))
	r.Post("/admin/users/{id}/factors/reset", c.form(c.resetFactors))
	r.Post("/admin/users/{id}/groups/add", c.form(c.addUserToGroup))
	r.Post("/admin/users/{id}/groups/remove", c.form(c.removeUserFromGroup))
	r.Get("/admin/groups", c.page(c.groupsPage))
	r.Post("/admin/groups", c.form(c.createGroup))
	r.Get("/admin/groups/{name}", c.page(c.groupPage))
	r.Post("/admin/groups/{name}/delete", c.form(c.deleteGroup))
	r.Post("/admin/groups/{name}/members/add", c.form(c.addMember))
	r.Post("/admin/groups/{name}/members/remove", c.form(c.removeMember))
	r.Get("/admin/clients", c.page(c.clientsPage))
	r.Get("/admin/clients/{id}", c.page(c.clientPage))
	r.Get("/admin/keys", c.page(c.keysPage))
	r.Post("/admin/keys/rotate", c.form(c.rotateKeys))
	r.Get("/admin/audit", c.page(c.auditPage))
}

// Access is what a browser's session may do in the console.
type Access int

const (
	// NoSession: no live session (or a store failure, reported apart).
	NoSession Access = iota
	// NotAdmin: signed in, but not a member of AdminGroup.
	NotAdmin
	// SingleFactor: a member, but the session was signed in with one
	// factor only (its amr lacks "mfa", so its acr is not the
	// multi-factor class).
	SingleFactor
	// Granted: a member signed in with a second factor.
	Granted
)

// access decides what s's user may do, reading their groups.
func (c *Console) access(ctx context.Context, s *storage.Session, user *storage.User) (Access, error) {
	groups, err := c.store.UserGroups(ctx, user.ID)
	if err != nil {
		return NoSession, fmt.Errorf("admin's groups: %w", err)
	}
	if !slices.Contains(groups, AdminGroup) {
		return NotAdmin, nil
	}
	if !mfa.MultiFactor(s.AMR) {
		return SingleFactor, nil
	}
	return Granted, nil
}

// SessionAdmin is the console's rule for a request that carries a browser
// session rather than a token (the admin API's session authenticator): it
// returns the id of the signed-in user when they are a member of
// gatehouse-admins whose session has a second factor, with ok=true. ok is
// false, with a nil error, for no session, a disabled user, a non-member
// or a single-factor session; an error means a store failed (answer 503,
// never 401). It writes nothing and does not record the session's use. A
// caller serving state-changing requests with it must refuse cross-site
// ones: the provider's router applies fetch-metadata protection
// (http.CrossOriginProtection) to every route.
func (c *Console) SessionAdmin(r *http.Request) (userID string, ok bool, err error) {
	s, user, err := c.ui.CurrentSession(r.Context(), r)
	if errors.Is(err, loginui.ErrNoSession) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	a, err := c.access(r.Context(), s, user)
	if err != nil || a != Granted {
		return "", false, err
	}
	return user.ID, true, nil
}

// visit is one request of a signed-in admin.
type visit struct {
	w       http.ResponseWriter
	r       *http.Request
	session *storage.Session
	admin   *storage.User
}

// actor is who the admin's actions are recorded as.
func (v *visit) actor() admin.Actor { return admin.Actor{Kind: audit.ActorUser, ID: v.admin.ID} }

// gate lets a granted admin through and answers everyone else: to sign
// in (and come back, for a page), the 403 page, or the page saying a
// second factor is needed.
func (c *Console) gate(w http.ResponseWriter, r *http.Request) (*visit, bool) {
	s, user, err := c.ui.UseSession(r.Context(), w, r, "")
	if errors.Is(err, loginui.ErrNoSession) {
		if r.Method == http.MethodGet {
			c.ui.SignInAndReturn(w, r, r.URL.RequestURI())
		} else {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
		}
		return nil, false
	}
	if err != nil {
		c.serverError(w, r, "console session", err)
		return nil, false
	}
	a, err := c.access(r.Context(), s, user)
	if err != nil {
		c.serverError(w, r, "console access", err)
		return nil, false
	}
	switch a {
	case NotAdmin:
		c.render(w, r, http.StatusForbidden, "refused", refusedData{frame: frame{Title: "Not an administrator"}, Username: user.Username, Member: false})
		return nil, false
	case SingleFactor:
		c.render(w, r, http.StatusForbidden, "refused", refusedData{frame: frame{Title: "Second factor needed"}, Username: user.Username, Member: true})
		return nil, false
	}
	return &visit{w: w, r: r, session: s, admin: user}, true
}

type refusedData struct {
	frame
	Username string
	Member   bool
}

// page wraps a view: only a granted admin sees it.
func (c *Console) page(view func(v *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v, ok := c.gate(w, r); ok {
			view(v)
		}
	}
}

// form wraps a form's handler: the post is read (bounded), its CSRF token
// checked (bound to the session cookie), then the admin is checked.
func (c *Console) form(act func(v *visit)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			c.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
			return
		}
		if !c.ui.ValidFormToken(r, csrfPurpose, "", r.PostForm.Get("csrf_token")) {
			c.ui.RenderError(r.Context(), w, http.StatusForbidden, "Form expired",
				"This form is no longer valid. Go back, reload the page and try again.", "")
			return
		}
		if v, ok := c.gate(w, r); ok {
			act(v)
		}
	}
}

// csrfPurpose binds the console's CSRF tokens to the console.
const csrfPurpose = "console"

// frame is what every console page shows around its content.
type frame struct {
	Title string
	// Nav names the section the page belongs to (highlighted).
	Nav    string
	Admin  string
	CSRF   string
	Notice string
	Error  string
}

// frame returns the page frame for v.
func (c *Console) frame(v *visit, title, nav string) frame {
	return frame{Title: title, Nav: nav, Admin: v.admin.Username, CSRF: c.ui.FormToken(v.r, csrfPurpose, "")}
}

// render writes a console page with the login UI's security headers.
// Rendering into a buffer first means a template failure is a clean 500.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "base", data); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
		c.ui.RenderError(r.Context(), w, http.StatusInternalServerError, "Something went wrong", "This page could not be shown.", "")
		return
	}
	loginui.SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// serverError answers a store failure: 503 with Retry-After, never a 4xx.
func (c *Console) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	c.log.ErrorContext(r.Context(), "console: "+what, "err", err)
	w.Header().Set("Retry-After", "5")
	c.ui.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Something went wrong",
		"Gatehouse could not complete this step. Please try again in a moment.", "")
}

// notFound answers a page or form about something that is not there.
func (c *Console) notFound(v *visit, what string) {
	c.ui.RenderError(v.r.Context(), v.w, http.StatusNotFound, "Not found", what, "")
}

// done sends the browser back to target with a notice key (PRG): only
// known keys are shown, so nothing posted is echoed.
func done(v *visit, target, key string) {
	sep := "?"
	if slices.Contains([]byte(target), '?') {
		sep = "&"
	}
	http.Redirect(v.w, v.r, target+sep+"done="+key, http.StatusSeeOther)
}

// notices are the messages a page shows after an action, by key.
var notices = map[string]string{
	"created":        "The user was created.",
	"disabled":       "The user was disabled: every session ended and every refresh token was revoked.",
	"enabled":        "The user was enabled.",
	"unchanged":      "Nothing changed.",
	"session-ended":  "The session was ended; its applications have been told.",
	"session-gone":   "That session was not found among the user's sessions: it may have ended already.",
	"sessions-ended": "Every session of the user was ended and their refresh tokens revoked.",
	"member-added":   "The user was added to the group.",
	"member-already": "The user was a member already.",
	"member-removed": "The user was removed from the group.",
	"member-not":     "The user was not a member.",
	"group-created":  "The group was created.",
	"group-deleted":  "The group was deleted.",
	"rotated":        "A rotation started: the new keys are published now and sign once they activate.",
	"rotated-none":   "Every algorithm has a pending key already: nothing was created.",
	"changed":        "Someone changed this user meanwhile. Look again, then retry.",
	"not-recorded":   "The change is made, but its audit event may be missing from the trail (see the server log).",
}

// notice is the notice a page was sent back with, if any.
func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// actionFailed answers an action's error: a 503 for a store failure (or
// sessions that may still be alive), the page again with a notice when
// only the audit record failed.
func (c *Console) actionFailed(v *visit, what, back string, err error) {
	switch {
	case errors.Is(err, admin.ErrNotRecorded) && !errors.Is(err, signout.ErrNotEnded):
		c.log.ErrorContext(v.r.Context(), "console: "+what, "err", err)
		done(v, back, "not-recorded")
	default:
		c.serverError(v.w, v.r, what, err)
	}
}
