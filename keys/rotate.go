package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ErrBusy means another caller holds the store's rotation lock: ForceRotate
// and Revoke did nothing and may be tried again.
var ErrBusy = errors.New("keys: another instance is changing the signing keys; try again")

// The rotation timeline of one algorithm, with the default Options (JWKS
// max-age 1h, so PublishLead 2h; MaxTokenLifetime 24h, ClockSkew 5m):
//
//	day 0            key A created, published and active (Ensure)
//	day 30 − 2h      Rotate creates B: published now, active at day 30;
//	                 A gets RetireAt = day 30, DeleteAt = day 31 + 5m
//	day 30           every instance signs with B (a timestamp, not a message)
//	day 31 + 5m      A leaves the JWKS; the next Rotate deletes its row
//	day 60 − 2h      Rotate creates C, and so on.
//
// A key therefore signs only after it has been in the JWKS for PublishLead
// (twice the time a relying party may cache the JWKS), and stays in it until
// every token it signed has expired, plus the clock skew.

// rotator returns the store's rotation half, once the Manager is ready.
func (m *Manager) rotator() (storage.KeyRotation, error) {
	if err := m.ready(); err != nil {
		return nil, err
	}
	return m.store, nil
}

// Rotate does whatever the schedule calls for at the Manager's now, under
// the store's rotation lock so that one instance acts at a time; it is meant
// to run every minute or so on every instance. For each algorithm that has
// a key (every one of KeptAlgorithms always, whether or not it has one):
//
//   - if its active key has signed for RotateEvery − PublishLead and no
//     successor is pending, it creates the successor, published now and
//     active PublishLead from now, and schedules every active key of the
//     algorithm to retire when the successor activates and to be deleted
//     MaxTokenLifetime + ClockSkew after that;
//   - if it has no active and no pending key (all revoked), it creates one
//     that is active at once.
//
// It then deletes the rows of keys past their DeleteAt and, once
// EnsureCodeKeys has loaded them, applies the code-key schedule (see
// CodeKeys): a successor when one is due, expired code keys deleted. It
// returns the ids
// of the keys it created, and reloads the Manager if it changed anything.
// When another caller holds the lock Rotate does nothing and returns no ids
// and no error: that caller is doing the same work. Other instances see the
// new keys on their next Reload, long before they may sign.
func (m *Manager) Rotate(ctx context.Context) (created []string, err error) {
	return m.rotate(ctx, false)
}

// ForceRotate starts a normal rotation now for every algorithm, whatever the
// keys' age: each active key gets a successor published now and active
// PublishLead from now, and retires then. Algorithms whose successor is
// already pending are left alone. It returns the ids of the new keys, and
// ErrBusy if another caller holds the rotation lock.
func (m *Manager) ForceRotate(ctx context.Context) (created []string, err error) {
	created, err = m.rotate(ctx, true)
	if errors.Is(err, errNotRun) {
		return nil, ErrBusy
	}
	return created, err
}

// errNotRun tells rotate's callers that the lock was taken.
var errNotRun = errors.New("rotation lock taken")

