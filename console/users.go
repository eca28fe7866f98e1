package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// userStore is what the users' pages read.
type userStore interface {
	UsersPage(ctx context.Context, q storage.UserPageQuery) ([]storage.User, error)
	CountUsers(ctx context.Context) (int, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	UserByUsername(ctx context.Context, username string) (*storage.User, error)
	UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error)
	TOTP(ctx context.Context, userID string) (*storage.TOTPCredential, error)
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	UserPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
}

// maxQuery bounds a search or filter field.
const maxQuery = 256

type usersData struct {
	frame
	Query string
	Users []storage.User
	// Next is the username after which the next page starts ("": none).
	Next string
	// After is this page's start, Total how many users there are (not
	// counted for a search: that would read every user).
	After    string
	Total    int
	Problems admin.Invalid
	New      admin.NewUser
}

// usersPage lists users by username, pageSize at a time from ?after=, those
// whose username, name or email hold ?q= (case ignored): a page read from
// the store (storage.UserPager), never the whole table.
func (c *Console) usersPage(v *visit) {
	c.renderUsers(v, http.StatusOK, usersData{}, notice(v.r))
}

func (c *Console) renderUsers(v *visit, status int, data usersData, note string) {
	q := v.r.URL.Query()
	data.frame = c.frame(v, "Users", "users")
	data.Notice = note
	data.Query, data.After = truncate(q.Get("q"), maxQuery), truncate(q.Get("after"), maxQuery)
	// One more than a page: whether another follows.
	users, err := c.store.UsersPage(v.r.Context(), storage.UserPageQuery{After: data.After, Contains: data.Query, Limit: pageSize + 1})
	if err != nil {
		c.serverError(v.w, v.r, "list users", err)
		return
	}
	if len(users) > pageSize {
		users = users[:pageSize]
		data.Next = users[pageSize-1].Username
	}
	data.Users = users
	if data.Query == "" {
		if data.Total, err = c.store.CountUsers(v.r.Context()); err != nil {
			c.serverError(v.w, v.r, "count users", err)
			return
		}
	}
	c.render(v.w, v.r, status, "users", data)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return ""
	}
	return s
}

// createUser creates a user from the form (admin.CreateUser: the same
// rules as the CLI and the API).
func (c *Console) createUser(v *visit) {
	n := admin.NewUser{
		Username: v.r.PostForm.Get("username"), Name: v.r.PostForm.Get("name"), Email: v.r.PostForm.Get("email"),
		Password: v.r.PostForm.Get("password"), EmailVerified: v.r.PostForm.Get("email_verified") == "on",
	}
	u, err := c.actions.CreateUser(v.r.Context(), v.actor(), n)
	var bad admin.Invalid
	switch {
	case errors.As(err, &bad):
		n.Password = ""
		c.renderUsers(v, http.StatusBadRequest, usersData{Problems: bad, New: n}, "")
		return
	case errors.Is(err, storage.ErrConflict):
		n.Password = ""
		c.renderUsers(v, http.StatusConflict, usersData{Problems: admin.Invalid{{Field: "username", Msg: "that username is taken"}}, New: n}, "")
		return
	case err != nil && u != nil:
		c.actionFailed(v, "create user", "/admin/users/"+u.ID, err)
		return
	case err != nil:
		c.serverError(v.w, v.r, "create user", err)
		return
	}
	done(v, "/admin/users/"+u.ID, "created")
}

type userData struct {
	frame
	User      *storage.User
	Sessions  []sessionRow
	Factors   factorsRow
	Groups    []string
	AllGroups []string // groups the user could join
	Events    []eventRow
}

type sessionRow struct {
	ID, Device, IP, ACR, AMR string
	Created, LastSeen        time.Time
	Expires                  time.Time
	Apps                     []string
	Current                  bool
}

type factorsRow struct {
	TOTP      bool
	TOTPSince time.Time
	CodesLeft int
	Passkeys  []string
}

