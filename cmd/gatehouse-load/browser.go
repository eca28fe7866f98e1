package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// userAgent is sent on every request. Gatehouse ends a session whose
// User-Agent changes, so it must stay the same for a worker's whole life.
const userAgent = "gatehouse-load/1"

// maxBody caps how much of a response is read.
const maxBody = 1 << 20

// newHTTPClient returns the client every worker shares: one keep-alive
// transport with room for an idle connection per worker, and redirects
// never followed, so each step of a flow can be checked.
func newHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * concurrency
	tr.MaxIdleConnsPerHost = 2 * concurrency
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// browser is one worker's HTTP side. Its cookies are the browser's for the
// flow it is in: a plain name→value map, because Gatehouse's cookies are
// __Host- (Secure) cookies that net/http/cookiejar will not send back over
// http://localhost. A nil map sends and keeps no cookies.
type browser struct {
	client   *http.Client
	cookies  map[string]string
	requests int64 // HTTP requests sent, for the report
	// fixedHeader is getFixed's request header, built once (the client
	// does not change it).
	fixedHeader http.Header
	// dpop, when set, signs a DPoP proof for every request marked dpop
	// (the *_dpop scenarios).
	dpop *dpopKey
}

// newFlow forgets every cookie: the next request comes from a fresh
// browser.
func (b *browser) newFlow() { b.cookies = make(map[string]string) }

// answer is a fully read HTTP response.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	location *url.URL // the Location header resolved against the request URL; nil if none
}

// request describes one HTTP request of a flow.
type request struct {
	step   string // names the step in errors: "token", "login", ...
	method string
	url    string
	form   url.Values // sent as application/x-www-form-urlencoded when non-nil
	basic  [2]string  // client_secret_basic credentials when basic[0] != ""
	bearer string
	// dpop: a token or userinfo request, which carries a DPoP proof (and
	// its access token as "DPoP") when the browser has a DPoP key.
	dpop     bool
	sameSite bool // a same-origin form post, as a browser sends it
	want     []int
}

// do sends req and reads the answer. A status not in req.want is a
// *stepError; a failure to get an answer at all is a *transportError.
func (b *browser) do(ctx context.Context, req request) (answer, error) {
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return answer{}, &stepError{step: req.step, reason: "bad URL", detail: err.Error()}
	}
	hr.Header.Set("User-Agent", userAgent)
	if req.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.basic[0] != "" {
		// RFC 6749 §2.3.1: form-encode both before Basic.
		hr.SetBasicAuth(url.QueryEscape(req.basic[0]), url.QueryEscape(req.basic[1]))
	}
	scheme := "Bearer "
	if req.dpop && b.dpop != nil {
		proof, err := b.dpop.proof(req.method, req.url, req.bearer)
		if err != nil {
			return answer{}, &stepError{step: req.step, reason: "DPoP proof", detail: err.Error()}
		}
		hr.Header.Set("DPoP", proof)
		scheme = "DPoP "
	}
	if req.bearer != "" {
		hr.Header.Set("Authorization", scheme+req.bearer)
	}
	if req.sameSite {
		hr.Header.Set("Origin", hr.URL.Scheme+"://"+hr.URL.Host)
		hr.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if len(b.cookies) > 0 {
		pairs := make([]string, 0, len(b.cookies))
		for k, v := range b.cookies {
			pairs = append(pairs, k+"="+v)
		}
		hr.Header.Set("Cookie", strings.Join(pairs, "; "))
	}
	b.requests++
	resp, err := b.client.Do(hr)
	if err != nil {
		return answer{}, &transportError{step: req.step, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return answer{}, &transportError{step: req.step, err: err}
	}
	if b.cookies != nil {
		keepCookies(b.cookies, resp)
	}
	if n := resp.Header.Get("DPoP-Nonce"); n != "" && b.dpop != nil {
		b.dpop.nonce = n
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: data}
	if loc := resp.Header.Get("Location"); loc != "" {
		if a.location, err = hr.URL.Parse(loc); err != nil {
			return a, &stepError{step: req.step, status: a.status, reason: "bad Location header", detail: loc}
		}
	}
	for _, w := range req.want {
		if a.status == w {
			return a, nil
		}
	}
	return a, unexpected(req.step, a)
}

// getFixed is do for a GET of a fixed URL that only has to answer 200
// (discovery, the key set): the request is built from a parsed URL and the
// body is discarded, so that the generator, which shares the machine with
// the server, spends as little as it can per request.
func (b *browser) getFixed(ctx context.Context, step string, u *url.URL) error {
	if b.fixedHeader == nil {
		b.fixedHeader = http.Header{"User-Agent": {userAgent}}
	}
	hr := (&http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: b.fixedHeader,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(ctx)
	b.requests++
	resp, err := b.client.Do(hr)
	if err != nil {
		return &transportError{step: step, err: err}
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody)); err != nil {
		return &transportError{step: step, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return unexpected(step, answer{status: resp.StatusCode, header: resp.Header})
	}
	return nil
}

// keepCookies applies a response's Set-Cookie headers to jar: a cookie
// with an empty value, Max-Age < 0 or an Expires in the past is removed.
func keepCookies(jar map[string]string, resp *http.Response) {
	now := time.Now()
	for _, c := range resp.Cookies() {
		if c.Value == "" || c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now)) {
			delete(jar, c.Name)
			continue
		}
		jar[c.Name] = c.Value
	}
}

