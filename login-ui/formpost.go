package loginui

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// formPostScript is the one script of the form_post page: it submits the
// form as soon as the page is read. The page's CSP allows exactly this
// text, by its hash (FormPostScriptHash), and no other script.
const formPostScript = `document.getElementById("response").submit();`

// FormPostScriptHash is the CSP hash source of the form_post page's script.
func FormPostScriptHash() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// FormPostOrigin returns the origin (scheme://host[:port]) a form_post
// response to redirectURI is posted to, as the CSP form-action source that
// allows exactly it. ok is false for a URI a browser cannot post a form to
// or CSP cannot name: a scheme other than http and https, or a host that
// is not a DNS name or an IPv4 address (CSP source expressions have no
// IPv6 literals).
func FormPostOrigin(redirectURI string) (origin string, ok bool) {
	u, err := url.Parse(redirectURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" ||
		strings.HasSuffix(u.Host, ":") || strings.Trim(port, "0123456789") != "" {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

type formPostField struct{ Name, Value string }

// RenderFormPost writes an authorization response in the form_post
// response mode (OAuth 2.0 Form Post Response Mode): a page whose form
// posts every parameter of params (each value of each, in name order) to
// redirectURI, submitted by the page's one script, or by hand from a
// <noscript> button. Besides the headers every page has, its CSP allows
// that script by its hash and form submissions to redirectURI's origin
// only. redirectURI must have been checked against the client's
// registration; one FormPostOrigin refuses gets a 400 error page.
func (u *UI) RenderFormPost(ctx context.Context, w http.ResponseWriter, redirectURI string, params url.Values) {
	origin, ok := FormPostOrigin(redirectURI)
	if !ok {
		u.RenderError(ctx, w, http.StatusBadRequest, "Invalid return address",
			"The application's return address cannot receive a form.", "invalid_request")
		return
	}
	var fields []formPostField
	for _, name := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[name] {
			fields = append(fields, formPostField{Name: name, Value: v})
		}
	}
	u.renderWith(ctx, w, http.StatusOK, "formpost", struct {
		Title, Action string
		Fields        []formPostField
		Script        template.JS
	}{"Returning to the application", redirectURI, fields, template.JS(formPostScript)},
		"script-src "+FormPostScriptHash()+"; form-action "+origin)
}
