// Package metrics is Gatehouse's Prometheus instrumentation: every metric
// the server exports, on a registry of its own (never the default one),
// served by Handler in the text exposition format.
//
// A nil *Metrics is valid and measures nothing, so the packages that take
// one (provider, the storage backends through their observers) need no
// checks. The package imports nothing of Gatehouse's: callers translate
// their own types (audit events, pool statistics) into its calls.
//
// Names start with gatehouse_. Every label has a bounded set of values:
// routes are chi's patterns (never a raw path), methods the standard ones,
// clients those of clients.yaml, store operations the command or statement
// kinds of the backends' own code.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values Gatehouse uses.
const (
	// OtherRoute is the route of a request no route matched.
	OtherRoute = "other"

	SignInSuccess   = "success"
	SignInFailed    = "failed"
	SignInThrottled = "throttled"

	ConsentGranted = "granted"
	ConsentRevoked = "revoked"
)

// SessionsCacheFor is how long Handler reuses the number of active sessions
// it read from the store, so that scrapes, however frequent, cost the store
// at most one count per period.
const SessionsCacheFor = 10 * time.Second

// sessionsReadTimeout bounds one count of the active sessions.
const sessionsReadTimeout = 2 * time.Second

// Metrics holds Gatehouse's collectors and their registry. Create it with
// New; the zero value is not usable, but a nil *Metrics is (it measures
// nothing).
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	tokensIssued *prometheus.CounterVec
	signIns      *prometheus.CounterVec
	refreshReuse prometheus.Counter
	backchannel  *prometheus.CounterVec
	keyRotations prometheus.Counter
	consents     *prometheus.CounterVec
	storeCalls   *prometheus.HistogramVec
	storeErrors  *prometheus.CounterVec
	auditDropped *prometheus.CounterVec
	auditFailed  prometheus.Counter
	// activeSessions is nil until WatchActiveSessions.
	activeSessions atomic.Pointer[sessionGauge]
	clientsFile    *clientsFileMetrics
}

// New returns metrics registered on a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"other\" when none matched), method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokens_issued_total",
			Help: "Token responses issued, by grant type (authorization_code, refresh_token, client_credentials) and client.",
		}, []string{"grant_type", "client"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_sign_ins_total",
			Help: "Password sign-ins, by result: success, failed or throttled.",
		}, []string{"result"}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_refresh_reuse_detected_total",
			Help: "Rotated refresh tokens presented again after the grace window (each revoked its family).",
		}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_backchannel_logout_deliveries_total",
			Help: "Back-channel logout notices that reached a final outcome: delivered, rejected, gave_up or dropped.",
		}, []string{"outcome"}),
		keyRotations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_key_rotations_total",
			Help: "Signing keys created by a rotation on this instance.",
		}),
		consents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_consents_total",
			Help: "Consents users gave or withdrew, by action: granted or revoked.",
		}, []string{"action"}),
		storeCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_store_call_duration_seconds",
			Help:    "Time of one call to a store's server (a Postgres statement, a Redis command or pipeline), by backend and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"backend", "op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_store_errors_total",
			Help: "Calls to a store's server that failed (not counting a missing row or key, or a refused duplicate), by backend.",
		}, []string{"backend"}),
		auditDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_audit_events_dropped_total",
			Help: "Audit events never stored because the sink's buffer was full (they are still in the log), by kind.",
		}, []string{"kind"}),
		auditFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_audit_write_failures_total",
			Help: "Writes of a batch of audit events that failed and are retried.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.tokensIssued, m.signIns, m.refreshReuse,
		m.backchannel, m.keyRotations, m.consents, m.storeCalls, m.storeErrors,
		m.auditDropped, m.auditFailed,
	)
	m.clientsFile = newClientsFileMetrics(m.reg)
	// Series that exist from the start, so that rates and alerts see 0
	// rather than nothing.
	for _, r := range []string{SignInSuccess, SignInFailed, SignInThrottled} {
		m.signIns.WithLabelValues(r)
	}
	for _, a := range []string{ConsentGranted, ConsentRevoked} {
		m.consents.WithLabelValues(a)
	}
	return m
}

