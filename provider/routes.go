package provider

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Handler returns Gatehouse's whole URL surface. jwks serves the key set
// (keys.Manager's pre-serialized handler). more adds the routes of pages
// built on the login UI outside this package (the admin console: serve
// wires it), under the same request ids, metrics and cross-origin
// protection as every other route.
func (p *Provider) Handler(jwks http.Handler, more ...func(chi.Router)) http.Handler {
	r := chi.NewRouter()
	r.Use(p.withIssuer, nameSpan)
	r.Use(recordRoute)

	r.Get("/healthz", healthz)
	r.Head("/healthz", healthz)
	r.Get("/readyz", p.ready)
	if p.cfg.Metrics != nil && !p.cfg.MetricsOnAdmin {
		r.Method(http.MethodGet, "/metrics", p.cfg.Metrics.Handler())
	}
	// Discovery and the JWKS are public: any web page may read them. The
	// token, revocation, pushed authorization request and userinfo
	// endpoints serve the pages of public web clients only, each its own
	// (cors.go).
	discovery := anyOrigin(http.HandlerFunc(p.discoveryHandler))
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodOptions} {
		r.Method(m, "/.well-known/openid-configuration", discovery)
		r.Method(m, "/keys", anyOrigin(jwks))
	}

	r.Get(authorizePath, p.authorize)
	r.Post(authorizePath, p.authorize)
	r.Get(callbackPath, p.callback)
	r.Get(consentPath, p.consentPage)
	r.Post(consentPath, p.consent)
	r.Post(tokenPath, p.formClientCORS(p.token))
	r.Options(tokenPath, p.clientPreflight(http.MethodPost))
	r.Post(revokePath, p.formClientCORS(p.revoke))
	r.Options(revokePath, p.clientPreflight(http.MethodPost))
	r.Post(introspectPath, p.introspect)
	r.Post(parPath, p.formClientCORS(p.pushAuthorizationRequest))
	r.Options(parPath, p.clientPreflight(http.MethodPost))
	r.Get(userinfoPath, p.userinfoCORS(p.userinfo))
	r.Post(userinfoPath, p.userinfoCORS(p.userinfo))
	r.Options(userinfoPath, p.clientPreflight("GET, POST"))
	r.Post(deviceAuthorizationPath, p.deviceAuthorization)
	r.Get(devicePath, p.devicePage)
	r.Post(devicePath, p.deviceDecision)
	r.Get(endSessionPath, p.endSession)
	r.Post(endSessionPath, p.endSession)
	if p.cfg.Registration {
		r.Post(registerPath, p.register)
		r.Get(registerPath+"/{client_id}", p.readRegistration)
		r.Put(registerPath+"/{client_id}", p.updateRegistration)
		r.Delete(registerPath+"/{client_id}", p.deleteRegistration)
	}
	r.Get(signedOutPath, func(w http.ResponseWriter, r *http.Request) { p.ui.SignedOut(r.Context(), w, nil, "", "") })
	r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/account", http.StatusFound) })

	p.ui.Routes(r)
	for _, add := range more {
		add(r)
	}
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		p.ui.RenderError(req.Context(), w, http.StatusNotFound, "Not found", "There is no page at this address.", "")
	})

	// Fetch-metadata CSRF protection for every state-changing browser
	// request; the login and sign-out forms carry tokens as well. The token
	// and end_session endpoints are called cross-origin by design.
	csrf := http.NewCrossOriginProtection()
	csrf.AddInsecureBypassPattern("POST " + tokenPath)
	csrf.AddInsecureBypassPattern("POST " + revokePath)
	csrf.AddInsecureBypassPattern("POST " + introspectPath)
	csrf.AddInsecureBypassPattern("POST " + parPath)
	csrf.AddInsecureBypassPattern("POST " + userinfoPath)
	csrf.AddInsecureBypassPattern("POST " + endSessionPath)
	// Devices authenticate as clients, never with cookies.
	csrf.AddInsecureBypassPattern("POST " + deviceAuthorizationPath)
	// Registration is authorized by bearer tokens, never by cookies.
	csrf.AddInsecureBypassPattern("POST " + registerPath)
	csrf.AddInsecureBypassPattern("PUT " + registerPath + "/")
	csrf.AddInsecureBypassPattern("DELETE " + registerPath + "/")
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p.ui.RenderError(req.Context(), w, http.StatusForbidden, "Request refused",
			"This form was submitted from another site, so Gatehouse refused it.", "")
	}))
	// The request id comes first, so every response and log line has one.
	return p.withRequestID(p.countRequests(csrf.Handler(r)))
}

// AdminHandler returns the admin listener's surface (admin_listen):
// /healthz, /readyz and /metrics (Config.Metrics), nothing a browser or an
// application uses. Its requests are not counted.
func (p *Provider) AdminHandler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", healthz)
	r.Head("/healthz", healthz)
	r.Get("/readyz", p.ready)
	r.Method(http.MethodGet, "/metrics", p.cfg.Metrics.Handler())
	return r
}

// healthz answers 200 with the body "ok" while the process runs:
// liveness, as probes and scripts expect it (curl -f, grep ok). It touches
// no store; readiness is /readyz.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok\n"))
}

// withIssuer puts the issuer where op's building blocks look for it.
func (p *Provider) withIssuer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(op.ContextWithIssuer(r.Context(), p.cfg.Issuer)))
	})
}

// ready answers 200 when the store answers, 503 otherwise.
func (p *Provider) ready(w http.ResponseWriter, r *http.Request) {
	if err := p.health.Ping(r.Context()); err != nil {
		p.log.WarnContext(r.Context(), "readiness: store", "err", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok\n"))
}
