package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const refreshGrantColumns = `token_hash, family_id, client_id, user_id, scopes, audience,
	auth_time, amr, created_at, expires_at, used_at, revoked_at, replay, replay_until,
	absolute_expires_at, session_id, dpop_jkt`

// insertRefreshGrant is the INSERT both CreateRefreshGrant and
// RotateRefreshGrant run, with the arguments of refreshGrantArgs.
const insertRefreshGrant = `INSERT INTO refresh_grants (` + refreshGrantColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

func refreshGrantArgs(g *storage.RefreshGrant) []any {
	return []any{g.TokenHash, g.FamilyID, g.ClientID, g.UserID, list(g.Scopes), list(g.Audience),
		ts(g.AuthTime), list(g.AMR), ts(g.CreatedAt), ts(g.ExpiresAt), tsPtr(g.UsedAt),
		tsPtr(g.RevokedAt), nullBlob(g.Replay), ts(g.ReplayUntil), ts(g.AbsoluteExpiresAt), g.SessionID, g.DPoPJKT}
}

// scanRefreshGrant reads one row of refreshGrantColumns.
func scanRefreshGrant(row pgx.Row) (*storage.RefreshGrant, error) {
	var (
		g                                storage.RefreshGrant
		authTime, created, expires, used pgtype.Timestamptz
		revoked, replayUntil, absolute   pgtype.Timestamptz
	)
	err := row.Scan(&g.TokenHash, &g.FamilyID, &g.ClientID, &g.UserID, &g.Scopes, &g.Audience,
		&authTime, &g.AMR, &created, &expires, &used, &revoked, &g.Replay, &replayUntil, &absolute, &g.SessionID, &g.DPoPJKT)
	if err != nil {
		return nil, err
	}
	g.AuthTime = timeOf(authTime)
	g.CreatedAt = timeOf(created)
	g.ExpiresAt = timeOf(expires)
	g.UsedAt = timePtrOf(used)
	g.RevokedAt = timePtrOf(revoked)
	g.ReplayUntil = timeOf(replayUntil)
	g.AbsoluteExpiresAt = timeOf(absolute)
	return &g, nil
}

// familyLock takes a transaction-level advisory lock on the family $1 in the
// current schema. RotateRefreshGrant and RevokeFamily both take it before
// they touch the family's grants; see RotateRefreshGrant.
const familyLock = `SELECT pg_advisory_xact_lock(hashtextextended('gatehouse family ' || current_schema() || ' ' || $1::text, 0))`

// CreateRefreshGrant inserts g; ErrConflict if the hash exists.
func (s *Store) CreateRefreshGrant(ctx context.Context, g *storage.RefreshGrant) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, insertRefreshGrant, refreshGrantArgs(g)...); err != nil {
		return wrap("create refresh grant", err)
	}
	return nil
}

// RefreshGrant returns the grant with that token hash if it exists, is
// unused, not revoked and has not expired at now; ErrNotFound otherwise.
func (s *Store) RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*storage.RefreshGrant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	g, err := scanRefreshGrant(s.pool.QueryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2`, tokenHash, ts(now)))
	if err != nil {
		return nil, wrap("refresh grant", err)
	}
	return g, nil
}

// RefreshGrantByHash returns the grant with that token hash whatever its
// state (used, revoked or expired, until Prune deletes it), or ErrNotFound.
func (s *Store) RefreshGrantByHash(ctx context.Context, tokenHash string) (*storage.RefreshGrant, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	g, err := scanRefreshGrant(s.pool.QueryRow(ctx, `SELECT `+refreshGrantColumns+` FROM refresh_grants
		WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return nil, wrap("refresh grant by hash", err)
	}
	return g, nil
}

