package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// listenAdmin opens the admin listener at addr (admin_listen) and returns
// it with a server for h (provider.AdminHandler: /metrics, /healthz,
// /readyz); nil, nil and no error when addr is empty. The caller serves,
// logs and shuts it down with the main server.
func listenAdmin(addr string, h http.Handler, log *slog.Logger) (*http.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listen: %w", err)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}, ln, nil
}
