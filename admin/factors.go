package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// FactorsReset is what ResetFactors removed.
type FactorsReset struct {
	TOTP          bool
	RecoveryCodes int
	Passkeys      int
	SignedOut     signout.Result
}

// ResetFactors removes every second factor of the user (their one-time
// code, recovery codes and passkeys), for someone who lost them, records
// user_factors_reset, then ends every session of the user: a session
// signed in with a removed factor does not outlive it. Refresh tokens
// stay. The user signs in next with the password alone, and sets up a
// factor again when one is required. A user with none is not an error
// (nothing is recorded, the sessions still end). storage.ErrNotFound when
// the user is not there.
func (s *Service) ResetFactors(ctx context.Context, who Actor, userID string) (FactorsReset, error) {
	var res FactorsReset
	if _, err := s.cfg.Store.UserByID(ctx, userID); err != nil {
		return res, err
	}
	var err error
	if res.TOTP, err = s.cfg.Store.DeleteTOTP(ctx, userID); err != nil {
		return res, err
	}
	if res.RecoveryCodes, err = s.cfg.Store.DeleteRecoveryCodes(ctx, userID); err != nil {
		return res, err
	}
	if res.Passkeys, err = s.cfg.Store.DeleteUserPasskeys(ctx, userID); err != nil {
		return res, err
	}
	var recErr error
	if res.TOTP || res.RecoveryCodes > 0 || res.Passkeys > 0 {
		totp := 0
		if res.TOTP {
			totp = 1
		}
		recErr = s.record(ctx, who, storage.AuditEvent{Kind: EventFactorsReset, UserID: userID,
			Detail: fmt.Sprintf("totp=%d recovery_codes=%d passkeys=%d", totp, res.RecoveryCodes, res.Passkeys)})
	}
	r, err := s.EndUserSessions(ctx, who, userID, "second factors reset", false)
	res.SignedOut = r
	return res, errors.Join(err, recErr)
}
