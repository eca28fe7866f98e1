package provider

import (
	"context"
	"log/slog"
	"time"
)

// Kinds of Event.
const (
	EventTokenIssued          = "token_issued"           // a code exchange or client_credentials issued tokens
	EventTokenRefreshed       = "token_refreshed"        // a refresh token was rotated
	EventRefreshReuseDetected = "refresh_reuse_detected" // a rotated refresh token came back after the grace window
	EventCodeReuseDetected    = "code_reuse_detected"    // a redeemed code came back
	EventFamilyRevoked        = "family_revoked"         // every token of a grant was revoked (reuse or revocation)
	EventBackchannelLogout    = "backchannel_logout"     // a back-channel logout notice reached its final outcome (Outcome)
)

// Outcomes of EventBackchannelLogout.
const (
	LogoutDelivered = "delivered" // the RP answered 2xx
	LogoutRejected  = "rejected"  // the RP answered a 4xx: not retried
	LogoutGaveUp    = "gave_up"   // every attempt failed until the notice's deadline
	LogoutDropped   = "dropped"   // the client is gone, disabled or has no backchannel_logout_uri any more
)

// Event is one thing the audit trail records. Nothing secret is in it:
// no token, only the family id that names a grant.
type Event struct {
	Kind      string
	Time      time.Time
	ClientID  string
	UserID    string // empty for client_credentials
	Family    string // the grant's token family, when there is one
	GrantType string // for token_issued
	// Reason is, for family_revoked, "reuse", "code_reuse" or
	// "revocation"; for backchannel_logout, the last failure; for the
	// login UI's events (sign_in, consent_granted…), their Detail.
	Reason string
	// Outcome, Attempts and Status are for backchannel_logout: the final
	// outcome (LogoutDelivered…), how many deliveries were attempted and
	// the RP's last HTTP status (0 when it never answered).
	Outcome  string
	Attempts int
	Status   int
	// SessionID is the first 8 characters of the sid of the session the
	// event concerns (backchannel_logout and the login UI's events) —
	// never all of it.
	SessionID string
	// IP is the address of the browser a login UI event came from ("" for
	// the provider's own events).
	IP string
}

// LogLevel is the level of e's log line: Warn for what an operator should
// look into (a reused refresh token or code, a back-channel logout that did
// not reach its app); Debug for a token issued or refreshed, which happens
// on nearly every token request, so that at the default level (Info) the
// token endpoint writes no line per request (the audit trail still records
// the event); Info for the rest.
func (e Event) LogLevel() slog.Level {
	switch {
	case e.Kind == EventRefreshReuseDetected || e.Kind == EventCodeReuseDetected ||
		(e.Kind == EventBackchannelLogout && e.Outcome != LogoutDelivered):
		return slog.LevelWarn
	case e.Kind == EventTokenIssued || e.Kind == EventTokenRefreshed:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// emit hands an event to Config.Events, or logs it when that is nil.
func (p *Provider) emit(ctx context.Context, e Event) {
	e.Time = p.cfg.Now()
	if p.cfg.Events != nil {
		p.cfg.Events(ctx, e)
		return
	}
	level := e.LogLevel()
	if !p.log.Enabled(ctx, level) {
		return
	}
	attrs := []any{"client", e.ClientID, "user", e.UserID,
		"family", e.Family, "grant_type", e.GrantType, "reason", e.Reason, "ip", e.IP}
	if e.Kind == EventBackchannelLogout {
		attrs = append(attrs, "outcome", e.Outcome, "attempts", e.Attempts, "status", e.Status, "sid_prefix", e.SessionID)
	}
	p.log.Log(ctx, level, "audit: "+e.Kind, attrs...)
}
