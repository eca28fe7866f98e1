package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// RewrapReport says what Rewrap did.
type RewrapReport struct {
	// FromKEKID and ToKEKID identify the old and the new KEK (see
	// Sealer.KEKID); neither is secret.
	FromKEKID, ToKEKID string
	// Keys and Secrets count the rows Rewrap moved to the new KEK.
	Keys, Secrets int
	// AlreadyKeys and AlreadySecrets count the rows that were under the new
	// KEK already (left alone: a rewrap that was interrupted, or ran
	// before, is simply run again).
	AlreadyKeys, AlreadySecrets int
}

// Rewrap moves every stored signing key (whatever its state, down to keys
// past their DeleteAt, which it deletes first) and every stored secret from
// the Manager's KEK to the KEK of to, under the store's rotation lock and in
// one store transaction (storage.KeyRotation.Rewrap), so that either all of
// them move or none does.
//
// It is idempotent: rows already under to's KEK are left alone, so running
// it again after a crash, or after instances still on the old KEK created
// keys or secrets, finishes the job. Before writing anything it opens every
// row under the old KEK (checking that it opens, with its key id or name as
// associated data) and fails if any row is sealed under a third KEK or does
// not open; then nothing changes. If to is the Manager's own sealer there is
// nothing to move and Rewrap only reports.
//
// It returns ErrBusy when another caller holds the rotation lock. Rewrap
// does not reload the Manager: afterwards its cache still serves what it
// held, but Ensure, Reload and a first Secret of a name fail with "wrong
// KEK" until a Manager with to's KEK replaces it.
func (m *Manager) Rewrap(ctx context.Context, to *Sealer) (RewrapReport, error) {
	rep := RewrapReport{}
	kr, err := m.rotator()
	if err != nil {
		return rep, err
	}
	if to == nil {
		return rep, errors.New("keys: rewrap: no new KEK")
	}
	from := m.sealer
	rep.FromKEKID, rep.ToKEKID = from.KEKID(), to.KEKID()
	ran, err := kr.WithRotationLock(ctx, func(ctx context.Context) error {
		rep.Keys, rep.Secrets, rep.AlreadyKeys, rep.AlreadySecrets = 0, 0, 0, 0
		now := m.now()
		// Keys past DeleteAt are not listed; they are gone for good.
		if _, err := kr.DeleteSigningKeys(ctx, now); err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		rows, err := m.store.SigningKeys(ctx, now)
		if err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		secrets, err := kr.SecretsByPrefix(ctx, "")
		if err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		var moveKeys []storage.SigningKey
		for _, r := range rows {
			sealed, moved, err := reseal(from, to, r.PrivateSealed, r.KEKID, r.ID, "signing key "+r.ID)
			if err != nil {
				return err
			}
			if !moved {
				rep.AlreadyKeys++
				continue
			}
			r.PrivateSealed, r.KEKID = sealed, to.KEKID()
			moveKeys = append(moveKeys, r)
		}
		var moveSecrets []storage.Secret
		for _, s := range secrets {
			sealed, moved, err := reseal(from, to, s.Sealed, s.KEKID, s.Name, fmt.Sprintf("secret %q", s.Name))
			if err != nil {
				return err
			}
			if !moved {
				rep.AlreadySecrets++
				continue
			}
			s.Sealed, s.KEKID = sealed, to.KEKID()
			moveSecrets = append(moveSecrets, s)
		}
		if len(moveKeys) == 0 && len(moveSecrets) == 0 {
			return nil
		}
		if err := kr.Rewrap(ctx, from.KEKID(), moveKeys, moveSecrets, nil); err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		rep.Keys, rep.Secrets = len(moveKeys), len(moveSecrets)
		return nil
	})
	if err != nil {
		return rep, err
	}
	if !ran {
		return rep, ErrBusy
	}
	return rep, nil
}

// reseal opens a blob sealed under from and seals it under to. moved is
// false, with no error, for a blob already under to.
func reseal(from, to *Sealer, sealed []byte, kekID, aad, what string) (out []byte, moved bool, err error) {
	switch kekID {
	case to.KEKID():
		return nil, false, nil
	case from.KEKID():
	default:
		return nil, false, fmt.Errorf("keys: rewrap: %s is sealed under KEK %s, which is neither the configured KEK %s nor the new KEK %s; nothing was changed",
			what, kekID, from.KEKID(), to.KEKID())
	}
	plain, err := from.Open(sealed, []byte(aad))
	if err != nil {
		return nil, false, fmt.Errorf("keys: rewrap: %s: %w; nothing was changed", what, err)
	}
	defer clear(plain)
	out, err = to.Seal(plain, []byte(aad))
	if err != nil {
		return nil, false, fmt.Errorf("keys: rewrap: %s: %w", what, err)
	}
	return out, true, nil
}