// user reads the user the URL names, answering 404 itself when there is
// none.
func (c *Console) user(v *visit) (*storage.User, bool) {
	u, err := c.store.UserByID(v.r.Context(), chi.URLParam(v.r, "id"))
	if errors.Is(err, storage.ErrNotFound) {
		c.notFound(v, "There is no such user.")
		return nil, false
	}
	if err != nil {
		c.serverError(v.w, v.r, "read user", err)
		return nil, false
	}
	return u, true
}

// userPage shows one user: their account, sessions, second factors,
// groups and latest audit events.
func (c *Console) userPage(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	ctx := v.r.Context()
	data := userData{frame: c.frame(v, u.Username, "users"), User: u}
	data.Notice = notice(v.r)
	sessions, err := c.store.UserSessions(ctx, u.ID, c.now())
	if err != nil {
		c.serverError(v.w, v.r, "user sessions", err)
		return
	}
	for _, s := range sessions {
		data.Sessions = append(data.Sessions, sessionRow{
			ID: s.ID, Device: loginui.DescribeUserAgent(s.UserAgent), IP: s.IP, ACR: acrName(s.AMR), AMR: strings.Join(s.AMR, " "),
			Created: s.CreatedAt, LastSeen: s.LastSeen, Expires: s.ExpiresAt, Apps: s.Clients, Current: s.ID == v.session.ID,
		})
	}
	switch t, err := c.store.TOTP(ctx, u.ID); {
	case err == nil:
		data.Factors.TOTP, data.Factors.TOTPSince = true, t.CreatedAt
	case !errors.Is(err, storage.ErrNotFound):
		c.serverError(v.w, v.r, "user's one-time code", err)
		return
	}
	if data.Factors.CodesLeft, err = c.store.RecoveryCodesLeft(ctx, u.ID); err != nil {
		c.serverError(v.w, v.r, "user's recovery codes", err)
		return
	}
	keys, err := c.store.UserPasskeys(ctx, u.ID)
	if err != nil {
		c.serverError(v.w, v.r, "user's passkeys", err)
		return
	}
	for _, k := range keys {
		data.Factors.Passkeys = append(data.Factors.Passkeys, k.Name)
	}
	if data.Groups, err = c.store.UserGroups(ctx, u.ID); err != nil {
		c.serverError(v.w, v.r, "user's groups", err)
		return
	}
	groups, err := c.store.ListGroups(ctx)
	if err != nil {
		c.serverError(v.w, v.r, "list groups", err)
		return
	}
	for _, g := range groups {
		if !slices.Contains(data.Groups, g.Name) {
			data.AllGroups = append(data.AllGroups, g.Name)
		}
	}
	events, err := c.store.AuditEvents(ctx, storage.AuditQuery{UserID: u.ID, Limit: 10})
	if err != nil {
		c.serverError(v.w, v.r, "user's audit events", err)
		return
	}
	data.Events = c.eventRows(ctx, events, map[string]string{u.ID: u.Username})
	c.render(v.w, v.r, http.StatusOK, "user", data)
}

// acrName says in words what class a session's amr earns.
func acrName(amr []string) string {
	switch mfa.ACR(amr) {
	case mfa.ACRMultiFactor:
		return "two factors"
	case mfa.ACRSingleFactor:
		return "one factor"
	}
	return "none"
}

// setDisabled disables or enables the user the URL names (admin.UpdateUser:
// disabling ends every session and revokes every refresh token).
func (c *Console) setDisabled(v *visit, disabled bool) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	back := "/admin/users/" + u.ID
	if disabled && u.ID == v.admin.ID {
		c.ui.RenderError(v.r.Context(), v.w, http.StatusBadRequest, "Not done",
			"You cannot disable your own account here: ask another administrator.", "")
		return
	}
	res, err := c.actions.UpdateUser(v.r.Context(), v.actor(), u, admin.UserChange{Disabled: &disabled})
	switch {
	case errors.Is(err, admin.ErrChanged):
		done(v, back, "changed")
		return
	case errors.Is(err, storage.ErrNotFound):
		c.notFound(v, "There is no such user.")
		return
	case err != nil:
		c.actionFailed(v, "update user", back, err)
		return
	}
	switch {
	case len(res.Changed) == 0:
		done(v, back, "unchanged")
	case disabled:
		done(v, back, "disabled")
	default:
		done(v, back, "enabled")
	}
}

