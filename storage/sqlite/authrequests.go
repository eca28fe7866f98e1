package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_type,
	response_mode, code_challenge, code_challenge_method, prompt, max_age, login_hint,
	id_token_hint, hint_subject, browser_hash, created_at, expires_at, done, user_id,
	session_id, auth_time, amr, code_hash, acr_values, dpop_jkt`

func scanAuthRequest(row scanner) (*storage.AuthRequest, error) {
	var (
		r                          storage.AuthRequest
		scopes, prompt, amr, acr   string
		maxAge                     sql.NullInt64
		created, expires, authTime sql.NullInt64
		codeHash                   sql.NullString
	)
	err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &scopes, &r.State, &r.Nonce, &r.ResponseType,
		&r.ResponseMode, &r.CodeChallenge, &r.CodeChallengeMethod, &prompt, &maxAge, &r.LoginHint,
		&r.IDTokenHint, &r.HintSubject, &r.BrowserHash, &created, &expires, &r.Done, &r.UserID,
		&r.SessionID, &authTime, &amr, &codeHash, &acr, &r.DPoPJKT)
	if err != nil {
		return nil, err
	}
	var d decoder
	r.Scopes = d.strings(scopes)
	r.Prompt = d.strings(prompt)
	r.ACRValues = d.strings(acr)
	if maxAge.Valid {
		r.MaxAge = &maxAge.Int64
	}
	r.CreatedAt = d.time(created)
	r.ExpiresAt = d.time(expires)
	r.AuthTime = d.time(authTime)
	r.AMR = d.strings(amr)
	r.CodeHash = codeHash.String
	return &r, d.err
}

// CreateAuthRequest inserts r; ErrConflict if the id exists (or, when r
// already carries a code hash, if another request holds that hash).
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	var e encoder
	var maxAge any
	if r.MaxAge != nil {
		maxAge = *r.MaxAge
	}
	args := []any{r.ID, r.ClientID, r.RedirectURI, e.strings(r.Scopes), r.State, r.Nonce, r.ResponseType,
		r.ResponseMode, r.CodeChallenge, r.CodeChallengeMethod, e.strings(r.Prompt), maxAge, r.LoginHint,
		r.IDTokenHint, r.HintSubject, r.BrowserHash, e.time(r.CreatedAt), e.time(r.ExpiresAt), r.Done, r.UserID,
		r.SessionID, e.time(r.AuthTime), e.strings(r.AMR), nullString(r.CodeHash), e.strings(r.ACRValues), r.DPoPJKT}
	if e.err != nil {
		return fmt.Errorf("sqlite: create auth request %s: %w", r.ID, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO auth_requests (`+authRequestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap("create auth request "+r.ID, err)
	}
	return nil
}

// AuthRequest returns the request if it exists and has not expired at now;
// otherwise ErrNotFound.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: auth request %s: %w", id, e.err)
	}
	r, err := scanAuthRequest(s.queryRow(ctx, `SELECT `+authRequestColumns+`
		FROM auth_requests WHERE id = ? AND expires_at > ? AND code_redeemed = 0`, id, n))
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
	var e encoder
	n := e.time(now)
	args := []any{login.UserID, login.SessionID, e.time(login.AuthTime), e.strings(login.AMR), id, n}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE auth_requests
		SET done = 1, user_id = ?, session_id = ?, auth_time = ?, amr = ?
		WHERE id = ? AND expires_at > ? AND done = 0`, args...)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(res, op); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// Nothing changed; say why. A request never goes back from done, so a
	// live done request seen now was done when the update ran.
	return s.whyNot(ctx, op, id, n, func(done bool, _ sql.NullString) error {
		if done {
			return fmt.Errorf("sqlite: %s: already completed: %w", op, storage.ErrConflict)
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
		return fmt.Errorf("sqlite: %s: empty code hash", op)
	}
	var e encoder
	n, codeExp := e.time(now), e.time(codeExpiresAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE auth_requests
		SET code_hash = ?, expires_at = min(expires_at, coalesce(?, expires_at))
		WHERE id = ? AND expires_at > ? AND done = 1 AND code_hash IS NULL`,
		codeHash, codeExp, id, n)
	if err != nil {
		return wrap(op, err)
	}
	if err := oneRow(res, op); !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// A code, once saved, stays until the request is gone.
	return s.whyNot(ctx, op, id, n, func(done bool, code sql.NullString) error {
		if code.Valid {
			return fmt.Errorf("sqlite: %s: already has a code: %w", op, storage.ErrConflict)
		}
		return notFound(op + ": not completed")
	})
}

