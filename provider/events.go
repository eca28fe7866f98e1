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
	Reason    string // for family_revoked: "reuse", "code_reuse" or "revocation"
}

// emit hands an event to Config.Events, or logs it when that is nil.
func (p *Provider) emit(ctx context.Context, e Event) {
	e.Time = p.cfg.Now()
	if p.cfg.Events != nil {
		p.cfg.Events(ctx, e)
		return
	}
	level := slog.LevelInfo
	if e.Kind == EventRefreshReuseDetected || e.Kind == EventCodeReuseDetected {
		level = slog.LevelWarn
	}
	p.log.Log(ctx, level, "audit: "+e.Kind, "client", e.ClientID, "user", e.UserID,
		"family", e.Family, "grant_type", e.GrantType, "reason", e.Reason)
}
