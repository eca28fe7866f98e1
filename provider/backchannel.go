package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/egress"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// OpenID Back-Channel Logout 1.0: when a session ends, the provider queues
// one notice per relying party that signed in through it and has a
// backchannel_logout_uri (signout.QueueNotices); a LogoutDelivery
// drains that queue in the background, POSTing each RP a freshly minted
// logout token, retrying with backoff until the notice's deadline. No user
// request ever waits for a relying party.
const (
	logoutJWTType          = "logout+jwt"
	backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
	// logoutTokenTTL is the life of a logout token: §4 of the spec
	// recommends at most about two minutes. A retry mints a new one.
	logoutTokenTTL = 2 * time.Minute
	// maxLogoutResponseBytes is how much of an RP's answer is read (and
	// thrown away) so the connection can be reused.
	maxLogoutResponseBytes = 4 << 10
	// Backoff after the n-th failed attempt: firstLogoutBackoff doubled
	// n-1 times, capped at maxLogoutBackoff, less up to a quarter of it
	// as jitter.
	firstLogoutBackoff = 2 * time.Second
	maxLogoutBackoff   = 5 * time.Minute
)

// LogoutDeliveryOptions tunes a LogoutDelivery. Zero fields take the
// defaults noted.
type LogoutDeliveryOptions struct {
	// HTTPClient posts the logout tokens. Nil means a client over a clone
	// of http.DefaultTransport. Whichever client is used, the delivery
	// works on a copy whose Timeout is Timeout and which never follows a
	// redirect (a 3xx answer is a failed attempt).
	//
	// For clients declared by the operator (clients.yaml, the admin API)
	// nothing about the destination is refused: loopback and private
	// addresses are reached like any other. For a client that registered
	// itself the delivery uses a copy whose transport connects only to
	// public addresses (package egress; over a clone of this client's
	// transport when that is an *http.Transport, else of the default).
	HTTPClient *http.Client
	// Timeout bounds one attempt, response included; default 5 s.
	Timeout time.Duration
	// Interval is how often Run looks for due notices when not kicked;
	// default 1 s.
	Interval time.Duration
	// Lease is how long a claimed notice is hidden from other deliveries
	// (other instances share the queue); default 30 s. An attempt that
	// could not finish within its lease is not started.
	Lease time.Duration
	// Batch is how many notices one pass claims (default 32), and Workers
	// how many of them are delivered at once (default 8).
	Batch   int
	Workers int
}

// LogoutDelivery delivers queued back-channel logout notices. Create it
// with Provider.NewLogoutDelivery, start Run in its own goroutine for the
// life of the server, and call Kick after queueing notices.
type LogoutDelivery struct {
	p    *Provider
	q    storage.LogoutNotices
	http *http.Client
	// public posts for clients that registered themselves: it connects
	// only to public addresses.
	public *http.Client
	opts   LogoutDeliveryOptions
	kick   chan struct{}
}

// NewLogoutDelivery returns a delivery that drains q with the provider's
// keys, clients, clock, logger and audit events.
func (p *Provider) NewLogoutDelivery(q storage.LogoutNotices, opts LogoutDeliveryOptions) *LogoutDelivery {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else if t, ok := http.DefaultTransport.(*http.Transport); ok {
		hc.Transport = t.Clone() // its own connection pool
	}
	hc.Timeout = opts.Timeout
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	public := hc
	base, _ := hc.Transport.(*http.Transport)
	public.Transport = egress.Transport(base)
	d := &LogoutDelivery{p: p, q: q, http: &hc, public: &public, opts: opts, kick: make(chan struct{}, 1)}
	// The provider's pages (sign-out, the account page) wake the latest
	// delivery after queueing notices.
	p.logouts.Store(d)
	return d
}

// kickLogouts wakes the back-channel logout delivery, if one runs.
func (p *Provider) kickLogouts() {
	if d := p.logouts.Load(); d != nil {
		d.Kick()
	}
}

