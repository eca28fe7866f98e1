package loginui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// sessionStore keeps the browser's sign-in session and reads its user.
type sessionStore interface {
	CreateSession(ctx context.Context, s *storage.Session) error
	Session(ctx context.Context, id string, now time.Time) (*storage.Session, error)
	UpdateSession(ctx context.Context, s *storage.Session, now time.Time) error
	UserByID(ctx context.Context, id string) (*storage.User, error)
}

// touchInterval: a session used again within it is not written back unless
// something about it changed (a new application, another IP), so a session
// check costs one store read.
const touchInterval = time.Minute

// Kinds of the audit events the UI reports.
const (
	EventSignIn              = "sign_in"
	EventSignInFailed        = "sign_in_failed"
	EventSignInThrottled     = "sign_in_throttled"
	EventSignOut             = signout.EventSignOut         // the user ended their current session
	EventSessionEnded        = signout.EventSessionEnded    // a session ended by the account page (another session, or everywhere)
	EventSessionIPChanged    = "session_ip_changed"         // a session came back from another IP
	EventSessionAgentChanged = "session_user_agent_changed" // a session came back from another User-Agent
	EventConsentGranted      = "consent_granted"
	EventConsentRevoked      = "consent_revoked"
)

// record hands one of the UI's events to the recorder (Config.Recorder)
// at the UI's now: the user did it (Actor), and only the first 8
// characters of a session id go into it. IP is the address of the browser
// the event came from (ClientIP); Detail is a short explanation.
func (u *UI) record(ctx context.Context, ev storage.AuditEvent) {
	ev.Time, ev.Actor, ev.SessionID = u.now(), audit.ActorUser, shortID(ev.SessionID)
	if err := u.recorder.Record(ctx, ev); err != nil {
		u.log.ErrorContext(ctx, "audit: not recorded", "kind", ev.Kind, "err", err)
	}
}

// shortID is as much of a session id as may be logged.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// newSession builds the session a sign-in starts, with its deadlines.
func (u *UI) newSession(r *http.Request, id string, user *storage.User, remember bool, clients []string) *storage.Session {
	now := u.now()
	abs := u.cfg.AbsoluteTimeout
	if remember {
		abs = u.cfg.RememberFor
	}
	s := &storage.Session{
		ID: id, UserID: user.ID, AuthTime: now, AMR: []string{"pwd"},
		UserAgent: truncate(r.UserAgent(), 512), IP: u.ClientIP(r),
		CreatedAt: now, LastSeen: now, AbsoluteExpiresAt: now.Add(abs),
		Remember: remember, Clients: clients,
	}
	s.ExpiresAt = u.idleDeadline(s, now)
	return s
}

// idleDeadline is when s ends if unused from now on: the idle timeout (for
// a remembered session, its whole life) but never past its absolute limit.
func (u *UI) idleDeadline(s *storage.Session, now time.Time) time.Time {
	idle := u.cfg.IdleTimeout
	if s.Remember && u.cfg.RememberFor > 0 {
		idle = u.cfg.RememberFor
	}
	exp := now.Add(idle)
	if !s.AbsoluteExpiresAt.IsZero() && exp.After(s.AbsoluteExpiresAt) {
		exp = s.AbsoluteExpiresAt
	}
	return exp
}

// UseSession returns the browser's live session and user, recording the
// use: ReadSession, then RecordUse with clientID. It costs one store read,
// plus one write when the session was last written over a minute ago or
// something changed.
func (u *UI) UseSession(ctx context.Context, w http.ResponseWriter, r *http.Request, clientID string) (*storage.Session, *storage.User, error) {
	s, user, err := u.ReadSession(ctx, w, r)
	if err != nil {
		return nil, nil, err
	}
	if err := u.RecordUse(ctx, r, s, clientID); err != nil {
		return nil, nil, err
	}
	return s, user, nil
}

// ReadSession returns the browser's live session and user (CurrentSession)
// and checks its User-Agent: a change is audited and ends the session
// (unless configured to keep it), which then, like no session at all,
// gives ErrNoSession. It writes nothing else; RecordUse records the use.
func (u *UI) ReadSession(ctx context.Context, w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, error) {
	s, user, err := u.CurrentSession(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	if ua := truncate(r.UserAgent(), 512); ua != s.UserAgent {
		u.record(ctx, storage.AuditEvent{Kind: EventSessionAgentChanged, UserID: s.UserID, SessionID: s.ID, IP: u.ClientIP(r), Detail: ua})
		if !u.cfg.KeepOnUserAgentChange {
			why := signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: "its browser's User-Agent changed"}
			if _, err := u.endSessions(ctx, []string{s.ID}, why); err != nil {
				return nil, nil, err
			}
			clearCookie(w, SessionCookie)
			return nil, nil, ErrNoSession
		}
	}
	return s, user, nil
}

