package provider

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// routeKey is the context key of the *string in which recordRoute leaves,
// for countRequests, the pattern of the route that served a request.
type routeKey struct{}

// countRequests counts every request in Config.Metrics (a no-op without
// one): its route, method, status and duration. It wraps the whole surface,
// CSRF check included, so refused requests are counted too. The route is
// the chi pattern recordRoute leaves, never the path, so ids in paths
// never become labels; a request no route served (not found, refused before
// routing) counts as route "other".
func (p *Provider) countRequests(next http.Handler) http.Handler {
	m := p.cfg.Metrics
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var route string
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeKey{}, &route)))
		m.ObserveHTTP(route, r.Method, sw.status(), time.Since(start))
	})
}

// recordRoute runs inside the router: once the handler has run, when chi
// has the matched pattern, it leaves it for countRequests.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if route, ok := r.Context().Value(routeKey{}).(*string); ok {
			*route = chi.RouteContext(r.Context()).RoutePattern()
		}
	})
}

// statusWriter remembers the status of the response it writes.
type statusWriter struct {
	http.ResponseWriter
	code int // 0 until the header is written
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx are interim
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status is the response's status; 200 for a handler that wrote nothing.
func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