// Kick asks Run to look for due notices now instead of at its next tick.
// It never blocks.
func (d *LogoutDelivery) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Enqueue queues the notices owed for the ended sessions (see
// signout.QueueNotices) and kicks the delivery. It returns how many
// it queued.
func (d *LogoutDelivery) Enqueue(ctx context.Context, ended []storage.Session) (int, error) {
	lookup := func(ctx context.Context, id string) (*storage.Client, error) {
		c, err := d.p.clients.get(ctx, id)
		if err != nil {
			return nil, err
		}
		return c.c, nil
	}
	n, err := signout.QueueNotices(ctx, d.q, lookup, ended, d.p.cfg.Now(), d.p.cfg.Random)
	if n > 0 {
		d.Kick()
	}
	return n, err
}

// Run delivers due notices every Interval, and at once when kicked, until
// ctx is done. It returns after the attempts in flight have finished and
// their outcomes are recorded.
func (d *LogoutDelivery) Run(ctx context.Context) {
	tick := time.NewTicker(d.opts.Interval)
	defer tick.Stop()
	for {
		// A full batch means more may be due: claim again at once.
		for ctx.Err() == nil {
			n, err := d.DeliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.p.log.WarnContext(ctx, "backchannel logout: claim notices", "error", err)
			}
			if err != nil || n < d.opts.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.kick:
		}
	}
}

// DeliverDue claims up to Batch due notices, makes one delivery attempt
// for each (Workers at a time) and records every outcome. It returns how
// many notices it claimed once all of them are handled, or the claim's
// error.
func (d *LogoutDelivery) DeliverDue(ctx context.Context) (int, error) {
	claimed := d.p.cfg.Now()
	notices, err := d.q.ClaimLogoutNotices(ctx, claimed, d.opts.Lease, d.opts.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim logout notices: %w", err)
	}
	sem := make(chan struct{}, d.opts.Workers)
	var wg sync.WaitGroup
	for _, n := range notices {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break // the rest come back when their lease expires
		}
		wg.Go(func() {
			defer func() { <-sem }()
			d.attempt(ctx, n, claimed)
		})
	}
	wg.Wait()
	return len(notices), nil
}

// attempt makes one delivery attempt of a claimed notice and records its
// outcome: deleted when final (delivered, rejected, dropped, gave up),
// rescheduled otherwise. Failures of the store or of the provider's own
// shutdown leave the notice claimed: it is picked up again once its lease
// expires, without counting an attempt.
func (d *LogoutDelivery) attempt(ctx context.Context, n storage.LogoutNotice, claimed time.Time) {
	c, err := d.p.clients.get(ctx, n.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		d.finish(ctx, n, n.Attempts, LogoutDropped, 0, "client is gone or disabled")
		return
	case err != nil:
		d.p.log.WarnContext(ctx, "backchannel logout: load client", "client", n.ClientID, "error", err)
		return
	case c.c.BackchannelLogoutURI == "":
		d.finish(ctx, n, n.Attempts, LogoutDropped, 0, "client has no backchannel_logout_uri")
		return
	case n.UserID == "" && n.SessionID == "":
		d.finish(ctx, n, n.Attempts, LogoutDropped, 0, "notice names neither user nor session")
		return
	}
	now := d.p.cfg.Now()
	if now.Add(d.opts.Timeout).After(claimed.Add(d.opts.Lease)) {
		// Another delivery may claim the notice before this attempt ends.
		d.p.log.WarnContext(ctx, "backchannel logout: lease too short, attempt left for later",
			"client", n.ClientID, "sid_prefix", sidPrefix(n.SessionID))
		return
	}
	attempts := n.Attempts + 1
	status, err := d.post(ctx, c.c, n, now)
	if err != nil && ctx.Err() != nil {
		return // shutting down: not the RP's failure
	}
	// The outcome of an attempt that was made is recorded even if ctx
	// ends meanwhile, so that a delivered notice is not sent again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var failure string
	switch {
	case err != nil:
		failure = err.Error()
	case status >= 200 && status < 300:
		d.p.log.InfoContext(ctx, "backchannel logout delivered", "client", n.ClientID, "attempt", attempts,
			"status", status, "sid_prefix", sidPrefix(n.SessionID))
		d.finish(ctx, n, attempts, LogoutDelivered, status, "")
		return
	case status >= 300 && status < 400:
		failure = fmt.Sprintf("status %d (redirects are not followed)", status)
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		failure = fmt.Sprintf("status %d", status)
	case status >= 400 && status < 500:
		failure = fmt.Sprintf("status %d: the RP rejected the logout token", status)
		d.p.log.WarnContext(ctx, "backchannel logout attempt failed", "client", n.ClientID, "attempt", attempts,
			"status", status, "error", failure, "sid_prefix", sidPrefix(n.SessionID))
		d.finish(ctx, n, attempts, LogoutRejected, status, failure)
		return
	default:
		failure = fmt.Sprintf("status %d", status)
	}
	now = d.p.cfg.Now()
	next := now.Add(logoutBackoff(attempts))
	final := !next.Before(n.Deadline)
	if final {
		d.p.log.WarnContext(ctx, "backchannel logout attempt failed", "client", n.ClientID, "attempt", attempts,
			"status", status, "error", failure, "sid_prefix", sidPrefix(n.SessionID), "final", true)
		d.finish(ctx, n, attempts, LogoutGaveUp, status, failure)
		return
	}
	d.p.log.WarnContext(ctx, "backchannel logout attempt failed", "client", n.ClientID, "attempt", attempts,
		"status", status, "error", failure, "sid_prefix", sidPrefix(n.SessionID), "next_attempt", next)
	if err := d.q.RetryLogoutNotice(ctx, n.ID, attempts, next, failure); err != nil && !errors.Is(err, storage.ErrNotFound) {
		d.p.log.ErrorContext(ctx, "backchannel logout: reschedule notice", "client", n.ClientID, "error", err)
	}
}

