// Package signout ends browser sessions. Ending a session is one domain
// action with one implementation, Ender.End (and Ender.EndUser for every
// session of a user): delete the sessions, queue a back-channel logout
// notice for every app that joined them, record the ending in the audit
// trail and, when the reason asks for it, revoke the users' refresh
// tokens. The login UI (sign-out, the account page, a new sign-in that
// replaces a session, a changed User-Agent), the provider's end_session
// (through the UI) and the CLI (`gatehouse sessions revoke`, `users
// passwd|disable`) all call it; only the reason differs.
//
// A session that simply expires is not ended here: the SQL stores' Prune
// deletes it and queues the same notices in one transaction (see
// storage.Sessions).
package signout

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Kinds of the audit events End records.
const (
	EventSignOut      = "sign_out"      // the user ended their current session
	EventSessionEnded = "session_ended" // any other ending: another session, everywhere, an operator, a new sign-in
)

// What an ending left undone. End's error wraps one of these for each
// step that failed, so a caller can tell a session that may still be
// alive (ErrNotEnded: a delete failed) from one that is over but whose
// follow-up failed (the others): the sessions End returns were deleted
// whatever it reports.
var (
	ErrNotEnded    = errors.New("sessions not ended")
	ErrNotNotified = errors.New("the sessions are ended, but their apps will not be told")
	ErrNotRecorded = errors.New("the sessions are ended, but not recorded")
	ErrNotRevoked  = errors.New("refresh tokens not revoked")
)

// NoticeQueue is the back-channel logout queue, as QueueNotices fills it.
type NoticeQueue interface {
	EnqueueLogoutNotices(ctx context.Context, notices []storage.LogoutNotice) error
}

// Store is what ending sessions needs from storage.
type Store interface {
	DeleteSession(ctx context.Context, id string) (*storage.Session, error)
	DeleteUserSessions(ctx context.Context, userID string) ([]storage.Session, error)
	NoticeQueue
	RevokeUserFamilies(ctx context.Context, userID, clientID string, now, keepUntil time.Time) (int, error)
}

// Reason says why sessions end and who ended them: it becomes the audit
// event of each ended session, and decides whether tokens are revoked.
type Reason struct {
	// Kind is the audit event's kind; "" means EventSessionEnded.
	Kind string
	// Actor is who ended the sessions ("user", "operator", "system").
	Actor string
	// IP is the address of the browser that asked, if one did.
	IP     string
	Detail string
	// RevokeTokens also revokes every refresh token family of the users
	// whose sessions end (for EndUser: of that user, sessions or not), so
	// that a changed password or a disabled account leaves no way in.
	RevokeTokens bool
}

// Result is what End did.
type Result struct {
	// Sessions are the sessions End deleted, as they were stored, in the
	// order deleted. Unknown ids have none.
	Sessions []storage.Session
	// Notices is how many back-channel logout notices were queued.
	Notices int
	// Families is how many refresh token families were revoked.
	Families int
}

// Config configures an Ender. Store and Clients are required.
type Config struct {
	Store Store
	// Clients looks up the clients that joined a session; a client that is
	// gone or disabled (ErrNotFound) gets no notice.
	Clients storage.ClientLookup
	// Record records the audit events of the ended sessions, one per
	// session, with the first 8 characters of its id, in one call; nil
	// records nothing. Its error is returned by End.
	Record audit.Recorder
	// Queued is called after notices were queued, to wake their delivery;
	// nil wakes nothing (the server finds them within a second).
	Queued func()
	// FamilyKeep is how long a revoked family is remembered (Reason
	// RevokeTokens): at least as long as an access token it issued lives.
	FamilyKeep time.Duration
	// Now and Random default to time.Now and crypto/rand.
	Now    func() time.Time
	Random io.Reader
}

// Ender ends sessions. Create it with New.
type Ender struct {
	cfg Config
}

// New returns an Ender with cfg.
func New(cfg Config) *Ender {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	return &Ender{cfg: cfg}
}

