package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const clientColumns = `id, secret_hash, name, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, token_endpoint_auth_method, application_type,
	scopes, id_token_signed_response_alg, access_token_format, refresh_token_grace_period,
	refresh_token_idle_ttl, refresh_token_absolute_ttl, jwks, jwks_uri, skip_consent,
	backchannel_logout_uri, backchannel_logout_session_required, frontchannel_logout_uri,
	frontchannel_logout_session_required, allowed_cors_origins, require_mfa, default_acr_values, allowed_groups,
	require_pushed_authorization_requests, request_object_signing_alg, dpop_bound_access_tokens, profile, source, version, disabled, created_at, updated_at`

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanClient(row scanner) (*storage.Client, error) {
	var (
		c                storage.Client
		created, updated pgtype.Timestamptz
		grace, idle, abs int64
		jwks             string
	)
	err := row.Scan(&c.ID, &c.SecretHash, &c.Name, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.GrantTypes, &c.ResponseTypes, &c.TokenEndpointAuthMethod, &c.ApplicationType,
		&c.Scopes, &c.IDTokenSignedResponseAlg, &c.AccessTokenFormat, &grace, &idle, &abs, &jwks, &c.JWKSURI, &c.SkipConsent,
		&c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired, &c.FrontchannelLogoutURI,
		&c.FrontchannelLogoutSessionRequired, &c.AllowedCORSOrigins, &c.RequireMFA, &c.DefaultACRValues, &c.AllowedGroups,
		&c.RequirePushedAuthorizationRequests, &c.RequestObjectSigningAlg, &c.DPoPBoundAccessTokens, &c.Profile, &c.Source, &c.Version, &c.Disabled, &created, &updated)
	if err != nil {
		return nil, err
	}
	if jwks != "" {
		c.JWKS = []byte(jwks)
	}
	c.RefreshGracePeriod = time.Duration(grace)
	c.RefreshTokenIdleTTL = time.Duration(idle)
	c.RefreshTokenAbsoluteTTL = time.Duration(abs)
	c.CreatedAt = timeOf(created)
	c.UpdatedAt = timeOf(updated)
	return &c, nil
}