// finish deletes a notice that reached its final outcome and audits it.
func (d *LogoutDelivery) finish(ctx context.Context, n storage.LogoutNotice, attempts int, outcome string, status int, reason string) {
	if err := d.q.DeleteLogoutNotice(ctx, n.ID); err != nil {
		// It comes back when its lease expires: at worst the RP hears twice.
		d.p.log.ErrorContext(ctx, "backchannel logout: delete notice", "client", n.ClientID, "outcome", outcome, "error", err)
	}
	d.p.record(ctx, logoutOutcome(n, outcome, attempts, status, reason))
}

// post sends the RP a new logout token and returns its HTTP status. The
// error says why there is none; it never contains the token.
func (d *LogoutDelivery) post(ctx context.Context, c *storage.Client, n storage.LogoutNotice, now time.Time) (int, error) {
	token, err := d.p.mintLogoutToken(c, n, now)
	if err != nil {
		return 0, fmt.Errorf("mint logout token: %w", err)
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("backchannel_logout_uri: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := d.http
	if publicOnlyEgress(c) {
		hc = d.public
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error repeats the URI; the client id already names it.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLogoutResponseBytes))
	return resp.StatusCode, nil
}

// mintLogoutToken signs a logout token (Back-Channel Logout §2.4) for the
// notice, issued at now: typ logout+jwt, signed with the key of the
// algorithm the client's ID tokens use, carrying both sub and sid and never
// a nonce.
func (p *Provider) mintLogoutToken(c *storage.Client, n storage.LogoutNotice, now time.Time) (string, error) {
	jti, err := randomID(p.cfg.Random)
	if err != nil {
		return "", err
	}
	claims := &oidc.LogoutTokenClaims{
		Issuer:     p.cfg.Issuer,
		Subject:    n.UserID,
		Audience:   oidc.Audience{c.ID},
		IssuedAt:   oidc.FromTime(now),
		Expiration: oidc.FromTime(now.Add(logoutTokenTTL)),
		JWTID:      jti,
		Events:     map[string]any{backchannelLogoutEvent: struct{}{}},
		SessionID:  n.SessionID,
	}
	payload, err := claims.MarshalJSON()
	if err != nil {
		return "", err
	}
	return p.signJWS(cmp.Or(c.IDTokenSignedResponseAlg, p.cfg.SigningAlg), logoutJWTType, payload)
}

// logoutBackoff is the wait after the attempts-th failed attempt: 2 s,
// 4 s, 8 s … doubling up to 5 min, each less a random part of up to a
// quarter, so that notices failing together spread out, and each wait
// longer than the one before until the cap.
func logoutBackoff(attempts int) time.Duration {
	d := maxLogoutBackoff
	if attempts >= 1 && attempts < 16 {
		d = min(firstLogoutBackoff<<(attempts-1), maxLogoutBackoff)
	}
	return d - rand.N(d/4+1)
}

// sidPrefix is what logs and audit events show of a session id.
func sidPrefix(sid string) string {
	return sid[:min(8, len(sid))]
}