// RecordUse records a use of session s, read by ReadSession or
// CurrentSession for request r: clientID (when not "") joins the session's
// applications, the idle deadline moves on, and a new IP (audited) or a
// new User-Agent (when configured to keep it) is recorded. Only an application that is
// given a code joins: one whose consent page is still open joins when the
// user allows it, never before. s is updated in place. It writes only when
// the session was last written over a minute ago or something changed, and
// returns ErrNoSession when the session ended meanwhile.
func (u *UI) RecordUse(ctx context.Context, r *http.Request, s *storage.Session, clientID string) error {
	now := u.now()
	changed := false
	// A changed User-Agent is recorded only where it is kept; otherwise
	// ReadSession, at the next authorization, ends the session.
	if ua := truncate(r.UserAgent(), 512); ua != s.UserAgent && u.cfg.KeepOnUserAgentChange {
		s.UserAgent, changed = ua, true
	}
	if ip := u.ClientIP(r); ip != s.IP {
		u.record(ctx, storage.AuditEvent{Kind: EventSessionIPChanged, UserID: s.UserID, SessionID: s.ID, IP: ip, Detail: s.IP + " → " + ip})
		s.IP, changed = ip, true
	}
	if clientID != "" && !slices.Contains(s.Clients, clientID) {
		s.Clients, changed = append(slices.Clone(s.Clients), clientID), true
	}
	if !changed && now.Sub(s.LastSeen) < touchInterval {
		return nil
	}
	s.LastSeen = now
	s.ExpiresAt = u.idleDeadline(s, now)
	err := u.store.UpdateSession(ctx, s, now)
	if errors.Is(err, storage.ErrNotFound) {
		// Ended between the read and the write.
		return ErrNoSession
	}
	if err != nil {
		return fmt.Errorf("session update: %w", err)
	}
	return nil
}

// EndCurrentSession ends the browser's session, if any (signout.Ender:
// deleted, its applications queued back-channel logout notices, the
// sign-out recorded), and clears its cookie once the store has forgotten
// it. It returns the ended session
// (nil if there was none) for the front-channel logout iframes.
func (u *UI) EndCurrentSession(ctx context.Context, w http.ResponseWriter, r *http.Request) (*storage.Session, error) {
	v := cookieValue(r, SessionCookie)
	if v == "" {
		clearCookie(w, SessionCookie)
		return nil, nil
	}
	ended, err := u.endSessions(ctx, []string{Hash(v)}, signout.Reason{Actor: audit.ActorUser, Kind: EventSignOut, IP: u.ClientIP(r)})
	if err != nil {
		return nil, err
	}
	clearCookie(w, SessionCookie)
	if len(ended) == 0 {
		return nil, nil
	}
	return &ended[0], nil
}

// endSessions ends the sessions with those ids (signout.Ender.End) and
// returns those it ended. An error means a delete failed, and sessions
// may still be alive. A failure after the sessions were deleted (queueing
// their back-channel logout notices) is logged, never undone by keeping
// the session: the user is signed out all the same.
func (u *UI) endSessions(ctx context.Context, ids []string, why signout.Reason) ([]storage.Session, error) {
	res, err := u.ender.End(ctx, ids, why)
	return u.ended(ctx, res, err)
}

// ended is endSessions' answer for what an Ender did.
func (u *UI) ended(ctx context.Context, res signout.Result, err error) ([]storage.Session, error) {
	if errors.Is(err, signout.ErrNotEnded) {
		return res.Sessions, err
	}
	if err != nil {
		u.log.ErrorContext(ctx, "end sessions", "sessions", len(res.Sessions), "err", err)
	}
	return res.Sessions, nil
}

// FrontChannelFrame is one front-channel logout iframe of the signed-out
// page.
type FrontChannelFrame struct {
	ClientName string
	URL        string
}

// frontChannelFrames lists the front-channel logout URLs of the clients
// of the ended sessions, each once per session, with iss and sid when the
// client asked for them.
func (u *UI) frontChannelFrames(ctx context.Context, ended []storage.Session) []FrontChannelFrame {
	var frames []FrontChannelFrame
	for _, s := range ended {
		for _, id := range s.Clients {
			c, err := u.clients(ctx, id)
			if err != nil || c.FrontchannelLogoutURI == "" {
				continue
			}
			target := c.FrontchannelLogoutURI
			if c.FrontchannelLogoutSessionRequired {
				target = addQuery(target, "iss", u.cfg.Issuer, "sid", s.ID)
			}
			frames = append(frames, FrontChannelFrame{ClientName: c.Name, URL: target})
		}
	}
	return frames
}
