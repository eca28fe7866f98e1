package loginui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The form_post page's rendered HTML is pinned, so a change to it (or to
// its one script, whose hash the CSP carries) is seen.
func TestRenderFormPostGolden(t *testing.T) {
	env := newUIEnv(t)
	rec := httptest.NewRecorder()
	env.u.RenderFormPost(t.Context(), rec, "https://app.example/cb?tenant=1&x=y", url.Values{
		"code": {"c0de"}, "state": {`"><script>alert(1)</script>`}, "iss": {testIssuer},
	})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	goldenCompare(t, "formpost.golden", rec.Body.Bytes())
	wantCSP := "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; script-src " +
		FormPostScriptHash() + "; form-action https://app.example"
	if got := rec.Header().Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("CSP: got %q, want %q", got, wantCSP)
	}
	if !strings.Contains(rec.Body.String(), "<script>"+formPostScript+"</script>") {
		t.Errorf("the page's script is not exactly the hashed one:\n%s", rec.Body)
	}
}

// FormPostOrigin names exactly the origin a form may be posted to, and
// refuses what a browser cannot post to or CSP cannot express.
func TestFormPostOrigin(t *testing.T) {
	for _, tt := range []struct {
		uri, want string
		ok        bool
	}{
		{"https://app.example/cb", "https://app.example", true},
		{"https://app.example:8443/cb?x=1", "https://app.example:8443", true},
		{"http://127.0.0.1:51234/callback", "http://127.0.0.1:51234", true},
		{"http://localhost:3000/cb", "http://localhost:3000", true},
		{"https://app.example", "https://app.example", true},

		{"com.example.app:/oauth2redirect", "", false},
		{"javascript:alert(1)", "", false},
		{"http://[::1]:8080/callback", "", false},
		{"https://user@app.example/cb", "", false},
		{"https:///cb", "", false},
		{"https://app.example:/cb", "", false},
		{"https://app_example/cb", "", false},
		{"https://app.example;script-src/cb", "", false},
		{"https://app.example%20x/cb", "", false},
		{"", "", false},
	} {
		got, ok := FormPostOrigin(tt.uri)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormPostOrigin(%q): got %q, %v; want %q, %v", tt.uri, got, ok, tt.want, tt.ok)
		}
	}
}

// A redirect URI no form can go to gets an error page, never a form.
func TestRenderFormPostRefusesUnpostable(t *testing.T) {
	env := newUIEnv(t)
	rec := httptest.NewRecorder()
	env.u.RenderFormPost(t.Context(), rec, "com.example.app:/cb", url.Values{"code": {"c"}})
	if rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), "<form") {
		t.Errorf("status %d, want 400 without a form:\n%s", rec.Code, rec.Body)
	}
}