// Client returns the enabled client with that id, or ErrNotFound.
func (s *Store) Client(ctx context.Context, id string) (*storage.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c, err := scanClient(s.pool.QueryRow(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE id = $1 AND NOT disabled`, id))
	if err != nil {
		return nil, wrap("client "+id, err)
	}
	return c, nil
}

// ListClients returns every client, disabled ones included, by id.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return listClients(ctx, s.pool)
}

func listClients(ctx context.Context, q querier) ([]storage.Client, error) {
	rows, err := q.Query(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
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
//
// The transaction locks the clients table against other writers (readers
// go on), so syncs from several instances run one after the other, and each
// reports what it changed relative to the one before.
func (s *Store) SyncClients(ctx context.Context, clients []storage.Client, now time.Time) (storage.SyncReport, error) {
	return s.syncClients(ctx, clients, now, nil)
}

// syncClients is SyncClients, with first, if set, run in the transaction
// once the clients table is locked and before anything is read: an error
// from it ends the sync, changing nothing.
func (s *Store) syncClients(ctx context.Context, clients []storage.Client, now time.Time, first func(ctx context.Context, tx pgx.Tx) error) (storage.SyncReport, error) {
	const op = "sync clients"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return storage.SyncReport{}, wrap(op, err)
	}
	defer tx.Rollback(ctx)
	// SHARE ROW EXCLUSIVE conflicts with itself and with row writes, not
	// with plain SELECTs.
	if _, err := tx.Exec(ctx, `LOCK TABLE clients IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return storage.SyncReport{}, wrap(op, err)
	}
	if first != nil {
		if err := first(ctx, tx); err != nil {
			return storage.SyncReport{}, err
		}
	}
	stored, err := listClients(ctx, tx)
	if err != nil {
		return storage.SyncReport{}, err
	}
	plan, err := storage.PlanClientSync(stored, clients)
	if err != nil {
		return storage.SyncReport{}, fmt.Errorf("postgres: %s: %w", op, err)
	}
	var batch pgx.Batch
	for i := range plan.Create {
		queueInsertClient(&batch, &plan.Create[i], storage.ClientSourceFile, n)
	}
	for i := range plan.Update {
		queueUpdateClient(&batch, &plan.Update[i], n, `id = $31`, plan.Update[i].ID)
	}
	for _, id := range plan.Disable {
		batch.Queue(`UPDATE clients SET disabled = true, version = version + 1, updated_at = $1 WHERE id = $2`, n, id)
	}
	if batch.Len() > 0 {
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return storage.SyncReport{}, wrap(op, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return storage.SyncReport{}, wrap(op, err)
	}
	return plan.Report(), nil
}

// queueInsertClient queues the insert of c, enabled, with that source,
// version 1 and both times n.
func queueInsertClient(b *pgx.Batch, c *storage.Client, source string, n pgtype.Timestamptz) {
	b.Queue(`INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
			$18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, 1, false, $32, $32)`,
		c.ID, c.SecretHash, c.Name, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), list(c.ResponseTypes), c.TokenEndpointAuthMethod, c.ApplicationType,
		list(c.Scopes), c.IDTokenSignedResponseAlg, c.AccessTokenFormat, int64(c.RefreshGracePeriod),
		int64(c.RefreshTokenIdleTTL), int64(c.RefreshTokenAbsoluteTTL), string(c.JWKS), c.JWKSURI,
		c.SkipConsent, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
		c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, list(c.AllowedCORSOrigins), c.RequireMFA,
		list(c.DefaultACRValues), list(c.AllowedGroups),
		c.RequirePushedAuthorizationRequests, c.RequestObjectSigningAlg, c.DPoPBoundAccessTokens, c.Profile, source, n)
}

// queueUpdateClient queues the overwrite of what a sync or an update sets
// of the client rows matching where (placeholders from $31, with its
// args): enabled, a version up, updated_at n.
func queueUpdateClient(b *pgx.Batch, c *storage.Client, n pgtype.Timestamptz, where string, whereArgs ...any) *pgx.QueuedQuery {
	return b.Queue(`UPDATE clients SET secret_hash = $1, name = $2, redirect_uris = $3,
		post_logout_redirect_uris = $4, grant_types = $5, response_types = $6,
		token_endpoint_auth_method = $7, application_type = $8, scopes = $9,
		id_token_signed_response_alg = $10, access_token_format = $11,
		refresh_token_grace_period = $12, refresh_token_idle_ttl = $13,
		refresh_token_absolute_ttl = $14, jwks = $15, jwks_uri = $16,
		skip_consent = $17, backchannel_logout_uri = $18, backchannel_logout_session_required = $19,
		frontchannel_logout_uri = $20, frontchannel_logout_session_required = $21,
		allowed_cors_origins = $22, require_mfa = $23, default_acr_values = $24,
		allowed_groups = $25, require_pushed_authorization_requests = $26,
		request_object_signing_alg = $27, dpop_bound_access_tokens = $28, profile = $29, disabled = false, version = version + 1, updated_at = $30
		WHERE `+where,
		append([]any{c.SecretHash, c.Name, list(c.RedirectURIs),
			list(c.PostLogoutRedirectURIs), list(c.GrantTypes), list(c.ResponseTypes),
			c.TokenEndpointAuthMethod, c.ApplicationType, list(c.Scopes),
			c.IDTokenSignedResponseAlg, c.AccessTokenFormat, int64(c.RefreshGracePeriod),
			int64(c.RefreshTokenIdleTTL), int64(c.RefreshTokenAbsoluteTTL), string(c.JWKS), c.JWKSURI,
			c.SkipConsent, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
			c.FrontchannelLogoutURI, c.FrontchannelLogoutSessionRequired, list(c.AllowedCORSOrigins), c.RequireMFA,
			list(c.DefaultACRValues), list(c.AllowedGroups),
			c.RequirePushedAuthorizationRequests, c.RequestObjectSigningAlg, c.DPoPBoundAccessTokens, c.Profile, n}, whereArgs...)...)
}

// CreateClient stores a client that clients.yaml does not declare: see
// storage.ClientWriter.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client, now time.Time) error {
	op := "create client " + c.ID
	if c.Declared() {
		return fmt.Errorf("postgres: %s: source %q is not for ClientWriter", op, c.Source)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	var batch pgx.Batch
	queueInsertClient(&batch, c, c.Source, n)
	if err := s.pool.SendBatch(ctx, &batch).Close(); err != nil {
		return wrap(op, err)
	}
	c.Version, c.Disabled = 1, false
	c.CreatedAt = timeOf(n)
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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	var batch pgx.Batch
	queueUpdateClient(&batch, c, n, `id = $31 AND source = $32 AND version = $33`, c.ID, c.Source, ifVersion)
	// Which of the two it was, when nothing changed; in the same batch, so
	// one round trip.
	var version int64
	batch.Queue(`SELECT version FROM clients WHERE id = $1 AND source = $2`, c.ID, c.Source).
		QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
	br := s.pool.SendBatch(ctx, &batch)
	tag, err := br.Exec()
	if err != nil {
		br.Close()
		return wrap(op, err)
	}
	if err := br.Close(); err != nil {
		return wrap(op, err) // pgx.ErrNoRows from the SELECT: ErrNotFound
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s: version %d, not %d: %w", op, version, ifVersion, storage.ErrStale)
	}
	c.Version = ifVersion + 1
	c.UpdatedAt = timeOf(n)
	return nil
}

// DeleteClient removes a client that clients.yaml does not declare, with
// its refresh grants and consents: see storage.ClientWriter.
func (s *Store) DeleteClient(ctx context.Context, id, source string) (bool, error) {
	op := "delete client " + id
	if source == "" || source == storage.ClientSourceFile {
		return false, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var deleted bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM clients WHERE id = $1 AND source = $2`, id, source)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		deleted = true
		var batch pgx.Batch
		batch.Queue(`DELETE FROM refresh_grants WHERE client_id = $1`, id)
		batch.Queue(`DELETE FROM consents WHERE client_id = $1`, id)
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return false, wrap(op, err)
	}
	return deleted, nil
}
