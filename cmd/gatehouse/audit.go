package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/provider"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Kinds of audit event recorded outside the provider and the login UI
// (whose kinds are provider.Event* and loginui.Event*).
const (
	auditKeyRotated          = admin.EventKeyRotated
	auditKeyRevoked          = admin.EventKeyRevoked
	auditUserCreated         = admin.EventUserCreated
	auditUserPasswordChanged = admin.EventUserPasswordChanged
	auditUserDisabled        = admin.EventUserDisabled
	auditUserEnabled         = admin.EventUserEnabled
	auditUserUpdated         = admin.EventUserUpdated
	auditUserDeleted         = admin.EventUserDeleted
	auditUsersImported       = "users_imported" // gatehouse users import (Detail: count=N file="…" [groups_created=a,b])
	auditMFAReset            = "mfa_reset"      // gatehouse users mfa reset (Detail: what was removed)
	auditClientCreated       = "client_created"
	auditClientChanged       = "client_changed"
	auditClientDisabled      = "client_disabled"
	auditClientsFileRefused  = "clients_file_refused" // same revision as the applied one, other clients

	// gatehouse groups (Detail: group=NAME; UserID: the member's).
	auditGroupCreated       = admin.EventGroupCreated
	auditGroupDeleted       = admin.EventGroupDeleted
	auditGroupMemberAdded   = admin.EventGroupMemberAdded
	auditGroupMemberRemoved = admin.EventGroupMemberRemoved

	// gatehouse clients token (Detail: token=ID expires=… max_uses=N).
	auditInitialTokenCreated = "initial_access_token_created"
	auditInitialTokenRevoked = "initial_access_token_revoked"
)

// Bounds of the audit sink.
const (
	auditBuffer       = 4096                   // events queued before they are dropped
	auditBatch        = 100                    // events per AppendAudit at most
	auditFlushEvery   = 200 * time.Millisecond // an event waits at most this long to be written
	auditWriteTimeout = 5 * time.Second        // one AppendAudit, and the final flush in all
	auditRetryMin     = 100 * time.Millisecond // wait before the first retry of a failed batch
	auditRetryMax     = 5 * time.Second        // longest wait between retries
	auditDropLogEvery = 10 * time.Second       // at most one line about dropped events per period
	maxAuditDetail    = 1024                   // bytes of Detail kept
)

// auditSink is serve's audit.Recorder, the provider's, the login UI's and
// the key rotation's. It writes audit events to the log at once, each at
// its level (provider.LogLevel: a token issued or refreshed only at Debug),
// and to the store in the background: Record never blocks a request. It
// also counts them in its metrics (countEvent), when it has any. Events
// queue in a bounded buffer that Run drains in batches. A batch the store
// refuses is kept and written again, with backoff, until the store takes
// it; meanwhile events wait in the buffer. Only when the buffer is full is
// an event dropped from the store (it is then logged at Info at least,
// whatever its level): counted, in the metrics by kind, and reported in
// one warning per auditDropLogEvery that says how many of each kind were
// lost. Create it with newAuditSink.
type auditSink struct {
	store  storage.AuditLog
	log    *slog.Logger
	now    func() time.Time
	events chan storage.AuditEvent
	// metrics counts events; nil counts nothing.
	metrics *metrics.Metrics
	// retryMin and retryMax bound the wait between attempts at a batch
	// (auditRetryMin, auditRetryMax); flushTimeout bounds the final flush
	// (auditWriteTimeout). Tests shorten them.
	retryMin, retryMax, flushTimeout time.Duration

	dropped atomic.Int64
	mu      sync.Mutex
	// Guarded by mu: the kinds dropped since the last warning, and when
	// that warning was logged.
	lost     map[string]int
	lastWarn time.Time
}

