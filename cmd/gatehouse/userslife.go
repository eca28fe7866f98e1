package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// maxEmailBytes bounds an email address (RFC 5321's path limit).
const maxEmailBytes = 254

// usersLifecycle is `gatehouse users show|update|enable|delete USERNAME`.
func usersLifecycle(ctx context.Context, env environment, cmd string, args []string) error {
	fs := newFlagSet("users "+cmd, env)
	load := configFlag(fs, env)
	email := fs.String("email", "", "new email address (update)")
	name := fs.String("name", "", "new full name (update)")
	verified := fs.String("email-verified", "", "true or false: whether the email address is verified (update)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(env, err, usersUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var why string
	switch {
	case len(pos) != 1:
		why = "give one user"
	case cmd != "update" && (set["email"] || set["name"] || set["email-verified"]):
		why = "--email, --name and --email-verified are for update"
	case cmd == "update" && !set["email"] && !set["name"] && !set["email-verified"]:
		why = "give what to change: --email, --name or --email-verified"
	}
	if why != "" {
		fmt.Fprint(env.stderr, why+"\n\n"+usersUsage)
		return errUsage
	}
	var verifiedValue bool
	if set["email-verified"] {
		if verifiedValue, err = strconv.ParseBool(*verified); err != nil {
			return fmt.Errorf("--email-verified: want true or false, got %q", *verified)
		}
	}
	if set["email"] && (len(*email) > maxEmailBytes || !utf8.ValidString(*email) || (*email != "" && !strings.Contains(*email, "@"))) {
		return fmt.Errorf("--email: %q is not an email address (at most %d bytes, with an @; \"\" removes it)", *email, maxEmailBytes)
	}
	if set["name"] && (len(*name) > 256 || !utf8.ValidString(*name)) {
		return errors.New("--name: at most 256 bytes of UTF-8")
	}
	// delete ends sessions, which may be in Redis; the rest needs SQL alone.
	use := sqlOnly
	if cmd == "delete" {
		use = withSessions
	}
	cfg, store, err := openCommandStores(ctx, load, use)
	if err != nil {
		return err
	}
	defer store.Close()
	u, err := userByName(ctx, store, pos[0])
	if err != nil {
		return err
	}
	switch cmd {
	case "show":
		return showUser(ctx, env, store, u)
	case "delete":
		return deleteUser(ctx, env, cfg, store, u)
	}
	var changed []string
	if cmd == "enable" {
		if !u.Disabled {
			fmt.Fprintf(env.stdout, "%s is enabled already\n", u.Username)
			return nil
		}
		u.Disabled = false
	}
	if set["email"] && *email != u.Email {
		u.Email, u.EmailVerified = *email, false
		changed = append(changed, "email")
	}
	if set["name"] && *name != u.Name {
		u.Name = *name
		changed = append(changed, "name")
	}
	if set["email-verified"] && verifiedValue != u.EmailVerified {
		u.EmailVerified = verifiedValue
		changed = append(changed, "email_verified="+strconv.FormatBool(verifiedValue))
	}
	if cmd == "update" && len(changed) == 0 {
		fmt.Fprintf(env.stdout, "%s: nothing to change\n", u.Username)
		return nil
	}
	now := time.Now()
	u.UpdatedAt = now.UTC()
	if err := store.UpdateUser(ctx, u); err != nil {
		return err
	}
	ev := storage.AuditEvent{Time: now, Kind: auditUserEnabled, UserID: u.ID, Actor: audit.ActorOperator}
	if cmd == "update" {
		ev.Kind, ev.Detail = auditUserUpdated, strings.Join(changed, " ")
		fmt.Fprintf(env.stdout, "updated %s: %s\n", u.Username, strings.Join(changed, ", "))
	} else {
		fmt.Fprintf(env.stdout, "enabled: %s\n", u.Username)
	}
	if err := appendAudit(ctx, store, ev); err != nil {
		return fmt.Errorf("the change is made, but %w", err)
	}
	return nil
}

// showUser prints u, one "key: value" line each.
func showUser(ctx context.Context, env environment, store *stores, u *storage.User) error {
	factors, err := factorNames(ctx, store, u.ID)
	if err != nil {
		return fmt.Errorf("second factors of %s: %w", u.Username, err)
	}
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "user:\t%s\n", u.Username)
	fmt.Fprintf(tw, "sub:\t%s\n", u.ID)
	fmt.Fprintf(tw, "email:\t%s\n", orDash(u.Email))
	fmt.Fprintf(tw, "email verified:\t%t\n", u.EmailVerified)
	fmt.Fprintf(tw, "name:\t%s\n", orDash(u.Name))
	fmt.Fprintf(tw, "status:\t%s\n", status)
	fmt.Fprintf(tw, "second factors:\t%s\n", factors)
	fmt.Fprintf(tw, "created:\t%s\n", u.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "updated:\t%s\n", u.UpdatedAt.UTC().Format(time.RFC3339))
	return tw.Flush()
}

// deleteUser signs u out everywhere (sessions end, apps are told, refresh
// tokens are revoked), then deletes u and what is theirs in SQL
// (storage.UserDeleter), recording user_deleted first: the audit trail
// keeps the sub. Sessions end before the delete, so that no session
// outlives its user; a failure after them leaves a user signed out and
// still there, and running the command again finishes.
func deleteUser(ctx context.Context, env environment, cfg Config, store *stores, u *storage.User) error {
	again := fmt.Sprintf("run gatehouse users delete %s again to finish", u.Username)
	why := signout.Reason{Actor: audit.ActorOperator, Detail: "user deleted", RevokeTokens: true}
	if err := endUserSessions(ctx, env, cfg, store, u, why); err != nil {
		return fmt.Errorf("%w; %s", err, again)
	}
	if err := appendAudit(ctx, store, storage.AuditEvent{Kind: auditUserDeleted, UserID: u.ID, Actor: audit.ActorOperator,
		Detail: "username=" + u.Username}); err != nil {
		return fmt.Errorf("%w; nothing was deleted; %s", err, again)
	}
	deleted, err := store.DeleteUser(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("delete %s: %w; %s", u.Username, err, again)
	}
	if deleted {
		fmt.Fprintf(env.stdout, "deleted user %s (sub %s)\n", u.Username, u.ID)
	} else {
		fmt.Fprintf(env.stdout, "%s was deleted meanwhile\n", u.Username)
	}
	return nil
}
