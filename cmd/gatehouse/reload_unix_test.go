//go:build unix

package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServeAppliesClientsOnSIGHUP runs serve in-process and sends this
// process SIGHUP: the changed clients.yaml applies to the very next request,
// although the provider had the client cached.
func TestServeAppliesClientsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clients.yaml")
	write := func(redirect string) {
		content := "clients:\n  - client_id: app\n    token_endpoint_auth_method: none\n    redirect_uris: [" + redirect + "]\n"
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("https://a.example/cb")
	env := map[string]string{
		"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"),
		"GATEHOUSE_CLIENTS_FILE": file,
		"GATEHOUSE_LISTEN":       "127.0.0.1:0",
	}
	logs, addr, _ := startServe(t, env)
	if !strings.Contains(logs.String(), `"msg":"gatehouse ready","issuer":"http://localhost:8080"`) {
		t.Errorf("the issuer is not logged at start:\n%s", logs)
	}
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(redirect string) int {
		t.Helper()
		resp, err := noRedirects.Get("http://" + addr + "/authorize?client_id=app&redirect_uri=" + url.QueryEscape(redirect))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := authorize("https://a.example/cb"); got != http.StatusFound {
		t.Fatalf("authorize with the registered redirect: got %d, want 302 (an error sent back to the app)", got)
	}

	write("https://b.example/cb")
	// SIGHUP kills a process that does not catch it: serve does once it
	// has logged that it watches the clients file.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reload", func() bool { return strings.Count(logs.String(), `"msg":"clients synced"`) == 2 })
	if got := authorize("https://a.example/cb"); got != http.StatusBadRequest {
		t.Errorf("authorize with the redirect removed by the reload: got %d, want 400", got)
	}
	if got := authorize("https://b.example/cb"); got != http.StatusFound {
		t.Errorf("authorize with the redirect added by the reload: got %d, want 302", got)
	}
}
