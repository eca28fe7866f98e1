package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	formPostAction = regexp.MustCompile(`<form id="response" method="post" action="([^"]*)">`)
	formPostInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	inlineScript   = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// formPostPage is a form_post response as a browser reads it.
type formPostPage struct {
	action  string
	fields  url.Values
	scripts []string
	csp     string
	body    string
}

func parseFormPost(t *testing.T, rec *httptest.ResponseRecorder) formPostPage {
	t.Helper()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("form_post response: status %d, Content-Type %q, Location %q; want 200 with an HTML page",
			rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Location"))
	}
	body := rec.Body.String()
	p := formPostPage{fields: url.Values{}, csp: rec.Header().Get("Content-Security-Policy"), body: body}
	m := formPostAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("form_post page has no response form:\n%s", body)
	}
	p.action = html.UnescapeString(m[1])
	for _, f := range formPostInput.FindAllStringSubmatch(body, -1) {
		p.fields.Add(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	for _, s := range inlineScript.FindAllStringSubmatch(body, -1) {
		p.scripts = append(p.scripts, s[1])
	}
	return p
}

// cspDirective returns the sources of one directive of a CSP.
func cspDirective(csp, name string) (string, bool) {
	for d := range strings.SplitSeq(csp, ";") {
		d = strings.TrimSpace(d)
		if n, rest, _ := strings.Cut(d, " "); n == name {
			return rest, true
		}
	}
	return "", false
}

// checkFormPostHeaders: the page keeps every security header, and its CSP
// allows exactly its one script (by hash) and posting to the client's
// origin, nothing inline otherwise.
func checkFormPostHeaders(t *testing.T, rec *httptest.ResponseRecorder, p formPostPage, origin string) {
	t.Helper()
	if len(p.scripts) != 1 {
		t.Fatalf("form_post page: %d inline scripts, want exactly 1", len(p.scripts))
	}
	sum := sha256.Sum256([]byte(p.scripts[0]))
	wantHash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	for name, want := range map[string]string{
		"default-src":     "'none'",
		"script-src":      wantHash,
		"form-action":     origin,
		"frame-ancestors": "'none'",
		"base-uri":        "'none'",
	} {
		if got, ok := cspDirective(p.csp, name); !ok || got != want {
			t.Errorf("CSP %s: got %q (present %v), want %q; CSP %q", name, got, ok, want, p.csp)
		}
	}
	if strings.Contains(p.csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", p.csp)
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(p.body) {
		t.Errorf("form_post page has an inline event handler, which the CSP blocks:\n%s", p.body)
	}
	for name, want := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(p.body, "<noscript>") || !regexp.MustCompile(`(?s)<noscript>.*<button type="submit">.*</noscript>`).MatchString(p.body) {
		t.Errorf("form_post page has no <noscript> submit button:\n%s", p.body)
	}
}

// form_post used to go through op's template, which posts only state and
// code: iss (RFC 9207, promised by discovery), error and error_description
// were lost, and the page went out with its CSP deleted. Every response
// parameter must be posted, success and error, under a CSP that still
// holds.
func TestFormPostResponse(t *testing.T) {
	e := newTestEnv(t)
	jar := e.signedInJar(t)
	const hostileState = `"><script>alert(1)</script><input name="code" value="x` + "' & \u00e9 \x7f"

	t.Run("success", func(t *testing.T) {
		rec, _ := e.authorizeAs(t, jar, "web", url.Values{"response_mode": {"form_post"}, "state": {hostileState}})
		p := parseFormPost(t, rec)
		if p.action != webRedirect {
			t.Errorf("form action: got %q, want %q", p.action, webRedirect)
		}
		if len(p.fields) != 3 || len(p.fields["code"]) != 1 || p.fields.Get("code") == "" ||
			p.fields.Get("state") != hostileState || p.fields.Get("iss") != testIssuer {
			t.Errorf("posted fields: got %v, want exactly code, state (unchanged) and iss=%s", p.fields, testIssuer)
		}
		if strings.Contains(p.body, "<script>alert") || strings.Count(p.body, "<input") != 3 {
			t.Errorf("the hostile state broke out of its attribute:\n%s", p.body)
		}
		checkFormPostHeaders(t, rec, p, "https://app.example")
	})

	t.Run("error", func(t *testing.T) {
		rec, _ := e.authorizeAs(t, jar, "web", url.Values{"response_mode": {"form_post"}, "state": {hostileState}, "scope": {"profile"}})
		p := parseFormPost(t, rec)
		if p.action != webRedirect || p.fields.Get("error") != "invalid_scope" || p.fields.Get("error_description") == "" ||
			p.fields.Get("state") != hostileState || p.fields.Get("iss") != testIssuer || p.fields.Has("code") {
			t.Errorf("error response: action %q, fields %v; want invalid_scope with error_description, state and iss, no code", p.action, p.fields)
		}
		checkFormPostHeaders(t, rec, p, "https://app.example")
	})

	t.Run("login_required without a session", func(t *testing.T) {
		rec, _ := e.authorizeAs(t, cookieJar{}, "web", url.Values{"response_mode": {"form_post"}, "prompt": {"none"}})
		p := parseFormPost(t, rec)
		if p.fields.Get("error") != "login_required" || p.fields.Get("state") != "st" || p.fields.Get("iss") != testIssuer {
			t.Errorf("prompt=none error: fields %v, want login_required with state and iss", p.fields)
		}
		checkFormPostHeaders(t, rec, p, "https://app.example")
	})

	t.Run("consent denied", func(t *testing.T) {
		rec, _ := e.authorizeAs(t, jar, "third", url.Values{"response_mode": {"form_post"}})
		form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
		form.Set("decision", "deny")
		p := parseFormPost(t, e.postFrom(jar, consentPath, form))
		if p.fields.Get("error") != "access_denied" || p.fields.Get("error_description") == "" || p.fields.Get("iss") != testIssuer {
			t.Errorf("denied consent: fields %v, want access_denied with a description and iss", p.fields)
		}
	})

	t.Run("native loopback on a chosen port", func(t *testing.T) {
		verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
		q := url.Values{
			"client_id": {"native"}, "redirect_uri": {"http://127.0.0.1:51234/callback"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"st"}, "response_mode": {"form_post"},
			"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
		}
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
		jar.add(req)
		rec := e.do(req)
		p := parseFormPost(t, rec)
		if p.action != "http://127.0.0.1:51234/callback" || p.fields.Get("code") == "" || p.fields.Get("iss") != testIssuer {
			t.Errorf("native form_post: action %q fields %v", p.action, p.fields)
		}
		checkFormPostHeaders(t, rec, p, "http://127.0.0.1:51234")
	})
}

// A redirect URI no form can be posted to, or that CSP cannot name, gets
// form_post refused with invalid_request in the query, never a page whose
// form-action allows more than the client.
func TestFormPostRefusedForUnpostableRedirect(t *testing.T) {
	e := newTestEnv(t)
	for _, redirect := range []string{"com.example.app:/oauth2redirect", "http://[::1]:8080/callback"} {
		t.Run(redirect, func(t *testing.T) {
			verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
			q := url.Values{
				"client_id": {"native"}, "redirect_uri": {redirect}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"st"}, "response_mode": {"form_post"},
				"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
			}
			rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil))
			loc := mustParseURL(t, rec.Header().Get("Location"))
			if rec.Code != http.StatusFound || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("iss") != testIssuer ||
				!strings.HasPrefix(loc.String(), redirect) {
				t.Errorf("form_post to %s: %d to %q, want a query redirect with invalid_request and iss", redirect, rec.Code, loc)
			}
		})
	}
}