// unexpected describes an answer with a status the step did not expect:
// the OAuth error code of a JSON error, or the heading of an HTML page.
func unexpected(step string, a answer) *stepError {
	e := &stepError{step: step, status: a.status}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(a.body, &oauth) == nil && oauth.Error != "" {
		e.reason, e.detail = oauth.Error, oauth.Description
		return e
	}
	if m := heading.FindSubmatch(a.body); m != nil {
		e.detail = html.UnescapeString(string(m[1]))
	}
	if e.detail == "" && a.location != nil {
		e.detail = "redirect to " + a.location.String()
	}
	return e
}

var heading = regexp.MustCompile(`<h1[^>]*>([^<]*)</h1>`)

// pageAlert returns the error a Gatehouse form shows when it comes back
// refused ("That code is not right..."), "" if it shows none.
func pageAlert(page []byte) string {
	if m := alert.FindSubmatch(page); m != nil {
		return html.UnescapeString(string(m[1]))
	}
	return ""
}

var alert = regexp.MustCompile(`<p class="error" role="alert"[^>]*>([^<]*)</p>`)

// stepError is an answer the flow did not expect at one step.
type stepError struct {
	step   string
	status int    // HTTP status; 0 when the status was right but the content was not
	reason string // short and stable: an OAuth error code or what was wrong
	detail string // for people: a description, a page heading
	hint   string // what to configure, when the cause is clear
}

func (e *stepError) Error() string {
	var b strings.Builder
	b.WriteString(e.kind())
	if e.detail != "" {
		fmt.Fprintf(&b, ": %s", e.detail)
	}
	if e.hint != "" {
		fmt.Fprintf(&b, "\n  to fix: %s", e.hint)
	}
	return b.String()
}

// kind is the error's class in the report: status, reason and step, no
// detail that varies from one request to the next.
func (e *stepError) kind() string {
	var parts []string
	if e.status != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.status))
	}
	if e.reason != "" {
		parts = append(parts, e.reason)
	}
	return strings.Join(parts, " ") + " at " + e.step
}

// transportError is a request that got no HTTP answer.
type transportError struct {
	step string
	err  error
}

func (e *transportError) Error() string { return e.kind() + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (e *transportError) kind() string {
	var ne net.Error
	switch {
	case errors.Is(e.err, context.DeadlineExceeded), errors.As(e.err, &ne) && ne.Timeout():
		return "transport timeout at " + e.step
	case errors.Is(e.err, syscall.ECONNREFUSED):
		return "transport connection refused at " + e.step
	case errors.Is(e.err, syscall.ECONNRESET), errors.Is(e.err, io.EOF), errors.Is(e.err, io.ErrUnexpectedEOF):
		return "transport connection reset at " + e.step
	case errors.Is(e.err, syscall.EADDRNOTAVAIL):
		return "transport out of local ports at " + e.step
	default:
		return "transport error at " + e.step
	}
}

// asStepError returns err's *stepError, nil if it has none.
func asStepError(err error) *stepError {
	var se *stepError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// errorKind classes err for the report's error counts.
func errorKind(err error) string {
	var se *stepError
	var te *transportError
	switch {
	case errors.As(err, &se):
		return se.kind()
	case errors.As(err, &te):
		return te.kind()
	default:
		return err.Error()
	}
}

// inputTag and attribute pick hidden inputs out of a page. Gatehouse's
// pages come from html/template, so attribute values are always quoted.
var (
	inputTag  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attribute = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*"([^"]*)"`)
)

// hiddenFields returns the name and value of every <input type="hidden">
// in page, HTML entities decoded.
func hiddenFields(page []byte) url.Values {
	fields := url.Values{}
	for _, tag := range inputTag.FindAll(page, -1) {
		var typ, name, value string
		for _, m := range attribute.FindAllSubmatch(tag, -1) {
			v := html.UnescapeString(string(m[2]))
			switch strings.ToLower(string(m[1])) {
			case "type":
				typ = strings.ToLower(v)
			case "name":
				name = v
			case "value":
				value = v
			}
		}
		if typ == "hidden" && name != "" {
			fields.Set(name, value)
		}
	}
	return fields
}

// formAction returns the action of the first <form> in page resolved
// against base, or base itself when there is none.
func formAction(page []byte, base *url.URL) (*url.URL, error) {
	m := formTag.FindSubmatch(page)
	if m == nil {
		return base, nil
	}
	return base.Parse(html.UnescapeString(string(m[1])))
}

var formTag = regexp.MustCompile(`(?is)<form\b[^>]*\baction\s*=\s*"([^"]*)"`)