func (c *Console) disableUser(v *visit) { c.setDisabled(v, true) }
func (c *Console) enableUser(v *visit)  { c.setDisabled(v, false) }

// endUserSession ends one session of the user the URL names; a session
// that is not theirs is "not found", like one that ended meanwhile.
func (c *Console) endUserSession(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	back := "/admin/users/" + u.ID
	id := v.r.PostForm.Get("session")
	sessions, err := c.store.UserSessions(v.r.Context(), u.ID, c.now())
	if err != nil {
		c.serverError(v.w, v.r, "user sessions", err)
		return
	}
	if id == "" || !slices.ContainsFunc(sessions, func(s storage.Session) bool { return s.ID == id }) {
		done(v, back, "session-gone")
		return
	}
	res, err := c.actions.EndSession(v.r.Context(), v.actor(), id, "ended from the admin console")
	if err != nil {
		c.actionFailed(v, "end session", back, err)
		return
	}
	if len(res.Sessions) == 0 {
		done(v, back, "session-gone")
		return
	}
	done(v, back, "session-ended")
}

// endUserSessions signs the user out everywhere and revokes their
// refresh tokens.
func (c *Console) endUserSessions(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	back := "/admin/users/" + u.ID
	if _, err := c.actions.EndUserSessions(v.r.Context(), v.actor(), u.ID, "ended from the admin console", true); err != nil {
		c.actionFailed(v, "end sessions", back, err)
		return
	}
	done(v, back, "sessions-ended")
}

// addUserToGroup and removeUserFromGroup change the memberships of the
// user the URL names.
func (c *Console) addUserToGroup(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	c.changeMembership(v, v.r.PostForm.Get("group"), u, true, "/admin/users/"+u.ID)
}

func (c *Console) removeUserFromGroup(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	c.changeMembership(v, v.r.PostForm.Get("group"), u, false, "/admin/users/"+u.ID)
}

// changeMembership adds u to group (or removes them) and sends the browser
// back.
func (c *Console) changeMembership(v *visit, group string, u *storage.User, add bool, back string) {
	if !storage.ValidGroupName(group) {
		c.ui.RenderError(v.r.Context(), v.w, http.StatusBadRequest, "Bad request", "The form does not name a group.", "")
		return
	}
	var changed bool
	var err error
	if add {
		changed, err = c.actions.AddGroupMember(v.r.Context(), v.actor(), group, u.ID)
	} else {
		changed, err = c.actions.RemoveGroupMember(v.r.Context(), v.actor(), group, u.ID)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.notFound(v, "There is no such group, or no such user.")
		return
	case err != nil:
		c.actionFailed(v, "change membership", back, err)
		return
	}
	switch {
	case add && changed:
		done(v, back, "member-added")
	case add:
		done(v, back, "member-already")
	case changed:
		done(v, back, "member-removed")
	default:
		done(v, back, "member-not")
	}
}

// resetFactors removes every second factor of the user the URL names
// (admin.ResetFactors: their sessions end too), for someone who lost
// theirs. The form must carry confirm=reset.
func (c *Console) resetFactors(v *visit) {
	u, ok := c.user(v)
	if !ok {
		return
	}
	back := "/admin/users/" + u.ID
	if v.r.PostForm.Get("confirm") != "reset" {
		c.ui.RenderError(v.r.Context(), v.w, http.StatusBadRequest, "Not done",
			"Tick the box that says the user lost their second factors, then reset them.", "")
		return
	}
	_, err := c.actions.ResetFactors(v.r.Context(), v.actor(), u.ID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c.notFound(v, "There is no such user.")
		return
	case err != nil:
		c.actionFailed(v, "reset factors", back, err)
		return
	}
	done(v, back, "factors-reset")
}