// newAuditSink returns a sink over store that queues up to buffer events.
// Nothing reaches the store until Run runs.
func newAuditSink(store storage.AuditLog, log *slog.Logger, now func() time.Time, buffer int) *auditSink {
	return &auditSink{store: store, log: log, now: now, events: make(chan storage.AuditEvent, buffer),
		retryMin: auditRetryMin, retryMax: auditRetryMax, flushTimeout: auditWriteTimeout, lost: make(map[string]int)}
}

// startAuditSink starts a sink over store for serve, counting events in m
// (nil: not counted). The returned stop
// ends it: it writes what is still queued (within auditWriteTimeout) and
// returns once that is done; events recorded after stop are only logged.
// serve calls stop after the HTTP server has drained, so the events of the
// last requests are written too.
func startAuditSink(ctx context.Context, store storage.AuditLog, log *slog.Logger, m *metrics.Metrics) (sink *auditSink, stop func()) {
	sink = newAuditSink(store, log, time.Now, auditBuffer)
	sink.metrics = m
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		sink.Run(ctx)
	}()
	return sink, func() {
		cancel()
		<-done
	}
}

// Record logs each event at its level (provider.LogLevel: a token issued
// or refreshed only at Debug) and queues it for the store, without
// blocking. A zero Time is now. It never fails: an event the store will
// never get is logged (at Info at least), counted and reported.
func (a *auditSink) Record(ctx context.Context, events ...storage.AuditEvent) error {
	for _, ev := range events {
		countEvent(a.metrics, ev)
		a.record(ctx, ev, provider.LogLevel(ev))
	}
	return nil
}

// countEvent counts in m what the metrics take from an audit event: tokens
// issued (a refresh counts as grant type refresh_token), sign-ins by
// result, refresh token reuse, back-channel logout outcomes, key rotations
// and consents. Other kinds count nothing; a nil m counts nothing.
func countEvent(m *metrics.Metrics, e storage.AuditEvent) {
	switch e.Kind {
	case provider.EventTokenIssued:
		m.TokenIssued(provider.DetailValue(e.Detail, "grant_type"), e.ClientID)
	case provider.EventTokenRefreshed:
		m.TokenIssued("refresh_token", e.ClientID)
	case provider.EventRefreshReuseDetected:
		m.RefreshReuseDetected()
	case provider.EventBackchannelLogout:
		m.BackchannelLogout(provider.DetailValue(e.Detail, "outcome"))
	case loginui.EventSignIn:
		m.SignIn(metrics.SignInSuccess)
	case loginui.EventSignInFailed:
		m.SignIn(metrics.SignInFailed)
	case loginui.EventSignInThrottled:
		m.SignIn(metrics.SignInThrottled)
	case loginui.EventConsentGranted:
		m.Consent(metrics.ConsentGranted)
	case loginui.EventConsentRevoked:
		m.Consent(metrics.ConsentRevoked)
	case auditKeyRotated:
		m.KeyRotated()
	}
}

func (a *auditSink) record(ctx context.Context, ev storage.AuditEvent, level slog.Level) {
	if ev.Time.IsZero() {
		ev.Time = a.now()
	}
	ev = cleanAuditEvent(ev)
	select {
	case a.events <- ev:
		audit.Log(ctx, a.log, level, ev)
	default:
		// The store will never have it: the log keeps it, at Info at
		// least, even when its level is below.
		audit.Log(ctx, a.log, max(level, slog.LevelInfo), ev)
		a.drop(ctx, ev.Kind)
	}
}

// drop counts an event of kind that the store will never get, and warns
// at once when no warning was logged for auditDropLogEvery; otherwise
// the kind waits for the next warning (reportDrops).
func (a *auditSink) drop(ctx context.Context, kind string) {
	a.lose(kind)
	a.reportDrops(ctx, false)
}

// lose counts an event of kind that the store will never get, for the next
// warning.
func (a *auditSink) lose(kind string) {
	a.dropped.Add(1)
	a.metrics.AuditDropped(kind)
	a.mu.Lock()
	a.lost[kind]++
	a.mu.Unlock()
}

