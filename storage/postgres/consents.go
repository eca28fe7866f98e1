package postgres

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const consentColumns = `user_id, client_id, scopes, created_at, updated_at`

func scanConsent(row pgx.Row) (*storage.Consent, error) {
	var (
		c                storage.Consent
		created, updated pgtype.Timestamptz
	)
	if err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt = timeOf(created)
	c.UpdatedAt = timeOf(updated)
	return &c, nil
}

// SaveConsent records c, merging its scopes into the consent the user
// already gave the client, if any: the stored scopes become the union,
// sorted by bytes; CreatedAt stays the first one, UpdatedAt becomes
// c.UpdatedAt. One statement (an upsert that merges under the row's lock),
// so concurrent saves merge.
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	scopes := slices.Clone(c.Scopes)
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (`+consentColumns+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = ARRAY(SELECT DISTINCT u.s COLLATE "C" FROM unnest(consents.scopes || excluded.scopes) AS u(s) ORDER BY 1),
			updated_at = excluded.updated_at`,
		c.UserID, c.ClientID, list(scopes), ts(c.CreatedAt), ts(c.UpdatedAt))
	if err != nil {
		return wrap("save consent", err)
	}
	return nil
}

// Consent returns the user's consent for the client, or ErrNotFound.
func (s *Store) Consent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	c, err := scanConsent(s.pool.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = $1 AND client_id = $2`, userID, clientID))
	if err != nil {
		return nil, wrap("consent", err)
	}
	return c, nil
}

// UserConsents returns the user's consents ordered by client id (by
// bytes), through the primary key.
func (s *Store) UserConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	const op = "user consents"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE user_id = $1 ORDER BY client_id`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// DeleteConsent withdraws the consent; absent is not an error.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID); err != nil {
		return wrap("delete consent", err)
	}
	return nil
}
