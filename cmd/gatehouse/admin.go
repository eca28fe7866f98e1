package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gatehouse-idp/gatehouse/adminapi"
)

// listenAdmin opens the admin listener at addr (admin_listen) and returns
// it with a server for h (provider.AdminHandler: /metrics, /healthz,
// /readyz), plus the Go profiler under /debug/pprof/ when withPprof
// (admin_pprof); nil, nil and no error when addr is empty. The caller
// serves, logs and shuts it down with the main server.
func listenAdmin(addr string, h http.Handler, withPprof bool, log *slog.Logger) (*http.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listen: %w", err)
	}
	if withPprof {
		h = withProfiler(h)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Also the longest CPU profile or trace (?seconds=) pprof will take.
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, ln, nil
}

// withProfiler serves net/http/pprof's handlers under /debug/pprof/ and
// everything else with h. The handlers are registered here, on a mux of
// our own; the copies net/http/pprof puts on http.DefaultServeMux are
// never served.
func withProfiler(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, allocs, …
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}

// withAdminAPI serves the admin API (adminapi.Prefix and below) with api
// and everything else with h.
func withAdminAPI(h http.Handler, api *adminapi.API) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(adminapi.Prefix+"/", api.Handler())
	mux.Handle("/", h)
	return mux
}
