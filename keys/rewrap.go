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
	// Keys, Secrets and TOTPs count the rows Rewrap moved to the new KEK:
	// signing keys, server secrets and users' one-time-code secrets.
	Keys, Secrets, TOTPs int
	// AlreadyKeys, AlreadySecrets and AlreadyTOTPs count the rows that
	// were under the new KEK already (left alone: a rewrap that was
	// interrupted, or ran before, is simply run again).
	AlreadyKeys, AlreadySecrets, AlreadyTOTPs int
}

// Rewrap moves every stored signing key (whatever its state, down to keys
// past their DeleteAt, which it deletes first), every stored secret and
// every user's one-time-code (TOTP) secret from the Manager's KEK to the KEK
// of to, under the store's rotation lock and in one store transaction
// (storage.KeyRotation.Rewrap), so that either all of them move or none
// does.
//
// It is idempotent: rows already under to's KEK are left alone, so running
// it again after a crash, or after instances still on the old KEK created
// keys or secrets or users set up codes, finishes the job. Before writing
// anything it opens every row under the old KEK (checking that it opens,
// with its key id, name or storage.TOTPAssociatedData as associated data)
// and fails if any row is sealed under a third KEK or does not open; then
// nothing changes. If to is the Manager's own sealer there is nothing to
// move and Rewrap only reports. A user who sets up a new code while Rewrap
// runs makes the store refuse the write (an error wrapping
// storage.ErrConflict, nothing changed); running it again moves the new one.
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
		rep.Keys, rep.Secrets, rep.TOTPs = 0, 0, 0
		rep.AlreadyKeys, rep.AlreadySecrets, rep.AlreadyTOTPs = 0, 0, 0
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
		totps, err := kr.TOTPCredentials(ctx)
		if err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		var moveKeys []storage.SigningKey
		for _, r := range rows {
			sealed, moved, err := reseal(from, to, r.PrivateSealed, r.KEKID, []byte(r.ID), "signing key "+r.ID)
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
			sealed, moved, err := reseal(from, to, s.Sealed, s.KEKID, []byte(s.Name), fmt.Sprintf("secret %q", s.Name))
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
		var moveTOTPs []storage.RewrappedTOTP
		for _, c := range totps {
			sealed, moved, err := reseal(from, to, c.SealedSecret, c.KEKID, storage.TOTPAssociatedData(c.UserID),
				fmt.Sprintf("one-time-code secret of user %q", c.UserID))
			if err != nil {
				return err
			}
			if !moved {
				rep.AlreadyTOTPs++
				continue
			}
			moveTOTPs = append(moveTOTPs, storage.RewrappedTOTP{
				UserID: c.UserID, OldSealed: c.SealedSecret, SealedSecret: sealed, KEKID: to.KEKID(),
			})
		}
		if len(moveKeys) == 0 && len(moveSecrets) == 0 && len(moveTOTPs) == 0 {
			return nil
		}
		if err := kr.Rewrap(ctx, from.KEKID(), moveKeys, moveSecrets, moveTOTPs); err != nil {
			return fmt.Errorf("keys: rewrap: %w", err)
		}
		rep.Keys, rep.Secrets, rep.TOTPs = len(moveKeys), len(moveSecrets), len(moveTOTPs)
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
func reseal(from, to *Sealer, sealed []byte, kekID string, aad []byte, what string) (out []byte, moved bool, err error) {
	switch kekID {
	case to.KEKID():
		return nil, false, nil
	case from.KEKID():
	default:
		return nil, false, fmt.Errorf("keys: rewrap: %s is sealed under KEK %s, which is neither the configured KEK %s nor the new KEK %s; nothing was changed",
			what, kekID, from.KEKID(), to.KEKID())
	}
	plain, err := from.Open(sealed, aad)
	if err != nil {
		return nil, false, fmt.Errorf("keys: rewrap: %s: %w; nothing was changed", what, err)
	}
	defer clear(plain)
	out, err = to.Seal(plain, aad)
	if err != nil {
		return nil, false, fmt.Errorf("keys: rewrap: %s: %w", what, err)
	}
	return out, true, nil
}
