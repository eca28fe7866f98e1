package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age, login_hint,
	id_token_hint, hint_subject, browser_hash, created_at, expires_at, done, user_id,
	session_id, auth_time, amr, code_hash, acr_values, dpop_jkt`

func scanAuthRequest(row scanner) (*storage.AuthRequest, error) {
	var (
		r                          storage.AuthRequest
		maxAge                     pgtype.Int8
		created, expires, authTime pgtype.Timestamptz
		codeHash                   pgtype.Text
	)
	err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.Scopes, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, &r.Prompt, &maxAge, &r.LoginHint,
		&r.IDTokenHint, &r.HintSubject, &r.BrowserHash, &created, &expires, &r.Done, &r.UserID,
		&r.SessionID, &authTime, &r.AMR, &codeHash, &r.ACRValues, &r.DPoPJKT)
	if err != nil {
		return nil, err
	}
	if maxAge.Valid {
		r.MaxAge = &maxAge.Int64
	}
	r.CreatedAt = timeOf(created)
	r.ExpiresAt = timeOf(expires)
	r.AuthTime = timeOf(authTime)
	r.CodeHash = codeHash.String
	return &r, nil
}

// CreateAuthRequest inserts r; ErrConflict if the id exists (or, when r
// already carries a code hash, if another request holds that hash).
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
		r.ID, r.ClientID, r.RedirectURI, list(r.Scopes), r.State, r.Nonce, r.ResponseType,
		r.ResponseMode, r.CodeChallenge, r.CodeChallengeMethod, list(r.Prompt), r.MaxAge, r.LoginHint,
		r.IDTokenHint, r.HintSubject, r.BrowserHash, ts(r.CreatedAt), ts(r.ExpiresAt), r.Done, r.UserID,
		r.SessionID, ts(r.AuthTime), list(r.AMR), nullString(r.CodeHash), list(r.ACRValues), r.DPoPJKT)
	if err != nil {
		return wrap("create auth request "+r.ID, err)
	}
	return nil
}

// AuthRequest returns the request if it exists and has not expired at now;
// otherwise ErrNotFound.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestColumns+`
		FROM auth_requests WHERE id = $1 AND expires_at > $2 AND NOT code_redeemed`, id, ts(now)))
	if err != nil {
		return nil, wrap("auth request "+id, err)
	}
	return r, nil
}

// CompleteAuthRequest records the login on a live, not yet completed request
// and marks it done, in one conditional update. ErrNotFound if absent or
// expired, ErrConflict if it was already completed.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, login storage.Login, now time.Time) error {
	op := "complete auth request " + id
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests
		SET done = true, user_id = $1, session_id = $2, auth_time = $3, amr = $4
		WHERE id = $5 AND expires_at > $6 AND NOT done`,
		login.UserID, login.SessionID, ts(login.AuthTime), list(login.AMR), id, n)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(tag, op); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// Nothing changed; say why. A request never goes back from done, so a
	// live done request seen now was done when the update ran.
	return s.whyNot(ctx, op, id, n, func(done bool, _ pgtype.Text) error {
		if done {
			return fmt.Errorf("postgres: %s: already completed: %w", op, storage.ErrConflict)
		}
		return nil
	})
}

