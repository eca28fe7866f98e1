package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestServeConsoleSetting: serve routes /admin to the console (a browser
// that is not signed in is sent to sign in), and with console: false
// there is no such page.
func TestServeConsoleSetting(t *testing.T) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		setting string
		status  int
		where   string
	}{{"", http.StatusSeeOther, "/login"}, {"false", http.StatusNotFound, ""}} {
		dir := t.TempDir()
		file := filepath.Join(dir, "clients.yaml")
		if err := os.WriteFile(file, []byte("clients: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"GATEHOUSE_DATABASE_URL": filepath.Join(dir, "g.db"), "GATEHOUSE_CLIENTS_FILE": file,
			"GATEHOUSE_LISTEN": "127.0.0.1:0", "GATEHOUSE_CONSOLE": tt.setting}
		_, addr, stop := startServe(t, env)
		res, err := client.Get("http://" + addr + "/admin/users")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tt.status || res.Header.Get("Location") != tt.where {
			t.Errorf("console=%q: GET /admin/users got %d to %q, want %d to %q", tt.setting, res.StatusCode, res.Header.Get("Location"), tt.status, tt.where)
		}
		stop()
	}
}