// whyNot explains why a conditional update of the auth request id matched no
// row: ErrNotFound if it is absent or expired at now, else what explain
// returns for its state (nil meaning ErrNotFound).
func (s *Store) whyNot(ctx context.Context, op, id string, now any, explain func(done bool, code sql.NullString) error) error {
	var (
		done bool
		code sql.NullString
	)
	err := s.queryRow(ctx, `SELECT done, code_hash FROM auth_requests
		WHERE id = ? AND expires_at > ? AND code_redeemed = 0`, id, now).Scan(&done, &code)
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
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: auth request by code: %w", e.err)
	}
	r, err := scanAuthRequest(s.queryRow(ctx, `SELECT `+authRequestColumns+`
		FROM auth_requests WHERE code_hash = ? AND expires_at > ? AND code_redeemed = 0`, codeHash, n))
	if err != nil {
		return nil, wrap("auth request by code", err)
	}
	return r, nil
}

// ClaimCode reserves the live, unredeemed request holding codeHash for
// claim until now+lease, in one conditional UPDATE ... RETURNING (SQLite
// runs one writer at a time, so of concurrent claims the first wins and
// the others no longer match). When nothing matched, a second read says
// why: ErrRedeemed for a redeemed code, ErrConflict while another claim's
// lease runs, ErrNotFound otherwise.
func (s *Store) ClaimCode(ctx context.Context, codeHash, claim string, now time.Time, lease time.Duration) (*storage.AuthRequest, error) {
	op := "claim code"
	if codeHash == "" || claim == "" {
		return nil, notFound(op)
	}
	var e encoder
	n, until := e.time(now), e.time(now.Add(lease))
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	r, err := scanAuthRequest(s.writeRow(ctx, `UPDATE auth_requests
		SET code_claim = ?, code_claim_until = ?
		WHERE code_hash = ? AND expires_at > ? AND code_redeemed = 0
			AND (code_claim IS NULL OR code_claim = ? OR code_claim_until <= ?)
		RETURNING `+authRequestColumns, claim, until, codeHash, n, claim, n))
	if err == nil {
		return r, nil
	}
	if err = wrap(op, err); !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	var redeemed bool
	err = s.queryRow(ctx, `SELECT code_redeemed FROM auth_requests
		WHERE code_hash = ? AND expires_at > ? AND (code_redeemed = 1 OR code_claim_until > ?)`,
		codeHash, n, n).Scan(&redeemed)
	if err != nil {
		return nil, wrap(op, err)
	}
	if redeemed {
		return nil, fmt.Errorf("sqlite: %s: %w", op, storage.ErrRedeemed)
	}
	return nil, fmt.Errorf("sqlite: %s: another redemption holds it: %w", op, storage.ErrConflict)
}

// RedeemCode marks the code claimed by claim as redeemed, in one
// conditional update that matches again for the same claim.
func (s *Store) RedeemCode(ctx context.Context, codeHash, claim string, now time.Time) error {
	op := "redeem code"
	if codeHash == "" || claim == "" {
		return notFound(op)
	}
	res, err := s.exec(ctx, `UPDATE auth_requests SET code_redeemed = 1
		WHERE code_hash = ? AND code_claim = ?`, codeHash, claim)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// ReleaseCode clears the claim of a code claim holds and has not redeemed.
func (s *Store) ReleaseCode(ctx context.Context, codeHash, claim string) error {
	_, err := s.exec(ctx, `UPDATE auth_requests SET code_claim = NULL, code_claim_until = NULL
		WHERE code_hash = ? AND code_claim = ? AND code_redeemed = 0`, codeHash, claim)
	if err != nil {
		return wrap("release code", err)
	}
	return nil
}

// DeleteAuthRequest removes the request; absent is not an error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM auth_requests WHERE id = ?`, id); err != nil {
		return wrap("delete auth request "+id, err)
	}
	return nil
}
