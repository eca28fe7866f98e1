package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

Running instances pick up changes within 30 seconds.
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
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() { fmt.Fprint(env.stderr, keysUsage) }
	load := configFlag(fs, env)
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return errUsage
	}
	want := map[string]int{"list": 0, "rotate": 0, "revoke": 1}
	if n, known := want[args[0]]; !known || len(pos) != n {
		fmt.Fprint(env.stderr, keysUsage)
		return errUsage
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	store, err := openStores(ctx, cfg, cfg.AutoMigrate, nil)
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
	switch args[0] {
	case "rotate":
		created, err := km.ForceRotate(ctx)
		if err != nil {
			return err
		}
		if len(created) == 0 {
			fmt.Fprintln(env.stdout, "every algorithm already has a pending key: nothing to do")
		}
		for _, kid := range created {
			fmt.Fprintf(env.stdout, "created key %s\n", kid)
		}
	case "revoke":
		repl, err := km.Revoke(ctx, pos[0])
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no signing key %q (see gatehouse keys list)", pos[0])
		} else if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "revoked key %s\n", pos[0])
		if repl != "" {
			fmt.Fprintf(env.stdout, "it was the only active key of its algorithm: key %s signs from now on; relying parties that cached the JWKS earlier must fetch it again\n", repl)
		}
	}
	return listKeys(ctx, env, store)
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
const keyRotationPeriod = 30 * time.Second

// rotateKeys runs the key schedule on every instance: Rotate (which acts on
// one instance at a time, under the store's lock) and Reload, every
// keyRotationPeriod until ctx ends.
func rotateKeys(ctx context.Context, km *keys.Manager, log *slog.Logger) {
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
			log.Info("signing key rotated: new key published", "kid", kid)
		}
		if err := km.Reload(ctx); err != nil && ctx.Err() == nil {
			log.Warn("reload signing keys", "err", err)
		}
	}
}
