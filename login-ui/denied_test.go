package loginui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The refusal page of a user an application does not admit is pinned
// (golden file): the account and the application named and escaped, a
// link back carrying the error response, 403, the usual headers.
func TestRenderAccessDeniedGolden(t *testing.T) {
	env := newUIEnv(t)
	rec := httptest.NewRecorder()
	env.u.RenderAccessDenied(t.Context(), rec, AccessDenied{
		ClientName: `Payroll <b>&</b>`, Username: `alice"><script>`,
		RedirectURI: "https://app.example/cb",
		BackURL:     "https://app.example/cb?error=access_denied&iss=https%3A%2F%2Fop.example&state=%22%3E%3Cx%3E",
	})
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	goldenCompare(t, "denied.golden", rec.Body.Bytes())
	if got, want := rec.Header().Get("Content-Security-Policy"), "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"; got != want {
		t.Errorf("CSP: got %q, want %q", got, want)
	}
	for _, bad := range []string{"<script>", "<b>"} {
		if strings.Contains(rec.Body.String(), bad) {
			t.Errorf("page holds %q unescaped:\n%s", bad, rec.Body)
		}
	}
}

// A native app's link back keeps its private-use scheme (html/template
// would blank a URL of a scheme it does not know), still escaped as an
// attribute; without a username the page names no account.
func TestRenderAccessDeniedNativeLink(t *testing.T) {
	env := newUIEnv(t)
	rec := httptest.NewRecorder()
	env.u.RenderAccessDenied(t.Context(), rec, AccessDenied{
		ClientName: "App", RedirectURI: "com.example.app:/oauth2redirect",
		BackURL: `com.example.app:/oauth2redirect?error=access_denied&state=a"b`,
	})
	body := rec.Body.String()
	if !strings.Contains(body, `href="com.example.app:/oauth2redirect?error=access_denied&amp;state=a%22b"`) {
		t.Errorf("native link back: want the private-use URI kept and escaped:\n%s", body)
	}
	if strings.Contains(body, "signed in as") || !strings.Contains(body, "Your account may not use") {
		t.Errorf("page without a username: want it to say \"Your account\":\n%s", body)
	}
}

// For response_mode=form_post the button posts the error response to the
// redirect URI, under a CSP that allows forms to its origin only and runs
// no script; a redirect URI no form can reach gets the plain error page.
func TestRenderAccessDeniedFormPost(t *testing.T) {
	env := newUIEnv(t)
	rec := httptest.NewRecorder()
	env.u.RenderAccessDenied(t.Context(), rec, AccessDenied{
		ClientName: "App", Username: "alice", RedirectURI: "https://app.example:8443/cb", FormPost: true,
		Params: url.Values{"error": {"access_denied"}, "state": {`"><x>`}, "iss": {testIssuer}},
	})
	body := rec.Body.String()
	for _, want := range []string{
		`<form method="post" action="https://app.example:8443/cb">`,
		`<input type="hidden" name="error" value="access_denied">`,
		`<input type="hidden" name="state" value="&#34;&gt;&lt;x&gt;">`,
		`<button type="submit">Back to App</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("form_post refusal: want %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, `class="button"`) {
		t.Errorf("form_post refusal has a script or a link:\n%s", body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, "; form-action https://app.example:8443") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q, want form-action https://app.example:8443 and no script-src", csp)
	}

	rec = httptest.NewRecorder()
	env.u.RenderAccessDenied(t.Context(), rec, AccessDenied{
		ClientName: "App", RedirectURI: "http://[::1]:8080/cb", FormPost: true, Params: url.Values{"error": {"access_denied"}},
	})
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "<form") || !strings.Contains(rec.Body.String(), "access_denied") {
		t.Errorf("form_post to a URI no form can reach: %d, want 403 without a form:\n%s", rec.Code, rec.Body)
	}
}
