package storage

import (
	"context"
	"time"
)

// PushedRequest is an authorization request a client pushed to the
// pushed authorization request endpoint (RFC 9126), waiting for the
// browser to bring its request_uri to /authorize.
type PushedRequest struct {
	// ID is the SHA-256 (hex) of the random part of its request_uri; the
	// store never sees the request_uri itself.
	ID string
	// ClientID is the client that pushed it: only that client may use it.
	ClientID string
	// Params are the request's parameters, application/x-www-form-urlencoded
	// (from a request object: its claims).
	Params    string
	CreatedAt time.Time
	// ExpiresAt is when the store stops returning it.
	ExpiresAt time.Time
}

// PushedRequests keeps pushed authorization requests until their single
// use: in Redis when configured (the key expires with the request), else
// in SQL, where Prune deletes expired ones.
type PushedRequests interface {
	// PushRequest stores r; ErrConflict if the id exists.
	PushRequest(ctx context.Context, r *PushedRequest) error
	// TakePushedRequest deletes the request with that id pushed by
	// clientID and returns it, if it is live at now (now strictly before
	// its ExpiresAt), in one atomic step: of concurrent takes exactly one
	// gets it. Otherwise ErrNotFound: unknown, taken already, expired, or
	// pushed by another client, whose request stays as it is.
	TakePushedRequest(ctx context.Context, id, clientID string, now time.Time) (*PushedRequest, error)
}
