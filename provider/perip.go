package provider

import (
	"context"
	"net/http"
	"strconv"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A public client proves nothing but its client_id, so anyone may call in
// its name the endpoints that store a row for it: a push (PAR, a row for
// pushedRequestTTL) or a device authorization (a row for deviceCodeTTL
// plus deviceKeep). Such calls of public clients are therefore counted
// per client IP (an IPv6 client's /64) on the sign-in throttle counters
// (storage.LoginThrottle), one budget per endpoint: the first perIPFree go
// ahead at once; after that each must come a delay after the latest one
// counted, doubling from perIPDelay up to perIPMaxDelay, or it is answered
// 429 with Retry-After and nothing is stored. A counter lapses
// perIPWindow after its latest call, so a client that waits out the
// longest delay starts afresh. Every call counts, refused ones too (they
// cost the same checks); only a call that failed on Gatehouse's side (no
// randomness, the store) is given back. Confidential clients, which
// authenticate, are not counted.
const (
	perIPFree     = 30
	perIPDelay    = time.Second
	perIPMaxDelay = time.Minute
	perIPWindow   = time.Minute
)

// perIPBudget is one endpoint's budget: its counters' key prefix and what
// its 429 calls the requests.
type perIPBudget struct {
	prefix string
	what   string
}

var (
	parBudget    = perIPBudget{prefix: "par-ip:", what: "pushed requests"}
	deviceBudget = perIPBudget{prefix: "device-auth-ip:", what: "device authorizations"}
)

// perIPThrottle counts the calls of public clients (the sign-in throttle
// counters).
type perIPThrottle interface {
	ReserveLoginAttempt(ctx context.Context, limits []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error)
	ReleaseLoginAttempt(ctx context.Context, a *storage.LoginAttempt, forget []string) error
}

// reservePerIP counts a call of public client c against the request's
// client IP in budget b, before its parameters are checked. When the IP
// must wait it answers 429 (RFC 9126 §2.3 names 429 for a client over the
// server's request rate; RFC 8628 leaves it to the server) with
// Retry-After and the error code invalid_request; when the store fails,
// 503 with Retry-After (never a 4xx). In both cases nothing is counted or
// stored and ok is false.
func (p *Provider) reservePerIP(w http.ResponseWriter, r *http.Request, c *client, b perIPBudget) (a *storage.LoginAttempt, ok bool) {
	ip := p.ui.ClientIPKey(r)
	limits := []storage.ThrottleLimit{{Key: b.prefix + ip, Free: perIPFree, Delay: perIPDelay, MaxDelay: perIPMaxDelay}}
	a, wait, err := p.perIP.ReserveLoginAttempt(r.Context(), limits, p.cfg.Now(), perIPWindow)
	if err != nil {
		p.storeError(w, r, "count "+b.what+" per IP", err)
		return nil, false
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		p.log.DebugContext(r.Context(), "throttled per IP", "what", b.what, "client_id", c.c.ID, "ip", ip, "retry_after", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("too many %s from this address; retry after %d seconds", b.what, secs), http.StatusTooManyRequests)
		return nil, false
	}
	return a, true
}

// givePerIPBack takes back a counted call (a from reservePerIP; nil:
// none) that failed on Gatehouse's side. It outlives the request's
// cancellation; a failure is logged and leaves the call counted.
func (p *Provider) givePerIPBack(ctx context.Context, a *storage.LoginAttempt) {
	if a == nil {
		return
	}
	if err := p.perIP.ReleaseLoginAttempt(context.WithoutCancel(ctx), a, nil); err != nil {
		p.log.WarnContext(ctx, "give back a call counted per IP", "err", err)
	}
}
