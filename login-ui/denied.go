package loginui

import (
	"context"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
)

// AccessDenied is the page of a signed-in user whom an application does
// not admit (its allowed_groups): it says so, and takes the browser back
// to the application with the authorization error response.
type AccessDenied struct {
	ClientName string
	Username   string
	// RedirectURI is the request's redirect URI, checked against the
	// client's registration; Params is the error response (error, state,
	// iss…). With FormPost the page's button posts Params to RedirectURI
	// (response_mode=form_post); otherwise its link is BackURL, the
	// redirect URI with Params in its query.
	RedirectURI string
	Params      url.Values
	FormPost    bool
	BackURL     string
}

// RenderAccessDenied writes page with status 403. The link back (BackURL)
// may use a native app's private-use scheme, which html/template would
// otherwise blank: it is a registered redirect URI, so it is marked safe
// as a URL (and still escaped as an attribute). A form_post button's CSP
// allows form submissions to the redirect URI's origin only; a redirect
// URI FormPostOrigin refuses gets the plain error page.
func (u *UI) RenderAccessDenied(ctx context.Context, w http.ResponseWriter, page AccessDenied) {
	data := struct {
		Title, ClientName, Username string
		BackURL                     template.URL
		FormAction                  string
		Fields                      []formPostField
	}{Title: "You may not use " + page.ClientName, ClientName: page.ClientName, Username: page.Username}
	extraCSP := ""
	if page.FormPost {
		origin, ok := FormPostOrigin(page.RedirectURI)
		if !ok {
			u.RenderError(ctx, w, http.StatusForbidden, data.Title,
				"Your account may not use this application.", "access_denied")
			return
		}
		data.FormAction = page.RedirectURI
		for _, name := range slices.Sorted(maps.Keys(page.Params)) {
			for _, v := range page.Params[name] {
				data.Fields = append(data.Fields, formPostField{Name: name, Value: v})
			}
		}
		extraCSP = "form-action " + origin
	} else {
		data.BackURL = template.URL(page.BackURL)
	}
	u.renderWith(ctx, w, http.StatusForbidden, "denied", data, extraCSP)
}
