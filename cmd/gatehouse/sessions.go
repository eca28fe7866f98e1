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

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
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
	_, store, err := openCommandStores(ctx, load, withSessions)
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
		ended, err := store.DeleteUserSessions(ctx, user.ID)
		if err != nil {
			return fmt.Errorf("end the sessions of %s: %w", user.Username, err)
		}
		fmt.Fprintf(env.stdout, "ended %s of %s\n", plural(len(ended), "session", "sessions"), user.Username)
		auditErr := auditSessionsEnded(ctx, store, ended, "revoked with gatehouse sessions revoke --user", now)
		return errors.Join(queueLogoutNotices(ctx, env, store, ended, now), auditErr)
	default:
		return revokeSession(ctx, env, store, pos[0], now)
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
func revokeSession(ctx context.Context, env environment, store *stores, id string, now time.Time) error {
	s, err := store.DeleteSession(ctx, id)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if s == nil {
		if strings.HasSuffix(id, "…") || strings.HasSuffix(id, "...") || len(id) <= shortSessionID {
			return fmt.Errorf("no session %q: give the full id, as gatehouse sessions list --full prints it", id)
		}
		return fmt.Errorf("no session %q (see gatehouse sessions list --full)", id)
	}
	who := s.UserID
	if u, err := store.UserByID(ctx, s.UserID); err == nil {
		who = u.Username
	}
	apps := "no apps"
	if len(s.Clients) > 0 {
		apps = "apps: " + strings.Join(s.Clients, ", ")
	}
	fmt.Fprintf(env.stdout, "ended session %s of %s (%s)\n", s.ID, who, apps)
	auditErr := auditSessionsEnded(ctx, store, []storage.Session{*s}, "revoked with gatehouse sessions revoke", now)
	return errors.Join(queueLogoutNotices(ctx, env, store, []storage.Session{*s}, now), auditErr)
}

// auditSessionsEnded records in the audit trail the sessions the operator
// ended, and why.
func auditSessionsEnded(ctx context.Context, store *stores, ended []storage.Session, why string, now time.Time) error {
	events := make([]storage.AuditEvent, len(ended))
	for i, s := range ended {
		events[i] = storage.AuditEvent{Time: now, Kind: auditSessionEnded, UserID: s.UserID, SessionID: s.ID,
			Actor: actorOperator, Detail: why}
	}
	if err := appendAudit(ctx, store, events...); err != nil {
		return fmt.Errorf("the sessions are ended, but %w", err)
	}
	return nil
}

// queueLogoutNotices queues the back-channel logout notices of sessions
// just deleted, for the running server to deliver, and says how many.
func queueLogoutNotices(ctx context.Context, env environment, store *stores, ended []storage.Session, now time.Time) error {
	n, err := storage.QueueLogoutNotices(ctx, store, store.Client, ended, now, nil)
	if err != nil {
		return fmt.Errorf("the sessions are ended, but their apps will not be told: %w", err)
	}
	fmt.Fprintf(env.stdout, "queued %s for the running server to deliver\n", plural(n, "back-channel logout notice", "back-channel logout notices"))
	return nil
}

// endUserSessions ends every session of u and revokes every refresh token
// family of u, so that a changed password or a disabled account leaves no
// way in: the apps signed in through the sessions get back-channel logout
// notices, the access tokens of the families stop working at userinfo
// and introspection, and the audit trail records the ended sessions with
// why.
func endUserSessions(ctx context.Context, env environment, cfg Config, store *stores, u *storage.User, now time.Time, why string) error {
	ended, err := store.DeleteUserSessions(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("end the sessions of %s: %w", u.Username, err)
	}
	fmt.Fprintf(env.stdout, "ended %s of %s\n", plural(len(ended), "session", "sessions"), u.Username)
	// Queue the notices before revoking: a failure to revoke must not
	// leave the apps of the ended sessions uninformed.
	noticeErr := errors.Join(queueLogoutNotices(ctx, env, store, ended, now), auditSessionsEnded(ctx, store, ended, why, now))
	families, err := store.RevokeUserFamilies(ctx, u.ID, "", now, familyKeepUntil(cfg, now))
	if err != nil {
		return errors.Join(noticeErr, fmt.Errorf("revoke the refresh tokens of %s: %w", u.Username, err))
	}
	fmt.Fprintf(env.stdout, "revoked %s\n", plural(families, "refresh token family", "refresh token families"))
	return noticeErr
}

// familyKeepUntil is how long a revoked token family is remembered: as long
// as an access token it issued may be used, plus 5 minutes for clock skew,
// as the provider's own revocations do (provider.revokeFamily).
func familyKeepUntil(cfg Config, now time.Time) time.Time {
	return now.Add(cfg.AccessTokenTTL + 5*time.Minute)
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
