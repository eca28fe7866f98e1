package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
)

// LogoutNoticeTTL is how long Gatehouse keeps trying to deliver a
// back-channel logout notice before it drops it.
const LogoutNoticeTTL = time.Hour

// ClientLookup returns the enabled client with that id, or ErrNotFound.
type ClientLookup func(ctx context.Context, id string) (*Client, error)

// QueueLogoutNotices queues one back-channel logout notice for every
// client, of every ended session, that registered a backchannel_logout_uri,
// all in one insert. It returns how many it queued. Clients that are gone
// or disabled get none. The provider, the account page and the CLI all end
// sessions the same way: delete the session (DeleteSession returns it),
// then queue its notices, so a failure here never keeps a session alive.
func QueueLogoutNotices(ctx context.Context, q LogoutNotices, clients ClientLookup, ended []Session, now time.Time, random io.Reader) (int, error) {
	if random == nil {
		random = rand.Reader
	}
	var notices []LogoutNotice
	for _, s := range ended {
		for _, id := range s.Clients {
			c, err := clients(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("logout notices: client %s: %w", id, err)
			}
			if c.BackchannelLogoutURI == "" {
				continue
			}
			b := make([]byte, 16)
			if _, err := io.ReadFull(random, b); err != nil {
				return 0, fmt.Errorf("logout notices: random: %w", err)
			}
			notices = append(notices, LogoutNotice{
				ID: base64.RawURLEncoding.EncodeToString(b), ClientID: id, UserID: s.UserID, SessionID: s.ID,
				CreatedAt: now, Deadline: now.Add(LogoutNoticeTTL), NextAttempt: now,
			})
		}
	}
	if len(notices) == 0 {
		return 0, nil
	}
	if err := q.EnqueueLogoutNotices(ctx, notices); err != nil {
		return 0, fmt.Errorf("logout notices: %w", err)
	}
	return len(notices), nil
}
