package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const keysUsage = `Usage:
  gatehouse keys list           every signing key: kid, algorithm, state and schedule
  gatehouse keys rotate         start a normal rotation now: new keys are published at
                                once and sign after twice the JWKS max-age
  gatehouse keys revoke KID     compromised key: out of the JWKS at once, and the
                                tokens it signed stop verifying
  gatehouse keys rewrap         re-seal every signing key, server secret and user's
                                one-time-code secret under the key-encryption key in
                                GATEHOUSE_NEW_KEY_ENCRYPTION_KEY

Running instances pick up changes within 30 seconds.

Rewrap, step by step: generate a key (openssl rand -base64 32), run rewrap with
GATEHOUSE_NEW_KEY_ENCRYPTION_KEY set to it and the current key configured as
usual, then give every instance the new key as GATEHOUSE_KEY_ENCRYPTION_KEY and
restart them. Keep the old key until every instance runs with the new one: a
key, secret or one-time code set up on an instance still on the old key
meanwhile stays under it, and running rewrap again (same two keys) moves it.
Rewrap leaves rows already under the new key alone, so it may always be run
again; if a row changes while it runs (a user sets up a one-time code), it
changes nothing and says so: run it again. With the embedded store and its
generated .kek file, stop gatehouse serve first; rewrap replaces the file's key
itself, after the database commit (if it stops in between, run it again: the
database part is then a no-op and the file is written).

Examples:
  gatehouse keys list
  gatehouse keys rotate
  gatehouse keys revoke q0s3XxJ8k2mV7tLw9bYc1A
  GATEHOUSE_NEW_KEY_ENCRYPTION_KEY="$(openssl rand -base64 32)" gatehouse keys rewrap
`

// managerOptions is the key schedule for cfg: a retired key stays published
// as long as any token it signed may be used, an ID token kept as
// id_token_hint for as long as a refresh token lives included.
func managerOptions(cfg Config) keys.Options {
	return keys.Options{MaxTokenLifetime: max(cfg.AccessTokenTTL, cfg.IDTokenTTL, cfg.RefreshTokenTTL)}
}

func keysCommand(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, keysUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(env.stdout, keysUsage)
		return nil
	}
	fs := newFlagSet("keys "+args[0], env)
	load := configFlag(fs, env)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagError(env, err, keysUsage)
	}
	want := map[string]int{"list": 0, "rotate": 0, "revoke": 1, "rewrap": 0}
	if n, known := want[args[0]]; !known || len(pos) != n {
		fmt.Fprint(env.stderr, keysUsage)
		return errUsage
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	var newKEK []byte
	if args[0] == "rewrap" {
		// Checked before the store is touched. The key comes from the
		// environment only, and no message ever contains it.
		if newKEK, err = newKeyEncryptionKey(env); err != nil {
			return err
		}
		defer clear(newKEK)
	}
	store, err := openStores(ctx, cfg, cfg.AutoMigrate, sqlOnly) // keys and secrets live in SQL
	if err != nil {
		return err
	}
	defer store.Close()

	if args[0] == "list" {
		return listKeys(ctx, env, store)
	}
	km, err := newKeyManager(cfg, store, slog.New(slog.NewTextHandler(env.stderr, nil)))
	if err != nil {
		return err
	}
	if args[0] == "rewrap" {
		return rewrapKeys(ctx, env, cfg, store, km, newKEK)
	}
	// Refuse to create keys under a wrong KEK (for example the old one
	// after a rewrap): every pending and active key must open.
	if err := km.Reload(ctx); err != nil {
		return err
	}
	ops := operatorActions(cfg, store, km)
	switch args[0] {
	case "rotate":
		created, err := ops.RotateKeys(ctx, admin.Operator)
		if created == nil && err != nil {
			return err
		}
		if len(created) == 0 {
			fmt.Fprintln(env.stdout, "every algorithm already has a pending key: nothing to do")
		}
		for _, kid := range created {
			fmt.Fprintf(env.stdout, "created key %s\n", kid)
		}
		if err != nil {
			return err
		}
	case "revoke":
		repl, err := ops.RevokeKey(ctx, admin.Operator, pos[0])
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no signing key %q (see gatehouse keys list)", pos[0])
		} else if err != nil && !errors.Is(err, admin.ErrNotRecorded) {
			return err
		}
		fmt.Fprintf(env.stdout, "revoked key %s\n", pos[0])
		if repl != "" {
			fmt.Fprintf(env.stdout, "it was the only active key of its algorithm: key %s signs from now on; relying parties that cached the JWKS earlier must fetch it again\n", repl)
		}
		if err != nil {
			return err
		}
	}
	return listKeys(ctx, env, store)
}

