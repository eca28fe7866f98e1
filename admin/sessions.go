package admin

import (
	"context"
	"errors"
	"strconv"

	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// EndSession ends the session with that full id for who: its apps are
// told (back-channel logout) and session_ended is recorded. A session
// that does not exist ends nothing (an empty Result, no error). Refresh
// tokens stay valid. Errors are signout's (ErrNotEnded, ErrNotNotified,
// ErrNotRecorded), joined.
func (s *Service) EndSession(ctx context.Context, who Actor, id, why string) (signout.Result, error) {
	return s.ender.End(ctx, []string{id}, s.reason(who, why, false))
}

// EndUserSessions ends every session of the user for who; with
// revokeTokens every refresh token family of the user is revoked too, so
// that no way in is left.
func (s *Service) EndUserSessions(ctx context.Context, who Actor, userID, why string, revokeTokens bool) (signout.Result, error) {
	return s.ender.EndUser(ctx, userID, s.reason(who, why, revokeTokens))
}

func (s *Service) reason(who Actor, why string, revokeTokens bool) signout.Reason {
	ev := who.event(storage.AuditEvent{Detail: why})
	return signout.Reason{Actor: ev.Actor, Detail: ev.Detail, RevokeTokens: revokeTokens}
}

// RevokeConsent withdraws the user's consent to the client and revokes
// every refresh token family the user holds for it (their access tokens
// stop working at userinfo and introspection), then records
// consent_revoked; storage.ErrNotFound when there is no such consent. It
// returns how many families were revoked.
func (s *Service) RevokeConsent(ctx context.Context, who Actor, userID, clientID string) (int, error) {
	if _, err := s.cfg.Store.Consent(ctx, userID, clientID); err != nil {
		return 0, err
	}
	if err := s.cfg.Store.DeleteConsent(ctx, userID, clientID); err != nil {
		return 0, err
	}
	now := s.cfg.Now()
	n, err := s.cfg.Store.RevokeUserFamilies(ctx, userID, clientID, now, now.Add(s.cfg.FamilyKeep))
	if err != nil {
		return 0, errors.Join(signout.ErrNotRevoked, err)
	}
	detail := strconv.Itoa(n) + " token families revoked"
	if n == 1 {
		detail = "1 token family revoked"
	}
	return n, s.record(ctx, who, storage.AuditEvent{Time: now, Kind: EventConsentRevoked, UserID: userID, ClientID: clientID, Detail: detail})
}