// End ends the sessions with those ids: it deletes them, one by one, and
// for every session it deleted queues the back-channel logout notices,
// records the audit event and revokes what why asks. Ids of sessions that
// do not exist are skipped. A failed delete stops the deletes (the error
// wraps ErrNotEnded), but the sessions deleted before it still get every
// later step: no deleted session is left untold or unrecorded. Each later
// step is attempted even when an earlier one failed (ErrNotNotified,
// ErrNotRecorded, ErrNotRevoked), and every error is returned, joined.
func (e *Ender) End(ctx context.Context, ids []string, why Reason) (Result, error) {
	var res Result
	var endErr error
	for _, id := range ids {
		s, err := e.cfg.Store.DeleteSession(ctx, id)
		if err != nil {
			endErr = fmt.Errorf("%w: delete session: %w", ErrNotEnded, err)
			break
		}
		if s != nil {
			res.Sessions = append(res.Sessions, *s)
		}
	}
	var users []string
	for _, s := range res.Sessions {
		if !slices.Contains(users, s.UserID) {
			users = append(users, s.UserID)
		}
	}
	return e.finish(ctx, res, users, why, endErr)
}

// EndUser ends every session of the user (live or expired but still
// stored), as End does.
func (e *Ender) EndUser(ctx context.Context, userID string, why Reason) (Result, error) {
	ended, err := e.cfg.Store.DeleteUserSessions(ctx, userID)
	if err != nil {
		err = fmt.Errorf("%w: user %s: %w", ErrNotEnded, userID, err)
	}
	return e.finish(ctx, Result{Sessions: ended}, []string{userID}, why, err)
}

// finish does what the deleted sessions of res owe: the notices first, so
// that a failure later never leaves their apps uninformed, then the audit
// events, then the revocation of the users' tokens.
func (e *Ender) finish(ctx context.Context, res Result, users []string, why Reason, endErr error) (Result, error) {
	errs := []error{endErr}
	now := e.cfg.Now()
	n, err := QueueNotices(ctx, e.cfg.Store, e.cfg.Clients, res.Sessions, now, e.cfg.Random)
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrNotNotified, err))
	}
	res.Notices = n
	if n > 0 && e.cfg.Queued != nil {
		e.cfg.Queued()
	}
	if e.cfg.Record != nil && len(res.Sessions) > 0 {
		if err := e.cfg.Record.Record(ctx, e.events(res.Sessions, why, now)...); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrNotRecorded, err))
		}
	}
	if why.RevokeTokens {
		for _, u := range users {
			n, err := e.cfg.Store.RevokeUserFamilies(ctx, u, "", now, now.Add(e.cfg.FamilyKeep))
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: user %s: %w", ErrNotRevoked, u, err))
				continue
			}
			res.Families += n
		}
	}
	return res, errors.Join(errs...)
}

// events are the audit events of the ended sessions.
func (e *Ender) events(ended []storage.Session, why Reason, now time.Time) []storage.AuditEvent {
	kind := why.Kind
	if kind == "" {
		kind = EventSessionEnded
	}
	events := make([]storage.AuditEvent, len(ended))
	for i, s := range ended {
		sid := s.ID
		if len(sid) > 8 {
			sid = sid[:8]
		}
		events[i] = storage.AuditEvent{Time: now, Kind: kind, UserID: s.UserID, SessionID: sid,
			IP: why.IP, Actor: why.Actor, Detail: why.Detail}
	}
	return events
}

// QueueNotices queues one back-channel logout notice for every client, of
// every ended session, that registered a backchannel_logout_uri, all in
// one insert, due at once and dropped after storage.LogoutNoticeTTL. It
// returns how many it queued. Clients that are gone or disabled get none.
// End calls it for the sessions it deletes; a failure here never keeps a
// session alive.
func QueueNotices(ctx context.Context, q NoticeQueue, clients storage.ClientLookup, ended []storage.Session, now time.Time, random io.Reader) (int, error) {
	if random == nil {
		random = rand.Reader
	}
	var notices []storage.LogoutNotice
	for _, s := range ended {
		for _, id := range s.Clients {
			c, err := clients(ctx, id)
			if errors.Is(err, storage.ErrNotFound) {
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
			notices = append(notices, storage.LogoutNotice{
				ID: base64.RawURLEncoding.EncodeToString(b), ClientID: id, UserID: s.UserID, SessionID: s.ID,
				CreatedAt: now, Deadline: now.Add(storage.LogoutNoticeTTL), NextAttempt: now,
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