// newKEKVar names the environment variable rewrap reads the new KEK from.
const newKEKVar = "GATEHOUSE_NEW_KEY_ENCRYPTION_KEY"

// newKeyEncryptionKey parses the new KEK from the environment.
func newKeyEncryptionKey(env environment) ([]byte, error) {
	v := env.getenv(newKEKVar)
	if v == "" {
		return nil, fmt.Errorf("%s is not set: put the new key-encryption key there (openssl rand -base64 32); it is never taken from the command line", newKEKVar)
	}
	kek, err := keys.ParseKEK(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was changed", newKEKVar, err)
	}
	return kek, nil
}

// rewrapKeys moves every signing key, secret and one-time-code secret to
// newKEK and, on the
// embedded store with its generated key file, then writes newKEK to that
// file. The order matters for a crash: the database commits first (all or
// nothing), the file is replaced after; a rewrap that stops in between is
// run again, finds every row under the new key, and writes the file.
func rewrapKeys(ctx context.Context, env environment, cfg Config, store *stores, km *keys.Manager, newKEK []byte) error {
	to, err := keys.NewSealer(newKEK)
	if err != nil {
		return fmt.Errorf("%s: %w", newKEKVar, err)
	}
	rep, err := km.Rewrap(ctx, to)
	if errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("%w; nothing was changed: a row changed while rewrap ran (a user set up a one-time code, or another instance created a key), run it again", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "re-sealed %d signing keys, %d secrets and %d one-time-code secrets from KEK %s to KEK %s\n",
		rep.Keys, rep.Secrets, rep.TOTPs, rep.FromKEKID, rep.ToKEKID)
	if rep.AlreadyKeys+rep.AlreadySecrets+rep.AlreadyTOTPs > 0 {
		fmt.Fprintf(env.stdout, "%d signing keys, %d secrets and %d one-time-code secrets were under KEK %s already and were left alone\n",
			rep.AlreadyKeys, rep.AlreadySecrets, rep.AlreadyTOTPs, rep.ToKEKID)
	}
	if cfg.KeyEncryptionKey == "" && store.kind == "sqlite" {
		path := store.path + ".kek"
		if err := keys.ReplaceKEKFile(path, newKEK); err != nil {
			return fmt.Errorf("the database is under the new key, but writing it to %s failed (run rewrap again): %w", path, err)
		}
		fmt.Fprintf(env.stdout, "wrote the new key-encryption key to %s; start gatehouse serve again\n", path)
		return nil
	}
	if rep.FromKEKID == rep.ToKEKID {
		fmt.Fprintf(env.stdout, "%s is the key-encryption key already configured: nothing to switch\n", newKEKVar)
		return nil
	}
	fmt.Fprintf(env.stdout, "now set GATEHOUSE_KEY_ENCRYPTION_KEY to the value of %s on every instance and restart them;\n"+
		"keep the old key until all run with the new one, and run rewrap again (same two keys) if any instance created keys or one-time codes meanwhile\n", newKEKVar)
	return nil
}

// listKeys prints every key the store still holds, oldest first.
func listKeys(ctx context.Context, env environment, store *stores) error {
	now := time.Now()
	list, err := store.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	stamp := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISH\tACTIVATE\tRETIRE\tDELETE")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Algorithm, keys.State(k, now),
			stamp(k.CreatedAt), stamp(k.PublishAt), stamp(k.ActivateAt), stamp(k.RetireAt), stamp(k.DeleteAt))
	}
	return tw.Flush()
}

// keyRotationPeriod is how often serve checks the key schedule and reloads
// the keys: instances learn of new or revoked keys within this period.
const keyRotationPeriod = 10 * time.Second

// rotateKeys runs the key schedule on every instance: Rotate (which acts on
// one instance at a time, under the store's lock) and Reload, every
// keyRotationPeriod until ctx ends. The keys a rotation creates go to the
// audit trail (key_rotated), from the instance that created them.
func rotateKeys(ctx context.Context, km *keys.Manager, log *slog.Logger, rec audit.Recorder) {
	t := time.NewTicker(keyRotationPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		created, err := km.Rotate(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("rotate signing keys", "err", err)
		}
		for _, kid := range created {
			rec.Record(ctx, storage.AuditEvent{Kind: auditKeyRotated, Actor: audit.ActorSystem, Detail: "kid=" + kid})
		}
		if err := km.Reload(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reload signing keys", "err", err)
		}
	}
}