// RotateRefreshGrant marks the grant oldHash used at now and inserts next, in
// one transaction. It succeeds only if oldHash is live, unused and not
// revoked at now; otherwise ErrNotFound, and nothing changes. If next's hash
// is taken it returns ErrConflict, and nothing changes. Of concurrent calls
// with one oldHash exactly one succeeds: the conditional update takes the
// row's lock, and the others, once it is released, find the row used and
// change nothing.
//
// Row locks alone would not order a rotation with a concurrent RevokeFamily
// of next's family: under READ COMMITTED the revocation's UPDATE may wait
// for the old row, then revoke it but miss next, inserted by a transaction
// that committed after the UPDATE took its snapshot. So both first take the
// family's advisory lock (sent in one round trip with the UPDATE): a
// revocation then sees every grant a rotation committed before it, and a
// rotation that waited for a revocation finds its old grant revoked.
// The old grant keeps replay (nil: none) until until, written in the same
// transaction, for retries inside the client's grace window.
func (s *Store) RotateRefreshGrant(ctx context.Context, oldHash string, next *storage.RefreshGrant, replay []byte, until, now time.Time) error {
	const op = "rotate refresh grant"
	if next == nil {
		return fmt.Errorf("postgres: %s: nil next grant", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	var b pgx.Batch
	b.Queue(familyLock, next.FamilyID)
	var u any
	if replay != nil {
		u = ts(until)
	}
	b.Queue(`UPDATE refresh_grants SET used_at = $1, replay = $3, replay_until = $4
		WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1`, n, oldHash, nullBlob(replay), u)
	br := tx.SendBatch(ctx, &b)
	_, err = br.Exec()
	if err != nil {
		br.Close()
		return wrap(op+": lock family", err)
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(tag, op); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertRefreshGrant, refreshGrantArgs(next)...); err != nil {
		return wrap(op+": insert next", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ExtendRefreshGrant sets the live grant's expiry, in one statement. It
// needs no family lock: it inserts nothing, and a concurrent RevokeFamily
// either commits first (the UPDATE, run again on the revoked row, then
// matches nothing) or revokes the extended row after it.
func (s *Store) ExtendRefreshGrant(ctx context.Context, tokenHash string, expiresAt, now time.Time) error {
	const op = "extend refresh grant"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE refresh_grants SET expires_at = $1
		WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3`, ts(expiresAt), tokenHash, ts(now))
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// RevokeFamily sets RevokedAt = now on every grant of the family not revoked
// yet and remembers the family as revoked until keepUntil, in one
// transaction that holds the family's advisory lock (see
// RotateRefreshGrant). Revoking a remembered family again keeps its first
// revocation time and extends its memory to the later of the two keepUntil.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now, keepUntil time.Time) error {
	const op = "revoke family"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	if err := revokeFamilies(ctx, tx, []string{familyID}, now, keepUntil); err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// revokeFamilies revokes the families, given in ascending order, in tx, in
// one round trip: it takes their advisory locks in that order (so that two
// callers never deadlock), then revokes their grants and remembers them.
func revokeFamilies(ctx context.Context, tx pgx.Tx, families []string, now, keepUntil time.Time) error {
	n := ts(now)
	var b pgx.Batch
	for _, f := range families {
		b.Queue(familyLock, f)
	}
	b.Queue(`UPDATE refresh_grants SET revoked_at = $1 WHERE family_id = ANY($2) AND revoked_at IS NULL`, n, families)
	b.Queue(`INSERT INTO revoked_families (id, revoked_at, expires_at) SELECT unnest($1::text[]), $2, $3
		ON CONFLICT (id) DO UPDATE SET expires_at = greatest(revoked_families.expires_at, excluded.expires_at)`,
		families, n, ts(keepUntil))
	return tx.SendBatch(ctx, &b).Close()
}

// RevokeUserFamilies revokes, as RevokeFamily does, every family with a
// live grant of the user (of clientID only, unless it is "") at now, in one
// transaction, and returns how many families it revoked. It finds the
// families, then takes each one's advisory lock and revokes them all: a
// rotation in one of them that commits in between is seen and its new grant
// revoked too; a family whose first grant is created concurrently may
// survive.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID, clientID string, now, keepUntil time.Time) (int, error) {
	const op = "revoke user families"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, wrap(op, err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT DISTINCT family_id FROM refresh_grants
		WHERE user_id = $1 AND ($2 = '' OR client_id = $2)
		AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3`, userID, clientID, ts(now))
	if err != nil {
		return 0, wrap(op, err)
	}
	families, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, wrap(op, err)
	}
	if len(families) == 0 {
		return 0, nil
	}
	slices.Sort(families)
	if err := revokeFamilies(ctx, tx, families, now, keepUntil); err != nil {
		return 0, wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, wrap(op, err)
	}
	return len(families), nil
}

// FamilyRevoked reports whether the family is remembered as revoked: from
// RevokeFamily until Prune deletes the record after its keepUntil.
func (s *Store) FamilyRevoked(ctx context.Context, familyID string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var revoked bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revoked_families WHERE id = $1)`, familyID).Scan(&revoked)
	if err != nil {
		return false, wrap("family revoked", err)
	}
	return revoked, nil
}