// reportDrops logs one warning with the events dropped since the last one,
// by kind, if there are any and the last warning is at least
// auditDropLogEvery old, or at once when final.
func (a *auditSink) reportDrops(ctx context.Context, final bool) {
	now := a.now()
	a.mu.Lock()
	if len(a.lost) == 0 || !final && !a.lastWarn.IsZero() && now.Sub(a.lastWarn) < auditDropLogEvery {
		a.mu.Unlock()
		return
	}
	kinds := slices.Sorted(maps.Keys(a.lost))
	var n int
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		n += a.lost[k]
		parts[i] = k + "=" + strconv.Itoa(a.lost[k])
	}
	clear(a.lost)
	a.lastWarn = now
	a.mu.Unlock()
	a.log.WarnContext(ctx, "audit trail: events dropped, never to be stored: the store did not keep up (they are in this log, at info at least)",
		"dropped", n, "kinds", strings.Join(parts, " "), "dropped_total", a.dropped.Load())
}

// Dropped returns how many events the store never got: dropped because
// the buffer was full, or left unwritten when the final flush ran out of
// time.
func (a *auditSink) Dropped() int64 { return a.dropped.Load() }

// Run writes queued events to the store until ctx ends: a batch as soon as
// auditBatch events are queued, and whatever is queued every
// auditFlushEvery. A batch the store refuses is retried, waiting from
// retryMin, doubling, up to retryMax between attempts, while new events
// wait in the buffer. When ctx ends, Run writes the batch at hand and what
// is still queued, retrying too, within flushTimeout in all; events it
// could not write by then are dropped (counted and reported). Then it
// returns.
func (a *auditSink) Run(ctx context.Context) {
	t := time.NewTicker(auditFlushEvery)
	defer t.Stop()
	batch := make([]storage.AuditEvent, 0, auditBatch)
	// Writes outlive ctx: an event taken from the queue is written even
	// when shutdown starts meanwhile.
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case ev := <-a.events:
			batch = append(batch, ev)
			if len(batch) < auditBatch {
				continue
			}
		case <-t.C:
			a.reportDrops(ctx, false)
		case <-ctx.Done():
			a.flush(wctx, batch)
			return
		}
		if len(batch) == 0 {
			continue
		}
		if !a.writeRetrying(ctx, wctx, batch, t.C) {
			a.flush(wctx, batch) // ctx ended before the store took it
			return
		}
		batch = batch[:0]
	}
}

// writeRetrying writes batch, each attempt within auditWriteTimeout of
// wctx, retrying with backoff until one succeeds (true) or ctx ends
// (false). While it waits it reports dropped events on each tick.
func (a *auditSink) writeRetrying(ctx, wctx context.Context, batch []storage.AuditEvent, tick <-chan time.Time) bool {
	wait := a.retryMin
	for attempt := 1; ; attempt++ {
		wc, cancel := context.WithTimeout(wctx, auditWriteTimeout)
		err := a.store.AppendAudit(wc, batch)
		cancel()
		if err == nil {
			if attempt > 1 {
				a.log.InfoContext(ctx, "audit trail: the store took the events again", "events", len(batch), "attempts", attempt)
			}
			return true
		}
		a.metrics.AuditWriteFailed()
		a.log.ErrorContext(ctx, "audit trail: events not stored yet; retrying (they wait in memory)",
			"events", len(batch), "attempt", attempt, "retry_in", wait.String(), "err", err)
		timer := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-timer.C:
				break waiting
			case <-tick:
				a.reportDrops(ctx, false)
			case <-ctx.Done():
				timer.Stop()
				return false
			}
		}
		wait = min(2*wait, a.retryMax)
	}
}

