package conformance

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserFormPost: with response_mode=form_post, a real Chromium signs
// in through the login form and Gatehouse's auto-submitting page posts the
// response to the client's redirect URI, with iss (RFC 9207), for a success
// and for an error. The page's one script runs under its CSP (hash in
// script-src, form-action the client's origin); were either wrong, the
// browser would block the post and no response would arrive. The fault
// tried: op's form posted only state and code, with the CSP deleted.
func TestBrowserFormPost(t *testing.T) {
	ctx := chromium(t)
	s := startServerOn(t, "localhost")

	type posted struct {
		method string
		form   url.Values
	}
	got := make(chan posted, 4)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		_ = r.ParseForm()
		got <- posted{r.Method, r.PostForm}
		w.Write([]byte("<p id=done>app got the response</p>"))
	}))
	defer app.Close()
	rp := newRP(t, s, "native", "", app.URL+"/callback", oauth2.AuthStyleInParams)
	receive := func(what string) posted {
		t.Helper()
		select {
		case p := <-got:
			return p
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the app never received a form post\n%s", what, s.log())
		}
		return posted{}
	}

	f := newFlow()
	err := chromedp.Do(ctx,
		chromedp.Navigate(rp.authURL(f, oauth2.SetAuthURLParam("response_mode", "form_post"))),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		t.Fatalf("sign in with form_post: %v\n%s", err, s.log())
	}
	p := receive("success")
	if p.method != http.MethodPost || p.form.Get("iss") != s.issuer || p.form.Get("state") != f.state || p.form.Get("code") == "" {
		t.Fatalf("success response: %s %v, want a POST with code, state %q and iss %q", p.method, p.form, f.state, s.issuer)
	}
	if _, idt := rp.exchange(f, p.form.Get("code")); idt.Subject == "" {
		t.Error("ID token without sub")
	}

	// An error response: the scope lacks openid.
	f = newFlow()
	err = chromedp.Do(ctx,
		chromedp.Navigate(rp.authURL(f, oauth2.SetAuthURLParam("response_mode", "form_post"), oauth2.SetAuthURLParam("scope", "profile"))),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		t.Fatalf("error response with form_post: %v\n%s", err, s.log())
	}
	p = receive("error")
	if p.method != http.MethodPost || p.form.Get("error") != "invalid_scope" || p.form.Get("error_description") == "" ||
		p.form.Get("iss") != s.issuer || p.form.Get("state") != f.state || p.form.Has("code") {
		t.Errorf("error response: %s %v, want a POST with invalid_scope, error_description, state and iss", p.method, p.form)
	}
}
