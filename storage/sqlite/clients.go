package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, token_endpoint_auth_method, application_type,
	scopes, id_token_signed_response_alg, access_token_format, refresh_token_grace_period,
	refresh_token_idle_ttl, refresh_token_absolute_ttl, jwks, jwks_uri, skip_consent,
	backchannel_logout_uri, backchannel_logout_session_required, frontchannel_logout_uri,
	frontchannel_logout_session_required, allowed_cors_origins, require_mfa, default_acr_values, allowed_groups,
	require_pushed_authorization_requests, request_object_signing_alg, dpop_bound_access_tokens, profile, source, version, disabled, created_at, updated_at`

func scanClient(row scanner) (*storage.Client, error) {
	var (
		c                                   storage.Client
		redirect, postLogout, grants, resps string
		scopes, corsOrigins, defaultACR     string
		created, updated                    sql.NullInt64
		grace, idle, absolute               int64
		jwks                                string
		allowedGroups                       string
	)
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &redirect, &postLogout,
		&grants, &resps, &c.TokenEndpointAuthMethod, &c.ApplicationType,
		&scopes, &c.IDTokenSignedResponseAlg, &c.AccessTokenFormat, &grace, &idle, &absolute, &jwks, &c.JWKSURI, &c.SkipConsent,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.FrontchannelLogoutURI,
		&c.FrontchannelLogoutSessionRequired, &corsOrigins, &c.RequireMFA, &defaultACR, &allowedGroups,
		&c.RequirePushedAuthorizationRequests, &c.RequestObjectSigningAlg, &c.DPoPBoundAccessTokens, &c.Profile, &c.Source, &c.Version, &c.Disabled, &created, &updated)
	if err != nil {
		return nil, err
	}
	var d decoder
	c.RedirectURIs = d.strings(redirect)
	c.PostLogoutRedirectURIs = d.strings(postLogout)
	c.GrantTypes = d.strings(grants)
	c.ResponseTypes = d.strings(resps)
	c.Scopes = d.strings(scopes)
	c.AllowedCORSOrigins = d.strings(corsOrigins)
	c.DefaultACRValues = d.strings(defaultACR)
	c.AllowedGroups = d.strings(allowedGroups)
	if jwks != "" {
		c.JWKS = []byte(jwks)
	}
	c.RefreshGracePeriod = time.Duration(grace)
	c.RefreshTokenIdleTTL = time.Duration(idle)
	c.RefreshTokenAbsoluteTTL = time.Duration(absolute)
	c.CreatedAt = d.time(created)
	c.UpdatedAt = d.time(updated)
	return &c, d.err
}

// Client returns the enabled client with that id, or ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := scanClient(s.queryRow(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = ? AND disabled = 0`, id))
	if err != nil {
		return nil, wrap("client "+id, err)
	}
	return c, nil
}

// ListClients returns every client, disabled ones included, by id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return listClients(ctx, runner{s: s})
}

func listClients(ctx context.Context, r runner) ([]storage.Client, error) {
	rows, err := r.query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, wrap("list clients", err)
	}
	defer rows.Close()
	var out []storage.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, wrap("list clients", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list clients", err)
	}
	return out, nil
}

// SyncClients makes the store hold exactly the given clients as enabled, in
// one transaction: new ones are created with CreatedAt and UpdatedAt set to
// now; changed or disabled ones are updated and enabled, with UpdatedAt set to
// now; enabled clients absent from the list are disabled, with UpdatedAt set
// to now. The given clients' Disabled, CreatedAt and UpdatedAt are ignored. The
// report's lists are sorted by id; a client that is given twice is an error
// wrapping ErrConflict, and nothing changes.
func (s *Store) SyncClients(ctx context.Context, clients []storage.Client, now time.Time) (storage.SyncReport, error) {
	return s.syncClients(ctx, clients, now, nil)
}