func (m *Manager) rotate(ctx context.Context, force bool) ([]string, error) {
	kr, err := m.rotator()
	if err != nil {
		return nil, err
	}
	var created []string
	changed := false
	ran, err := kr.WithRotationLock(ctx, func(ctx context.Context) error {
		now := m.now()
		rows, err := m.store.SigningKeys(ctx, now)
		if err != nil {
			return fmt.Errorf("keys: rotate: %w", err)
		}
		for _, alg := range managedAlgorithms(rows) {
			k, err := m.rotateAlg(ctx, kr, rows, alg, now, force)
			if err != nil {
				return err
			}
			if k != "" {
				created = append(created, k)
				changed = true
			}
		}
		n, err := kr.DeleteSigningKeys(ctx, now)
		if err != nil {
			return fmt.Errorf("keys: rotate: %w", err)
		}
		changed = changed || n > 0
		if m.codeKeys.Load() != nil {
			c, err := m.rotateCodeKeys(ctx, kr, now)
			changed = changed || c
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return created, err
	}
	if !ran {
		if force {
			return nil, errNotRun
		}
		return nil, nil
	}
	if changed {
		if err := m.Reload(ctx); err != nil {
			return created, err
		}
	}
	return created, nil
}

// managedAlgorithms returns KeptAlgorithms and any other supported algorithm
// some row uses, in Algorithms order.
func managedAlgorithms(rows []storage.SigningKey) []string {
	algs := KeptAlgorithms()
	for _, r := range rows {
		if supported(r.Algorithm) && !slices.Contains(algs, r.Algorithm) {
			algs = append(algs, r.Algorithm)
		}
	}
	slices.SortFunc(algs, func(a, b string) int { return algRank(a) - algRank(b) })
	return algs
}

// rotateAlg applies the schedule to one algorithm and returns the id of the
// key it created, if any.
func (m *Manager) rotateAlg(ctx context.Context, kr storage.KeyRotation, rows []storage.SigningKey, alg string, now time.Time, force bool) (string, error) {
	var current, pending *storage.SigningKey
	var active []*storage.SigningKey
	for i := range rows {
		r := &rows[i]
		if r.Algorithm != alg {
			continue
		}
		switch State(*r, now) {
		case Pending:
			pending = r
		case Active:
			active = append(active, r)
			if usable(*r, now) && (current == nil || newer(*r, *current)) {
				current = r
			}
		}
	}
	if pending != nil {
		return "", nil // a successor is on its way
	}
	if current == nil {
		// Nothing signs and nothing will: a key that signs at once is
		// better than none (as on first start).
		return m.createKey(ctx, alg, now, now)
	}
	due := force || !current.RetireAt.IsZero() ||
		!now.Before(current.ActivateAt.Add(m.rotateEvery-m.publishLead))
	if !due {
		return "", nil
	}
	activate := now.Add(m.publishLead)
	kid, err := m.createKey(ctx, alg, now, activate)
	if err != nil {
		return "", err
	}
	for _, r := range active {
		r.RetireAt = activate
		r.DeleteAt = activate.Add(m.keepAfterRetire)
		if err := kr.UpdateSigningKey(ctx, r); err != nil {
			return kid, fmt.Errorf("keys: schedule retirement of %s key %s: %w", alg, r.ID, err)
		}
	}
	return kid, nil
}

// createKey generates and stores a key for alg, published at publish and
// active from activate, and returns its id.
func (m *Manager) createKey(ctx context.Context, alg string, publish, activate time.Time) (string, error) {
	k, err := m.generate(alg, publish)
	if err != nil {
		return "", err
	}
	k.ActivateAt = activate
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("keys: store new %s key: %w", alg, err)
	}
	return k.ID, nil
}

// Revoke takes the key kid out of service at once, for a compromised key:
// its RetireAt and DeleteAt become now, so it leaves the JWKS and tokens it
// signed stop verifying as soon as each instance reloads (this one before
// Revoke returns, the others within their reload period). If it was the
// only key of its algorithm able to sign, Revoke makes another one active
// at once — the pending successor if there is one, else a new key — and
// returns its id as replacement; relying parties that cached the JWKS
// before that key was published cannot verify its tokens until they fetch
// the JWKS again, which is the price of a compromise. Revoke fails with
// storage.ErrNotFound for an unknown or already deleted kid, and with ErrBusy
// when another caller holds the rotation lock.
func (m *Manager) Revoke(ctx context.Context, kid string) (replacement string, err error) {
	kr, err := m.rotator()
	if err != nil {
		return "", err
	}
	ran, err := kr.WithRotationLock(ctx, func(ctx context.Context) error {
		now := m.now()
		rows, err := m.store.SigningKeys(ctx, now)
		if err != nil {
			return fmt.Errorf("keys: revoke: %w", err)
		}
		i := slices.IndexFunc(rows, func(r storage.SigningKey) bool { return r.ID == kid })
		if i < 0 {
			return fmt.Errorf("keys: revoke %s: %w", kid, storage.ErrNotFound)
		}
		revoked := rows[i]
		revoked.RetireAt, revoked.DeleteAt = now, now
		if err := kr.UpdateSigningKey(ctx, &revoked); err != nil {
			return fmt.Errorf("keys: revoke %s: %w", kid, err)
		}
		rows[i] = revoked
		var pending *storage.SigningKey
		for j := range rows {
			r := &rows[j]
			if r.Algorithm != revoked.Algorithm {
				continue
			}
			if usable(*r, now) {
				return nil // another key signs
			}
			if State(*r, now) == Pending && (pending == nil || r.ActivateAt.Before(pending.ActivateAt)) {
				pending = r
			}
		}
		if pending != nil {
			pending.ActivateAt = now
			if pending.PublishAt.After(now) {
				pending.PublishAt = now
			}
			if err := kr.UpdateSigningKey(ctx, pending); err != nil {
				return fmt.Errorf("keys: activate %s key %s: %w", pending.Algorithm, pending.ID, err)
			}
			replacement = pending.ID
			return nil
		}
		replacement, err = m.createKey(ctx, revoked.Algorithm, now, now)
		return err
	})
	if err != nil {
		return replacement, err
	}
	if !ran {
		return "", ErrBusy
	}
	return replacement, m.Reload(ctx)
}
