package provider

import (
	"context"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
)

// emitUI records one of the login UI's events (sign-in, sign-out, session
// anomalies, consent) in the provider's audit trail. Only the first 8
// characters of a session id go into it.
func (p *Provider) emitUI(ctx context.Context, e loginui.Event) {
	sid := e.SessionID
	if len(sid) > 8 {
		sid = sid[:8]
	}
	p.emit(ctx, Event{Kind: e.Kind, UserID: e.UserID, ClientID: e.ClientID, SessionID: sid, IP: e.IP, Reason: e.Detail})
}

// kickLogouts wakes the back-channel logout delivery, if one runs.
func (p *Provider) kickLogouts() {
	if d := p.logouts.Load(); d != nil {
		d.Kick()
	}
}