// syncClients is SyncClients, with first, if set, run in the transaction
// before anything is read: an error from it ends the sync, changing nothing.
func (s *Store) syncClients(ctx context.Context, clients []storage.Client, now time.Time, first func(ctx context.Context, in runner) error) (storage.SyncReport, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return storage.SyncReport{}, fmt.Errorf("sqlite: sync clients: %w", e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return storage.SyncReport{}, wrap("sync clients", err)
	}
	defer in.end(ctx)
	if first != nil {
		if err := first(ctx, in); err != nil {
			return storage.SyncReport{}, err
		}
	}

	stored, err := listClients(ctx, in)
	if err != nil {
		return storage.SyncReport{}, err
	}
	plan, err := storage.PlanClientSync(stored, clients)
	if err != nil {
		return storage.SyncReport{}, fmt.Errorf("sqlite: sync clients: %w", err)
	}
	for i := range plan.Create {
		if err := insertClient(ctx, in, &plan.Create[i], storage.ClientSourceFile, n); err != nil {
			return storage.SyncReport{}, wrap("sync client "+plan.Create[i].ID, err)
		}
	}
	for i := range plan.Update {
		c := &plan.Update[i]
		if _, err := updateClient(ctx, in, c, n, `id = ?`, c.ID); err != nil {
			return storage.SyncReport{}, wrap("sync client "+c.ID, err)
		}
	}
	for _, id := range plan.Disable {
		if _, err := in.exec(ctx, `UPDATE clients SET disabled = 1, version = version + 1, updated_at = ? WHERE id = ?`, n, id); err != nil {
			return storage.SyncReport{}, wrap("disable client "+id, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return storage.SyncReport{}, wrap("sync clients", err)
	}
	return plan.Report(), nil
}

// insertClient inserts c, enabled, with that source, version 1 and both
// times n (encoded).
func insertClient(ctx context.Context, in runner, c *storage.Client, source string, n any) error {
	var e encoder
	args := []any{c.ID, c.SecretHash, c.Name, e.strings(c.RedirectURIs), e.strings(c.PostLogoutRedirectURIs),
		e.strings(c.GrantTypes), e.strings(c.ResponseTypes), c.TokenEndpointAuthMethod, c.ApplicationType,
		e.strings(c.Scopes), c.IDTokenSignedResponseAlg, c.AccessTokenFormat, int64(c.RefreshGracePeriod),
		int64(c.RefreshTokenIdleTTL), int64(c.RefreshTokenAbsoluteTTL), string(c.JWKS), c.JWKSURI, c.SkipConsent,
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired, c.FrontchannelLogoutURI,
		c.FrontchannelLogoutSessionRequired, e.strings(c.AllowedCORSOrigins), c.RequireMFA,
		e.strings(c.DefaultACRValues), e.strings(c.AllowedGroups),
		c.RequirePushedAuthorizationRequests, c.RequestObjectSigningAlg, c.DPoPBoundAccessTokens, c.Profile, source, n, n}
	if e.err != nil {
		return e.err
	}
	_, err := in.exec(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?)`, args...)
	return err
}

// updateClient overwrites what a sync or an update sets of the client rows
// matching where (with its args), enables them, counts a version up and
// sets updated_at to n; it returns how many rows changed.
func updateClient(ctx context.Context, in runner, c *storage.Client, n any, where string, whereArgs ...any) (int64, error) {
	var e encoder
	args := []any{c.SecretHash, c.Name, e.strings(c.RedirectURIs),
		e.strings(c.PostLogoutRedirectURIs), e.strings(c.GrantTypes), e.strings(c.ResponseTypes),
		c.TokenEndpointAuthMethod, c.ApplicationType, e.strings(c.Scopes),
		c.IDTokenSignedResponseAlg, c.AccessTokenFormat, int64(c.RefreshGracePeriod),
		int64(c.RefreshTokenIdleTTL), int64(c.RefreshTokenAbsoluteTTL), string(c.JWKS), c.JWKSURI,
		c.SkipConsent, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
		c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, e.strings(c.AllowedCORSOrigins), c.RequireMFA,
		e.strings(c.DefaultACRValues), e.strings(c.AllowedGroups),
		c.RequirePushedAuthorizationRequests, c.RequestObjectSigningAlg, c.DPoPBoundAccessTokens, c.Profile, n}
	if e.err != nil {
		return 0, e.err
	}
	res, err := in.exec(ctx, `UPDATE clients SET secret_hash = ?, name = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, response_types = ?,
		token_endpoint_auth_method = ?, application_type = ?, scopes = ?,
		id_token_signed_response_alg = ?, access_token_format = ?, refresh_token_grace_period = ?,
		refresh_token_idle_ttl = ?, refresh_token_absolute_ttl = ?, jwks = ?, jwks_uri = ?,
		skip_consent = ?, backchannel_logout_uri = ?, backchannel_logout_session_required = ?,
		frontchannel_logout_uri = ?, frontchannel_logout_session_required = ?,
		allowed_cors_origins = ?, require_mfa = ?, default_acr_values = ?,
		allowed_groups = ?, require_pushed_authorization_requests = ?,
		request_object_signing_alg = ?, dpop_bound_access_tokens = ?, profile = ?, disabled = 0, version = version + 1, updated_at = ?
		WHERE `+where, append(args, whereArgs...)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CreateClient stores a client that clients.yaml does not declare: see
// storage.ClientWriter.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client, now time.Time) error {
	if c.Declared() {
		return fmt.Errorf("sqlite: create client %s: source %q is not for ClientWriter", c.ID, c.Source)
	}
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: create client: %w", e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap("create client "+c.ID, err)
	}
	defer in.end(ctx)
	if err := insertClient(ctx, in, c, c.Source, n); err != nil {
		return wrap("create client "+c.ID, err)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap("create client "+c.ID, err)
	}
	c.Version, c.Disabled = 1, false
	c.CreatedAt = now.UTC().Round(0)
	c.UpdatedAt = c.CreatedAt
	return nil
}

// UpdateClient overwrites a client that clients.yaml does not declare if
// its version is still ifVersion: see storage.ClientWriter.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client, ifVersion int64, now time.Time) error {
	op := "update client " + c.ID
	if c.Declared() {
		return notFound(op)
	}
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	changed, err := updateClient(ctx, in, c, n, `id = ? AND source = ? AND version = ?`, c.ID, c.Source, ifVersion)
	if err != nil {
		return wrap(op, err)
	}
	if changed == 0 {
		var version int64
		err := in.queryRow(ctx, `SELECT version FROM clients WHERE id = ? AND source = ?`, c.ID, c.Source).Scan(&version)
		if err != nil {
			return wrap(op, err) // sql.ErrNoRows: ErrNotFound
		}
		return fmt.Errorf("sqlite: %s: version %d, not %d: %w", op, version, ifVersion, storage.ErrStale)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	c.Version = ifVersion + 1
	c.UpdatedAt = now.UTC().Round(0)
	return nil
}

// DeleteClient removes a client that clients.yaml does not declare, with
// its refresh grants and consents: see storage.ClientWriter.
func (s *Store) DeleteClient(ctx context.Context, id, source string) (bool, error) {
	op := "delete client " + id
	if source == "" || source == storage.ClientSourceFile {
		return false, nil
	}
	in, err := s.begin(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	defer in.end(ctx)
	res, err := in.exec(ctx, `DELETE FROM clients WHERE id = ? AND source = ?`, id, source)
	if err != nil {
		return false, wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, wrap(op, err)
	} else if n == 0 {
		return false, nil
	}
	for _, q := range []string{
		`DELETE FROM refresh_grants WHERE client_id = ?`,
		`DELETE FROM consents WHERE client_id = ?`,
	} {
		if _, err := in.exec(ctx, q, id); err != nil {
			return false, wrap(op, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return false, wrap(op, err)
	}
	return true, nil
}
