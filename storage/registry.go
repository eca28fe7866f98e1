package storage

import (
	"context"
	"fmt"
	"time"
)

// ClientRegistry names one set of clients as a clients file gave it, so that
// instances sharing a store can tell whose file the store holds. A backend
// stores the one applied last.
type ClientRegistry struct {
	// Revision is the file's revision, a positive number the operator
	// raises with every change; 0 when the file declares none.
	Revision int64
	// Digest identifies the clients themselves (the caller computes it; the
	// same clients give the same digest whatever the file's layout).
	Digest string
	// AppliedAt is when the registry was first applied; AppliedBy names the
	// instance that applied it (host name and process id).
	AppliedAt time.Time
	AppliedBy string
}

// ClientRegistries records the registry a clients store applied last, and
// applies another only when it may replace that one (CheckClientRegistry):
// an instance holding an older file never undoes a newer one, whatever the
// order in which instances start, reload or restart.
type ClientRegistries interface {
	// AppliedClientRegistry returns the registry applied last, or
	// ErrNotFound when none has been.
	AppliedClientRegistry(ctx context.Context) (*ClientRegistry, error)
	// ApplyClientRegistry checks reg against the registry applied last with
	// CheckClientRegistry and, when it may replace it, makes the store hold
	// exactly clients as SyncClients does and records reg as applied (its
	// AppliedAt set to now), all in one transaction that runs after any
	// other sync or apply already under way, never interleaved with it. A
	// registry with the revision and digest of the applied one is synced
	// again but its record is kept as it was (AppliedAt and AppliedBy of
	// the first apply). prev is the registry applied before, nil if none.
	//
	// When reg may not replace the applied registry nothing changes and the
	// error is CheckClientRegistry's *RegistryRefusedError (it wraps
	// ErrConflict); prev is then the applied registry.
	ApplyClientRegistry(ctx context.Context, reg ClientRegistry, clients []Client, now time.Time) (rep SyncReport, prev *ClientRegistry, err error)
}

// CheckClientRegistry decides whether registry next may replace applied,
// the one a store applied last (nil: none yet). It may when nothing was
// applied, when its revision is higher, or when both have the same revision
// and digest (applying it again changes nothing). Files without a revision
// (0) replace one another, the last applied winning: that is for a single
// instance, where the last one applied is the file's latest version.
//
// It may not, and the error is a *RegistryRefusedError, when its revision
// is lower (0 below a revision included: a file without one never replaces
// a file with one), or when it has the same revision as applied but another
// digest: two different files claiming one revision.
func CheckClientRegistry(applied *ClientRegistry, next ClientRegistry) error {
	switch {
	case applied == nil, next.Revision > applied.Revision:
		return nil
	case next.Revision < applied.Revision,
		next.Revision > 0 && next.Digest != applied.Digest:
		return &RegistryRefusedError{Applied: *applied, Given: next}
	}
	return nil
}

// RegistryRefusedError says why a registry was not applied: Given is the
// one refused, Applied the one the store holds. It wraps ErrConflict.
type RegistryRefusedError struct {
	Applied, Given ClientRegistry
}

// Older reports whether Given was refused for an older revision than
// Applied's; otherwise both have the same revision and other clients.
func (e *RegistryRefusedError) Older() bool { return e.Given.Revision < e.Applied.Revision }

func (e *RegistryRefusedError) Error() string {
	if e.Older() {
		return fmt.Sprintf("clients revision %d is older than revision %d, applied %s by %s",
			e.Given.Revision, e.Applied.Revision, e.Applied.AppliedAt.UTC().Format(time.RFC3339), e.Applied.AppliedBy)
	}
	return fmt.Sprintf("clients revision %d differs from the revision %d applied %s by %s: one revision, two different sets of clients",
		e.Given.Revision, e.Applied.Revision, e.Applied.AppliedAt.UTC().Format(time.RFC3339), e.Applied.AppliedBy)
}

func (e *RegistryRefusedError) Unwrap() error { return ErrConflict }
