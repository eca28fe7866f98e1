package main

import (
	"net/http"
	"testing"
)

// TestServeAdminPprof checks where the profiler answers: on the admin
// listener only with admin_pprof, never on the main listener.
func TestServeAdminPprof(t *testing.T) {
	tests := []struct {
		name      string
		pprof     string
		wantAdmin int
	}{
		{"on", "true", http.StatusOK},
		{"off", "false", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, adminAddr := metricsServe(t, map[string]string{
				"GATEHOUSE_ADMIN_LISTEN": "127.0.0.1:0",
				"GATEHOUSE_ADMIN_PPROF":  tt.pprof,
			})
			if adminAddr == "" {
				t.Fatal("no admin listener logged")
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
				if code, _ := get(t, adminAddr, path); code != tt.wantAdmin {
					t.Errorf("GET %s on the admin listener: got %d, want %d", path, code, tt.wantAdmin)
				}
				if code, _ := get(t, addr, path); code != http.StatusNotFound {
					t.Errorf("GET %s on the main listener: got %d, want 404", path, code)
				}
			}
			// The admin listener's own routes are still served beside it.
			for path, want := range map[string]int{"/healthz": http.StatusOK, "/metrics": http.StatusOK} {
				if code, _ := get(t, adminAddr, path); code != want {
					t.Errorf("GET %s on the admin listener: got %d, want %d", path, code, want)
				}
			}
		})
	}
}
