package provider

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Userinfo and introspection ask two questions of every access token they
// honour: has its family been revoked, and is its user still there and
// enabled. Asking the store each time was a third of userinfo's CPU, and
// on Postgres it halved the rate, so the answers are kept in memory for
// liveCheckTTL: a family revoked, or a user disabled or deleted, on any
// instance (the CLI, the account page, another instance's token
// endpoint) stops working everywhere within liveCheckTTL, and at once on
// the instance whose token paths revoked it (revokeFamily). Store errors
// are never kept. The token endpoint does not use these answers: a code
// or refresh grant reads the store, so no durable token is issued on a
// stale answer.

// liveCheckTTL bounds how long a kept answer is used: the longest a
// revoked family or a disabled user keeps working on another instance.
const liveCheckTTL = time.Second

// liveCheckEntries bounds each table: past it, expired answers are
// dropped, and if none has expired, all of them (the store is asked
// again).
const liveCheckEntries = 1 << 16

// liveChecks keeps the answers, for one provider.
type liveChecks struct {
	store    liveCheckStore
	now      func() time.Time
	mu       sync.Mutex
	families map[string]liveAnswer[bool]
	users    map[string]liveAnswer[*storage.User] // nil: gone or disabled
}

type liveAnswer[V any] struct {
	v       V
	expires time.Time
}

// liveCheckStore is what the live checks ask of the store.
type liveCheckStore interface {
	FamilyRevoked(ctx context.Context, familyID string) (bool, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
}

func newLiveChecks(store liveCheckStore, now func() time.Time) *liveChecks {
	return &liveChecks{
		store:    store,
		now:      now,
		families: make(map[string]liveAnswer[bool]),
		users:    make(map[string]liveAnswer[*storage.User]),
	}
}

// familyRevoked reports whether the token family has been revoked.
func (p *Provider) familyRevoked(ctx context.Context, family string) (bool, error) {
	l := p.live
	if v, ok := lookup(l, l.families, family); ok {
		return v, nil
	}
	revoked, err := l.store.FamilyRevoked(ctx, family)
	if err != nil {
		return false, err
	}
	keep(l, l.families, family, revoked)
	return revoked, nil
}

// activeUser returns the user if it exists and is enabled, nil if it is
// gone or disabled, or the store's error.
func (p *Provider) activeUser(ctx context.Context, id string) (*storage.User, error) {
	l := p.live
	if u, ok := lookup(l, l.users, id); ok {
		return u, nil
	}
	u, err := l.store.UserByID(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound) || (err == nil && u.Disabled):
		u = nil
	case err != nil:
		return nil, err
	}
	keep(l, l.users, id, u)
	return u, nil
}

// familyRevokedHere records a revocation this instance made: its own
// answers say so at once.
func (l *liveChecks) familyRevokedHere(family string) {
	keep(l, l.families, family, true)
}

func lookup[V any](l *liveChecks, m map[string]liveAnswer[V], key string) (V, bool) {
	l.mu.Lock()
	a, ok := m[key]
	l.mu.Unlock()
	if !ok || !l.now().Before(a.expires) {
		var zero V
		return zero, false
	}
	return a.v, true
}

func keep[V any](l *liveChecks, m map[string]liveAnswer[V], key string, v V) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(m) >= liveCheckEntries {
		for k, a := range m {
			if !now.Before(a.expires) {
				delete(m, k)
			}
		}
		if len(m) >= liveCheckEntries {
			clear(m)
		}
	}
	m[key] = liveAnswer[V]{v: v, expires: now.Add(liveCheckTTL)}
}
