package provider

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Kinds of the provider's audit events.
const (
	EventTokenIssued          = "token_issued"           // a code exchange or client_credentials issued tokens
	EventTokenRefreshed       = "token_refreshed"        // a refresh token was rotated
	EventRefreshReuseDetected = "refresh_reuse_detected" // a rotated refresh token came back after the grace window
	EventCodeReuseDetected    = "code_reuse_detected"    // a redeemed code came back
	EventFamilyRevoked        = "family_revoked"         // every token of a grant was revoked (reuse or revocation)
	EventBackchannelLogout    = "backchannel_logout"     // a back-channel logout notice reached its final outcome
	EventAccessDenied         = "access_denied"          // a signed-in user was refused an application (reason=not_in_allowed_groups)
)

// Outcomes of EventBackchannelLogout (its Detail's outcome=).
const (
	LogoutDelivered = "delivered" // the RP answered 2xx
	LogoutRejected  = "rejected"  // the RP answered a 4xx: not retried
	LogoutGaveUp    = "gave_up"   // every attempt failed until the notice's deadline
	LogoutDropped   = "dropped"   // the client is gone, disabled or has no backchannel_logout_uri any more
)

// The provider's events say in their Detail, as space-separated key=value
// fields in this order: grant_type= (token_issued), outcome=, attempts=
// and status= (backchannel_logout: the final outcome, how many deliveries
// were attempted, the RP's last HTTP status when it answered), reason=
// (family_revoked: "reuse", "code_reuse" or "revocation"; access_denied:
// ReasonNotInAllowedGroups;
// backchannel_logout: the last failure). Only reason's value may hold
// spaces, so it comes last.

// DetailValue returns the value of the field key (one without spaces, as
// grant_type or outcome) in the Detail of one of the provider's events, or
// "".
func DetailValue(detail, key string) string {
	for f := range strings.SplitSeq(detail, " ") {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// LogLevel is the level of ev's log line: Warn for what an operator should
// look into (a reused refresh token or code, a back-channel logout that did
// not reach its app); Debug for a token issued or refreshed, which happens
// on nearly every token request, so that at the default level (Info) the
// token endpoint writes no line per request (the audit trail still records
// the event); Info for the rest, every event not the provider's included.
func LogLevel(ev storage.AuditEvent) slog.Level {
	switch {
	case ev.Kind == EventRefreshReuseDetected || ev.Kind == EventCodeReuseDetected ||
		(ev.Kind == EventBackchannelLogout && DetailValue(ev.Detail, "outcome") != LogoutDelivered):
		return slog.LevelWarn
	case ev.Kind == EventTokenIssued || ev.Kind == EventTokenRefreshed:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// record hands ev to the recorder (Config.Audit) at the provider's now,
// with no more of a session id than its first 8 characters.
func (p *Provider) record(ctx context.Context, ev storage.AuditEvent) {
	ev.Time = p.cfg.Now()
	ev.SessionID = sidPrefix(ev.SessionID)
	if err := p.audit.Record(ctx, ev); err != nil {
		p.log.ErrorContext(ctx, "audit: not recorded", "kind", ev.Kind, "err", err)
	}
}

// clientEvent is an event an application caused at the token or
// revocation endpoint; reason, when set, is its Detail's reason=.
func clientEvent(kind, clientID, userID, family, reason string) storage.AuditEvent {
	ev := storage.AuditEvent{Kind: kind, Actor: audit.ActorClient, ClientID: clientID, UserID: userID, Family: family}
	if reason != "" {
		ev.Detail = "reason=" + reason
	}
	return ev
}

// tokenIssued is the event of tokens issued by a grant.
func tokenIssued(clientID, userID, family, grantType string) storage.AuditEvent {
	ev := clientEvent(EventTokenIssued, clientID, userID, family, "")
	ev.Detail = "grant_type=" + grantType
	return ev
}

// logoutOutcome is the event of a back-channel logout notice's final
// outcome: attempts made, the RP's last status (0: it never answered) and
// the last failure.
func logoutOutcome(n storage.LogoutNotice, outcome string, attempts, status int, reason string) storage.AuditEvent {
	detail := []string{"outcome=" + outcome}
	if attempts > 0 {
		detail = append(detail, "attempts="+strconv.Itoa(attempts))
	}
	if status > 0 {
		detail = append(detail, "status="+strconv.Itoa(status))
	}
	if reason != "" {
		detail = append(detail, "reason="+reason)
	}
	return storage.AuditEvent{Kind: EventBackchannelLogout, Actor: audit.ActorSystem, ClientID: n.ClientID,
		UserID: n.UserID, SessionID: n.SessionID, Detail: strings.Join(detail, " ")}
}
