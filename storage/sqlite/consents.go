package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const consentColumns = `user_id, client_id, scopes, created_at, updated_at`

func scanConsent(row scanner) (*storage.Consent, error) {
	var (
		c                storage.Consent
		scopes           string
		created, updated sql.NullInt64
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &scopes, &created, &updated); err != nil {
		return nil, err
	}
	var d decoder
	c.Scopes = d.strings(scopes)
	c.CreatedAt = d.time(created)
	c.UpdatedAt = d.time(updated)
	return &c, d.err
}

// SaveConsent records c, merging its scopes into the consent the user
// already gave the client, if any: the stored scopes become the sorted
// union, CreatedAt stays the first one, UpdatedAt becomes c.UpdatedAt. It
// reads and writes in one write transaction, so concurrent saves merge.
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	const op = "save consent"
	var e encoder
	created, updated := e.time(c.CreatedAt), e.time(c.UpdatedAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	scopes := slices.Clone(c.Scopes)
	old, err := scanConsent(in.queryRow(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = ? AND client_id = ?`, c.UserID, c.ClientID))
	switch {
	case err == nil:
		scopes = append(scopes, old.Scopes...)
	case !errors.Is(err, sql.ErrNoRows):
		return wrap(op, err)
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	_, err = in.exec(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, e.strings(scopes), created, updated)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if err != nil {
		return wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// Consent returns the user's consent for the client, or ErrNotFound.
func (s *Store) Consent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	c, err := scanConsent(s.queryRow(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if err != nil {
		return nil, wrap("consent", err)
	}
	return c, nil
}

// UserConsents returns the user's consents ordered by client id, through
// the primary key.
func (s *Store) UserConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	const op = "user consents"
	rows, err := s.query(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		list = append(list, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// DeleteConsent withdraws the consent; absent is not an error.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	if _, err := s.exec(ctx, `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID); err != nil {
		return wrap("delete consent", err)
	}
	return nil
}