// flush writes batch and everything still queued, in batches, retrying
// failed ones with backoff, all within flushTimeout. What it could not
// write by then is dropped, counted and reported.
func (a *auditSink) flush(wctx context.Context, batch []storage.AuditEvent) {
	fctx, cancel := context.WithTimeout(wctx, a.flushTimeout)
	defer cancel()
	for {
	fill:
		for len(batch) < auditBatch {
			select {
			case ev := <-a.events:
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			break
		}
		if !a.writeRetrying(fctx, fctx, batch, nil) {
			for _, ev := range batch {
				a.lose(ev.Kind)
			}
			for queued := true; queued; {
				select {
				case ev := <-a.events:
					a.lose(ev.Kind)
				default:
					queued = false
				}
			}
			break
		}
		batch = batch[:0]
	}
	a.reportDrops(wctx, true)
}

// pruneAudit deletes the audit events older than before, in batches of
// 500 (each a short transaction), until none is left.
func pruneAudit(ctx context.Context, store storage.AuditLog, before time.Time, log *slog.Logger) {
	const batch = 500
	for {
		n, err := store.PruneAudit(ctx, before, batch)
		if err != nil {
			log.Warn("prune audit events", "err", err)
			return
		}
		if n < batch {
			return
		}
	}
}

// cleanAuditEvent makes ev fit for the trail: no more of a session id than
// its first 8 characters, text Postgres can hold (valid UTF-8, no NUL; the
// User-Agent in a detail comes from a browser) and a bounded Detail.
func cleanAuditEvent(ev storage.AuditEvent) storage.AuditEvent {
	clean := func(s string) string {
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
			return s
		}
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	}
	for _, f := range []*string{&ev.Kind, &ev.UserID, &ev.ClientID, &ev.SessionID, &ev.Family, &ev.IP, &ev.Actor, &ev.Detail} {
		*f = clean(*f)
	}
	if len(ev.SessionID) > 8 {
		ev.SessionID = ev.SessionID[:8]
	}
	if len(ev.Detail) > maxAuditDetail {
		cut := maxAuditDetail
		for cut > 0 && !utf8.RuneStart(ev.Detail[cut]) {
			cut--
		}
		ev.Detail = ev.Detail[:cut] + "…"
	}
	return ev
}

// auditAppender is the audit.Recorder of the CLI: appendAudit.
type auditAppender struct{ store storage.AuditLog }

// Record stores the events at once (appendAudit).
func (a auditAppender) Record(ctx context.Context, events ...storage.AuditEvent) error {
	return appendAudit(ctx, a.store, events...)
}

// appendAudit stores events the CLI or a start-up step records, at once,
// in one AppendAudit: a zero Time is now. The events are not logged (the
// CLI prints what it did).
func appendAudit(ctx context.Context, store storage.AuditLog, events ...storage.AuditEvent) error {
	now := time.Now()
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = now
		}
		events[i] = cleanAuditEvent(events[i])
	}
	if err := store.AppendAudit(ctx, events); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	return nil
}

// auditedUsers is a users store whose changes at start are recorded in the
// audit trail.
type auditedUsers interface {
	storage.Users
	storage.Groups
	storage.AuditLog
}

// auditClientSync records what a clients sync changed: client_created,
// client_changed and client_disabled, one event per client, by actor
// ("system" for the sync at start, "operator" for a reload the operator
// asked for). A report with no change records nothing.
func auditClientSync(ctx context.Context, store storage.AuditLog, rep storage.SyncReport, actor string) error {
	var events []storage.AuditEvent
	for _, c := range []struct {
		kind string
		ids  []string
	}{
		{auditClientCreated, rep.Created}, {auditClientChanged, rep.Updated}, {auditClientDisabled, rep.Disabled},
	} {
		for _, id := range c.ids {
			events = append(events, storage.AuditEvent{Kind: c.kind, ClientID: id, Actor: actor, Detail: "clients.yaml"})
		}
	}
	return appendAudit(ctx, store, events...)
}
