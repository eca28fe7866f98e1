package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// usersMFA is `gatehouse users mfa USERNAME`, which shows a user's second
// factors, and `gatehouse users mfa reset USERNAME --totp|--all`, which
// removes them and signs the user out everywhere. The word after mfa is
// the subcommand when it is "reset"; a user named reset is shown with any
// other spelling of the name (RESET), which names the same user.
func usersMFA(ctx context.Context, env environment, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(env.stdout, usersUsage)
		return nil
	}
	reset := len(args) > 0 && args[0] == "reset"
	name := "users mfa"
	if reset {
		name, args = "users mfa reset", args[1:]
	}
	fs := newFlagSet(name, env)
	load := configFlag(fs, env)
	totp := fs.Bool("totp", false, "reset the one-time code (and the recovery codes when no passkey is left)")
	passkeys := fs.Bool("passkeys", false, "reset every passkey (and the recovery codes when no one-time code is left)")
	all := fs.Bool("all", false, "reset every second factor and the recovery codes")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(env, err, usersUsage)
	}
	given := 0
	for _, set := range []bool{*totp, *passkeys, *all} {
		if set {
			given++
		}
	}
	var why string
	switch {
	case reset && len(pos) == 0:
		why = "give the user whose second factors to reset"
	case len(pos) != 1:
		why = "give one user"
	case !reset && given > 0:
		why = "--totp, --passkeys and --all are for mfa reset"
	case reset && given != 1:
		// Never a default: an operator resets exactly what they name.
		why = "give exactly one of --totp, --passkeys or --all: what to reset"
	}
	if why != "" {
		fmt.Fprint(env.stderr, why+"\n\n"+usersUsage)
		return errUsage
	}
	// Only a reset ends sessions; showing needs SQL alone.
	use := sqlOnly
	if reset {
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
	if !reset {
		return showFactors(ctx, env, store, u)
	}
	what := "totp"
	switch {
	case *passkeys:
		what = "passkeys"
	case *all:
		what = "all"
	}
	return resetFactors(ctx, env, cfg, store, u, what)
}

// showFactors prints u's second factors, one "key: value" line each.
func showFactors(ctx context.Context, env environment, store *stores, u *storage.User) error {
	code, err := store.TOTP(ctx, u.ID)
	if errors.Is(err, storage.ErrNotFound) {
		code, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("one-time code of %s: %w", u.Username, err)
	}
	left, err := store.RecoveryCodesLeft(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("recovery codes of %s: %w", u.Username, err)
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	has, since, used := "no", "-", "-"
	if code != nil {
		has, since, used = "yes", stamp(code.CreatedAt), stamp(code.LastUsedAt)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "user:\t%s\n", u.Username)
	fmt.Fprintf(tw, "one-time code:\t%s\n", has)
	fmt.Fprintf(tw, "one-time code set up:\t%s\n", since)
	fmt.Fprintf(tw, "one-time code last used:\t%s\n", used)
	fmt.Fprintf(tw, "recovery codes left:\t%d\n", left)
	keys, err := store.UserPasskeys(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("passkeys of %s: %w", u.Username, err)
	}
	fmt.Fprintf(tw, "passkeys:\t%d\n", len(keys))
	for _, k := range keys {
		fmt.Fprintf(tw, "passkey:\t%s (added %s, last used %s)\n", k.Name, stamp(k.CreatedAt), stamp(k.LastUsedAt))
	}
	return tw.Flush()
}

// factorNames names the second factors the user has, for users list:
// "totp", "passkeys", both ("totp,passkeys"), or "-" for none. It asks the
// store twice per user: the store has no query for the factors of many
// users, and listing users from the CLI can afford it.
func factorNames(ctx context.Context, store loginui.FactorStore, userID string) (string, error) {
	var names []string
	_, err := store.TOTP(ctx, userID)
	switch {
	case err == nil:
		names = append(names, "totp")
	case !errors.Is(err, storage.ErrNotFound):
		return "", err
	}
	keys, err := store.UserPasskeys(ctx, userID)
	if err != nil {
		return "", err
	}
	if len(keys) > 0 {
		names = append(names, "passkeys")
	}
	if len(names) == 0 {
		return "-", nil
	}
	return strings.Join(names, ","), nil
}

// resetFactors removes u's second factors named by what ("totp",
// "passkeys" or "all"; the recovery codes go when no factor is left),
// through loginui.RemoveFactors as the account page removes them, records
// an mfa_reset event and then signs u out everywhere, as passwd and
// disable do: every session ends, with back-channel logout notices, and
// every refresh token family is revoked, so that nothing opened with the
// removed factor stays open. A user without factors is signed out all the
// same, so that running it again finishes what a failed run left undone.
func resetFactors(ctx context.Context, env environment, cfg Config, store *stores, u *storage.User, what string) error {
	again := fmt.Sprintf("run gatehouse users mfa reset %s --%s again", u.Username, what)
	removed, err := loginui.RemoveFactors(ctx, store, u.ID, what != "passkeys", what != "totp")
	totp := "none"
	if removed.TOTP {
		totp = "removed"
		fmt.Fprintf(env.stdout, "removed the one-time code of %s\n", u.Username)
	} else if what != "passkeys" {
		fmt.Fprintf(env.stdout, "%s had no one-time code\n", u.Username)
	}
	if what != "totp" {
		fmt.Fprintf(env.stdout, "removed %s of %s\n", plural(removed.Passkeys, "passkey", "passkeys"), u.Username)
	}
	detail := fmt.Sprintf("reset=%s totp=%s passkeys=%d recovery_codes=%d", what, totp, removed.Passkeys, removed.RecoveryCodes)
	if err != nil {
		err = fmt.Errorf("%w; %s to finish", err, again)
		if removed.TOTP || removed.Passkeys > 0 { // something went: say so
			return errors.Join(err, appendAudit(ctx, store, storage.AuditEvent{Kind: auditMFAReset, UserID: u.ID,
				Actor: audit.ActorOperator, Detail: detail + " unfinished"}))
		}
		return err
	}
	fmt.Fprintf(env.stdout, "removed %s of %s\n", plural(removed.RecoveryCodes, "recovery code", "recovery codes"), u.Username)
	auditErr := appendAudit(ctx, store, storage.AuditEvent{Kind: auditMFAReset, UserID: u.ID, Actor: audit.ActorOperator, Detail: detail})
	if auditErr != nil {
		auditErr = fmt.Errorf("the second factors are reset, but %w", auditErr)
	}
	ops := operatorActions(cfg, store, nil)
	if err := endUserSessions(ctx, env, ops, u, "second factors reset with gatehouse users mfa reset", true); err != nil {
		return errors.Join(fmt.Errorf("%w; %s to finish signing %s out", err, again, u.Username), auditErr)
	}
	return auditErr
}
