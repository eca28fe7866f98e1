package storage

import (
	"context"
	"time"
)

// InitialAccessToken lets its bearer register clients (OpenID Connect
// Dynamic Client Registration 1.0 §3, RFC 7591 §3): an operator mints it
// (gatehouse clients token) and hands it to whoever may register. The token
// itself is shown once; only its SHA-256 is stored.
type InitialAccessToken struct {
	// ID names the token in lists, revocations and audit events; it is
	// not the token and grants nothing.
	ID string
	// Hash is the hex SHA-256 of the token.
	Hash      string
	ExpiresAt time.Time
	// MaxUses is how many clients the token may register; 0: no limit
	// until it expires.
	MaxUses int
	// Uses counts the clients registered with it.
	Uses      int
	CreatedAt time.Time
	// CreatedBy says who minted it (an audit actor, such as operator).
	CreatedBy string
}

// Registrations keeps what dynamic client registration needs besides
// ClientWriter: the initial access tokens and each registered client's
// registration access token (RFC 7592), as a hash (SQL).
type Registrations interface {
	// CreateInitialAccessToken stores t (Uses ignored, stored as 0);
	// ErrConflict when its ID or Hash is taken.
	CreateInitialAccessToken(ctx context.Context, t *InitialAccessToken) error
	// InitialAccessTokens returns the tokens still stored (not yet
	// revoked nor pruned), expired ones included, by CreatedAt then ID.
	InitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error)
	// RevokeInitialAccessToken deletes the token with that ID and reports
	// whether there was one.
	RevokeInitialAccessToken(ctx context.Context, id string) (bool, error)
	// RegisterClient registers c in one transaction: it counts one use of
	// the initial access token whose Hash is tokenHash, if that token is
	// live at now (now before its ExpiresAt) and below its MaxUses; creates
	// c as ClientWriter.CreateClient does (c.Source must be
	// ClientSourceRegistration); and keeps registrationHash (the hex
	// SHA-256 of the client's registration access token). It returns the
	// initial access token's ID. ErrNotFound when there is no such usable
	// token (unknown, revoked, expired, used up): nothing is stored. Of
	// concurrent registrations with a token one use short of its limit
	// exactly one succeeds. ErrConflict when the client id is taken: the
	// use is not counted.
	RegisterClient(ctx context.Context, c *Client, tokenHash, registrationHash string, now time.Time) (string, error)
	// RegistrationHash returns the hash of the registration access token
	// of the registered client with that id; ErrNotFound when there is
	// none (a client of another source never has one). It goes with its
	// client (ClientWriter.DeleteClient).
	RegistrationHash(ctx context.Context, clientID string) (string, error)
}
