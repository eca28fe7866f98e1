package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/admin"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionsUsage = `Usage:
  gatehouse sessions list [--user USERNAME] [--full]
  gatehouse sessions revoke SESSION_ID
  gatehouse sessions revoke --user USERNAME

list shows the live browser (single sign-on) sessions of every user, or of
one: the session id (shortened; --full prints it whole), the user, when the
session started, was last used and ends (after idle time / at the latest),
the IP address and browser it was last used from, and the apps signed in
through it.

revoke ends one session, named by its full id, or with --user every session
of that user. The user must sign in again. Apps signed in through an ended
session that registered a backchannel_logout_uri get a logout token from the
running server within seconds. Refresh tokens already issued stay valid:
gatehouse users disable and gatehouse users passwd revoke those too.

Examples:
  gatehouse sessions list
  gatehouse sessions list --user alice --full
  gatehouse sessions revoke 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  gatehouse sessions revoke --user alice
`

// Widths of the shortened columns of sessions list.
const (
	shortSessionID = 12 // characters of the id before "…"
	shortUserAgent = 40 // characters of the user agent before "…"
)

func sessionsCommand(ctx context.Context, env environment, args []string) error {
	switch {
	case len(args) == 0:
		fmt.Fprint(env.stderr, sessionsUsage)
		return errUsage
	case isHelp(args[0]):
		fmt.Fprint(env.stdout, sessionsUsage)
		return nil
	}
	fs := newFlagSet("sessions "+args[0], env)
	load := configFlag(fs, env)
	username := fs.String("user", "", "only this user's sessions")
	full := fs.Bool("full", false, "print session ids whole (list)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(env, err, sessionsUsage)
	}
	switch {
	case args[0] == "list" && len(pos) == 0:
	case args[0] == "revoke" && *full:
		fmt.Fprint(env.stderr, "--full is for list\n\n"+sessionsUsage)
		return errUsage
	case args[0] == "revoke" && len(pos) == 1 && *username == "":
	case args[0] == "revoke" && len(pos) == 0 && *username != "":
	case args[0] == "revoke" && len(pos) > 0 && *username != "":
		fmt.Fprint(env.stderr, "give a session id or --user, not both\n\n"+sessionsUsage)
		return errUsage
	default:
		fmt.Fprint(env.stderr, sessionsUsage)
		return errUsage
	}
	cfg, store, err := openCommandStores(ctx, load, withSessions)
	if err != nil {
		return err
	}
	defer store.Close()

	var user *storage.User
	if *username != "" {
		if user, err = userByName(ctx, store, *username); err != nil {
			return err
		}
	}
	now := time.Now()
	switch {
	case args[0] == "list":
		return listSessions(ctx, env, store, user, *full, now)
	case user != nil:
		return endUserSessions(ctx, env, operatorActions(cfg, store, nil), user, "revoked with gatehouse sessions revoke --user", false)
	default:
		return revokeSession(ctx, env, operatorActions(cfg, store, nil), store, pos[0])
	}
}

// userByName looks a user up by the username as typed (any case).
func userByName(ctx context.Context, store *stores, name string) (*storage.User, error) {
	u, err := store.UserByUsername(ctx, loginui.CanonicalUsername(name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("no user %q", name)
	}
	return u, err
}

// revokeSession ends the session with that full id.
func revokeSession(ctx context.Context, env environment, ops *admin.Service, store *stores, id string) error {
	res, err := ops.EndSession(ctx, admin.Operator, id, "revoked with gatehouse sessions revoke")
	if errors.Is(err, signout.ErrNotEnded) {
		return fmt.Errorf("end session: %w", err)
	}
	if len(res.Sessions) == 0 {
		if strings.HasSuffix(id, "…") || strings.HasSuffix(id, "...") || len(id) <= shortSessionID {
			return fmt.Errorf("no session %q: give the full id, as gatehouse sessions list --full prints it", id)
		}
		return fmt.Errorf("no session %q (see gatehouse sessions list --full)", id)
	}
	s := res.Sessions[0]
	who := s.UserID
	if u, err := store.UserByID(ctx, s.UserID); err == nil {
		who = u.Username
	}
	apps := "no apps"
	if len(s.Clients) > 0 {
		apps = "apps: " + strings.Join(s.Clients, ", ")
	}
	fmt.Fprintf(env.stdout, "ended session %s of %s (%s)\n", s.ID, who, apps)
	reportNotices(env, res, false, err)
	return err
}

// endUserSessions ends every session of u, for why: the apps signed in
// through them get back-channel logout notices and the audit trail records
// the ended sessions with why. With revokeTokens (a changed password,
// a disabled account) every refresh token family of u is revoked too, so
// no way in is left: the access tokens of the families stop working at
// userinfo and introspection.
func endUserSessions(ctx context.Context, env environment, ops *admin.Service, u *storage.User, why string, revokeTokens bool) error {
	res, err := ops.EndUserSessions(ctx, admin.Operator, u.ID, why, revokeTokens)
	if errors.Is(err, signout.ErrNotEnded) {
		return fmt.Errorf("end the sessions of %s: %w", u.Username, err)
	}
	reportEnded(env, u, res, revokeTokens, err)
	return err
}

// reportEnded says how many of u's sessions ended and what followed
// (reportNotices).
func reportEnded(env environment, u *storage.User, res signout.Result, revoked bool, err error) {
	if errors.Is(err, signout.ErrNotEnded) {
		return
	}
	fmt.Fprintf(env.stdout, "ended %s of %s\n", plural(len(res.Sessions), "session", "sessions"), u.Username)
	reportNotices(env, res, revoked, err)
}

// reportNotices says what followed the ending of sessions: the notices
// queued and, when revoked, the families revoked, each unless its step
// failed (err, returned by the caller, says so).
func reportNotices(env environment, res signout.Result, revoked bool, err error) {
	if !errors.Is(err, signout.ErrNotNotified) {
		fmt.Fprintf(env.stdout, "queued %s for the running server to deliver\n", plural(res.Notices, "back-channel logout notice", "back-channel logout notices"))
	}
	if revoked && !errors.Is(err, signout.ErrNotRevoked) {
		fmt.Fprintf(env.stdout, "revoked %s\n", plural(res.Families, "refresh token family", "refresh token families"))
	}
}

// listSessions prints the live sessions of user, or of every user when
// user is nil, user by user, oldest first.
func listSessions(ctx context.Context, env environment, store *stores, user *storage.User, full bool, now time.Time) error {
	var users []storage.User
	if user != nil {
		users = []storage.User{*user}
	} else {
		// Per user, through the store's per-user index: never a scan of
		// every session (Redis has no cheap one).
		var err error
		if users, err = store.ListUsers(ctx); err != nil {
			return err
		}
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tUSER\tCREATED\tLAST SEEN\tEXPIRES\tABSOLUTE\tIP\tAPPS\tUSER AGENT")
	for _, u := range users {
		list, err := store.UserSessions(ctx, u.ID, now)
		if err != nil {
			return fmt.Errorf("sessions of %s: %w", u.Username, err)
		}
		for _, s := range list {
			id := s.ID
			if !full {
				id = shorten(id, shortSessionID)
			}
			absolute := s.AbsoluteExpiresAt
			if absolute.IsZero() {
				absolute = s.ExpiresAt
			}
			apps := "-"
			if len(s.Clients) > 0 {
				apps = strings.Join(s.Clients, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", printable(id), u.Username,
				stamp(s.CreatedAt), stamp(s.LastSeen), stamp(s.ExpiresAt), stamp(absolute),
				orDash(printable(s.IP)), printable(apps), orDash(shorten(printable(s.UserAgent), shortUserAgent)))
		}
	}
	return tw.Flush()
}

// shorten cuts s to n characters and an ellipsis, if it is longer.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// printable replaces what a terminal would act on (escape sequences,
// control characters, tabs that would break the table) with "?": the user
// agent and IP come from browsers.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plural writes n and the noun: one when n is 1, many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
