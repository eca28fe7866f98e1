package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// mintInitialToken is `gatehouse clients token`: a new initial access
// token, printed once; the store keeps its SHA-256 (provider.TokenHash).
func mintInitialToken(ctx context.Context, env environment, store *stores, ttl time.Duration, maxUses int) error {
	secret, id := make([]byte, 32), make([]byte, 6)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	if _, err := rand.Read(id); err != nil {
		return err
	}
	token := base64.RawURLEncoding.EncodeToString(secret)
	now := time.Now().UTC()
	t := storage.InitialAccessToken{
		ID: hex.EncodeToString(id), Hash: provider.TokenHash(token), ExpiresAt: now.Add(ttl),
		MaxUses: maxUses, CreatedAt: now, CreatedBy: audit.ActorOperator,
	}
	if err := store.CreateInitialAccessToken(ctx, &t); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "initial access token %s (shown once; send it as Authorization: Bearer to POST /register):\n  %s\n", t.ID, token)
	fmt.Fprintf(env.stdout, "expires %s, %s\n", t.ExpiresAt.Format(time.RFC3339), usesText(t))
	if err := appendAudit(ctx, store, storage.AuditEvent{Time: now, Kind: auditInitialTokenCreated, Actor: audit.ActorOperator,
		Detail: fmt.Sprintf("token=%s expires=%s max_uses=%d", t.ID, t.ExpiresAt.Format(time.RFC3339), maxUses)}); err != nil {
		return fmt.Errorf("the token is minted, but %w", err)
	}
	return nil
}

// usesText says how many clients a token may register.
func usesText(t storage.InitialAccessToken) string {
	if t.MaxUses == 0 {
		return "any number of registrations"
	}
	return "at most " + strconv.Itoa(t.MaxUses) + " registrations"
}

// listInitialTokens is `gatehouse clients tokens`.
func listInitialTokens(ctx context.Context, env environment, store *stores) error {
	list, err := store.InitialAccessTokens(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEXPIRES\tUSES\tCREATED BY")
	for _, t := range list {
		expires := t.ExpiresAt.UTC().Format(time.RFC3339)
		if !now.Before(t.ExpiresAt) {
			expires += " (expired)"
		}
		limit := "no limit"
		if t.MaxUses > 0 {
			limit = strconv.Itoa(t.MaxUses)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of %s\t%s\n", t.ID, expires, t.Uses, limit, t.CreatedBy)
	}
	return tw.Flush()
}

// revokeInitialToken is `gatehouse clients token revoke ID`.
func revokeInitialToken(ctx context.Context, env environment, store *stores, id string) error {
	revoked, err := store.RevokeInitialAccessToken(ctx, id)
	if err != nil {
		return err
	}
	if !revoked {
		return fmt.Errorf("no initial access token %q (see gatehouse clients tokens)", id)
	}
	fmt.Fprintf(env.stdout, "revoked initial access token %s\n", id)
	if err := appendAudit(ctx, store, storage.AuditEvent{Kind: auditInitialTokenRevoked, Actor: audit.ActorOperator,
		Detail: "token=" + id}); err != nil {
		return fmt.Errorf("the token is revoked, but %w", err)
	}
	return nil
}