// Registry returns the registry every metric is on, for Gather in tests
// and for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text format. Before each
// scrape it refreshes the number of active sessions when the value it has
// is older than SessionsCacheFor, within the scrape's context. A nil
// *Metrics answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := m.activeSessions.Load(); g != nil {
			g.refresh(r.Context())
		}
		h.ServeHTTP(w, r)
	})
}

// ObserveHTTP counts one answered request. route is the pattern that
// served it ("" or OtherRoute when none did), method the request's (any
// but the standard methods becomes "other"), status the response's.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = OtherRoute
	}
	method = normalMethod(method)
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// normalMethod returns method if it is a standard HTTP method, else
// "other": clients choose the method, so it must not become a label as
// sent.
func normalMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// TokenIssued counts a token response for client by grant type
// ("authorization_code", "refresh_token", "client_credentials").
func (m *Metrics) TokenIssued(grantType, client string) {
	if m == nil {
		return
	}
	m.tokensIssued.WithLabelValues(grantType, client).Inc()
}

// SignIn counts a sign-in attempt by result: SignInSuccess, SignInFailed
// or SignInThrottled.
func (m *Metrics) SignIn(result string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(result).Inc()
}

// RefreshReuseDetected counts a rotated refresh token presented again.
func (m *Metrics) RefreshReuseDetected() {
	if m == nil {
		return
	}
	m.refreshReuse.Inc()
}

// BackchannelLogout counts a logout notice's final outcome.
func (m *Metrics) BackchannelLogout(outcome string) {
	if m == nil {
		return
	}
	m.backchannel.WithLabelValues(outcome).Inc()
}

// KeyRotated counts a signing key a rotation created.
func (m *Metrics) KeyRotated() {
	if m == nil {
		return
	}
	m.keyRotations.Inc()
}

// Consent counts a consent given (ConsentGranted) or withdrawn
// (ConsentRevoked).
func (m *Metrics) Consent(action string) {
	if m == nil {
		return
	}
	m.consents.WithLabelValues(action).Inc()
}

// AuditDropped counts an audit event of kind that was never stored. Kinds
// are the audit trail's own (a fixed set in the code), never client input.
func (m *Metrics) AuditDropped(kind string) {
	if m == nil {
		return
	}
	m.auditDropped.WithLabelValues(kind).Inc()
}

// AuditWriteFailed counts a failed write of a batch of audit events.
func (m *Metrics) AuditWriteFailed() {
	if m == nil {
		return
	}
	m.auditFailed.Inc()
}

// Observe records one call to a store's server: the storage backends'
// observer (their Options.Observer). err is a failure; backends pass nil
// for answers such as "no row" or "duplicate", which are not failures.
func (m *Metrics) Observe(backend, op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeCalls.WithLabelValues(backend, op).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(backend).Inc()
	}
}

// WatchActiveSessions exports gatehouse_sessions_active: the number count
// returns, read by Handler at most once per SessionsCacheFor. count gets
// the scrape's context (bounded to 2 s) and the current time. While the
// last read failed the gauge is left out of the scrape, so it goes stale
// instead of showing a wrong number. Call it once.
func (m *Metrics) WatchActiveSessions(count func(ctx context.Context, now time.Time) (int64, error), now func() time.Time) {
	if m == nil {
		return
	}
	g := &sessionGauge{
		count: count,
		now:   now,
		desc: prometheus.NewDesc("gatehouse_sessions_active",
			"Browser sessions live now, read from the session store at most every 10 s.", nil, nil),
	}
	m.reg.MustRegister(g)
	m.activeSessions.Store(g)
}

// sessionGauge is gatehouse_sessions_active: a value read from the store
// by refresh and reported by Collect.
type sessionGauge struct {
	count func(ctx context.Context, now time.Time) (int64, error)
	now   func() time.Time
	desc  *prometheus.Desc

	mu    sync.Mutex // held during a read, so concurrent scrapes share it
	value int64
	err   error
	at    time.Time // of the last read; zero before the first
}

// refresh reads the count again if the last read is SessionsCacheFor old.
func (g *sessionGauge) refresh(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.at.IsZero() && now.Sub(g.at) < SessionsCacheFor {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sessionsReadTimeout)
	defer cancel()
	g.value, g.err = g.count(ctx, now)
	g.at = now
}

func (g *sessionGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *sessionGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	v, err, read := g.value, g.err, !g.at.IsZero()
	g.mu.Unlock()
	if read && err == nil {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(v))
	}
}