// SaveCode attaches the hash of an authorization code to a completed request
// and shortens its life to codeExpiresAt (it never lengthens it), in one
// conditional update. ErrNotFound if the request is absent, expired or not
// done; ErrConflict if it already has a code or another request holds that
// code hash.
func (s *Store) SaveCode(ctx context.Context, id, codeHash string, codeExpiresAt, now time.Time) error {
	op := "save code for auth request " + id
	if codeHash == "" {
		return fmt.Errorf("postgres: %s: empty code hash", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	// LEAST ignores NULL, so a zero codeExpiresAt leaves expires_at as it is.
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests
		SET code_hash = $1, expires_at = LEAST(expires_at, $2)
		WHERE id = $3 AND expires_at > $4 AND done AND code_hash IS NULL`,
		codeHash, ts(codeExpiresAt), id, n)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(tag, op); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// A code, once saved, stays until the request is gone.
	return s.whyNot(ctx, op, id, n, func(_ bool, code pgtype.Text) error {
		if code.Valid {
			return fmt.Errorf("postgres: %s: already has a code: %w", op, storage.ErrConflict)
		}
		return notFound(op + ": not completed")
	})
}

// whyNot explains why a conditional update of the auth request id matched no
// row: ErrNotFound if it is absent or expired at now, else what explain
// returns for its state (nil meaning ErrNotFound).
func (s *Store) whyNot(ctx context.Context, op, id string, now pgtype.Timestamptz, explain func(done bool, code pgtype.Text) error) error {
	var (
		done bool
		code pgtype.Text
	)
	err := s.pool.QueryRow(ctx, `SELECT done, code_hash FROM auth_requests
		WHERE id = $1 AND expires_at > $2 AND NOT code_redeemed`, id, now).Scan(&done, &code)
	if err != nil {
		return wrap(op, err)
	}
	if err := explain(done, code); err != nil {
		return err
	}
	return notFound(op)
}

// AuthRequestByCode returns the live request holding that code hash, or
// ErrNotFound (a redeemed code too). It does not consume the code.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*storage.AuthRequest, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `SELECT `+authRequestColumns+`
		FROM auth_requests WHERE code_hash = $1 AND expires_at > $2 AND NOT code_redeemed`, codeHash, ts(now)))
	if err != nil {
		return nil, wrap("auth request by code", err)
	}
	return r, nil
}

// ClaimCode reserves the live, unredeemed request holding codeHash for
// claim until now+lease, in one conditional UPDATE ... RETURNING: the row
// lock makes concurrent claims wait, and the one that comes after the
// winner no longer matches. When nothing matched, a second read says why:
// ErrConflict while another claim's lease runs, ErrNotFound otherwise.
func (s *Store) ClaimCode(ctx context.Context, codeHash, claim string, now time.Time, lease time.Duration) (*storage.AuthRequest, error) {
	op := "claim code"
	if codeHash == "" || claim == "" {
		return nil, notFound(op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	r, err := scanAuthRequest(s.pool.QueryRow(ctx, `UPDATE auth_requests
		SET code_claim = $1, code_claim_until = $2
		WHERE code_hash = $3 AND expires_at > $4 AND NOT code_redeemed
			AND (code_claim IS NULL OR code_claim = $1 OR code_claim_until <= $4)
		RETURNING `+authRequestColumns, claim, ts(now.Add(lease)), codeHash, n))
	if err == nil {
		return r, nil
	}
	if err = wrap(op, err); !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	var redeemed bool
	err = s.pool.QueryRow(ctx, `SELECT code_redeemed FROM auth_requests
		WHERE code_hash = $1 AND expires_at > $2 AND (code_redeemed OR code_claim_until > $2)`,
		codeHash, n).Scan(&redeemed)
	if err != nil {
		return nil, wrap(op, err)
	}
	if redeemed {
		return nil, fmt.Errorf("postgres: %s: %w", op, storage.ErrRedeemed)
	}
	return nil, fmt.Errorf("postgres: %s: another redemption holds it: %w", op, storage.ErrConflict)
}

// RedeemCode marks the code claimed by claim as redeemed, in one
// conditional update that matches again for the same claim.
func (s *Store) RedeemCode(ctx context.Context, codeHash, claim string, now time.Time) error {
	op := "redeem code"
	if codeHash == "" || claim == "" {
		return notFound(op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE auth_requests SET code_redeemed = true
		WHERE code_hash = $1 AND code_claim = $2`, codeHash, claim)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// ReleaseCode clears the claim of a code claim holds and has not redeemed.
func (s *Store) ReleaseCode(ctx context.Context, codeHash, claim string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `UPDATE auth_requests SET code_claim = NULL, code_claim_until = NULL
		WHERE code_hash = $1 AND code_claim = $2 AND NOT code_redeemed`, codeHash, claim)
	if err != nil {
		return wrap("release code", err)
	}
	return nil
}

// DeleteAuthRequest removes the request; absent is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM auth_requests WHERE id = $1`, id); err != nil {
		return wrap("delete auth request "+id, err)
	}
	return nil
}
