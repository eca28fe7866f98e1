package storage

import (
	"context"
	"time"
)

// LogoutNoticeTTL is how long Gatehouse keeps trying to deliver a
// back-channel logout notice before it drops it.
const LogoutNoticeTTL = time.Hour

// ClientLookup returns the enabled client with that id, or ErrNotFound.
type ClientLookup func(ctx context.Context, id string) (*Client, error)
