package loginui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// pages holds one parsed template per page, each wrapped in the base layout.
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"login", "error", "account", "signedout", "confirm", "consent", "formpost",
		"factor", "enrol", "codes", "verify", "passkey", "password", "denied", "forgot", "reset", "device"} {
		t, err := template.ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("loginui: parse %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render writes a page with the security headers. Rendering into a buffer
// first means a template failure yields a clean 500, not half a page.
func (u *UI) render(ctx context.Context, w http.ResponseWriter, status int, name string, data any) {
	u.renderWith(ctx, w, status, name, data, "")
}

// renderWith is render with extra Content-Security-Policy directives
// (frameSources, the set-up page's data: image) merged into the standard
// policy (mergeCSP).
func (u *UI) renderWith(ctx context.Context, w http.ResponseWriter, status int, name string, data any, extraCSP string) {
	var buf bytes.Buffer
	if err := u.pages.byName[name].ExecuteTemplate(&buf, "base", data); err != nil {
		u.log.ErrorContext(ctx, "render page", "page", name, "err", err)
		SecurityHeaders(w.Header())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	if extraCSP != "" {
		w.Header().Set("Content-Security-Policy", mergeCSP(w.Header().Get("Content-Security-Policy"), extraCSP))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

type errorPage struct {
	Title   string
	Message string
	Code    string
}

// RenderError is the one HTML error renderer of Gatehouse: a page with a
// title, a message for a person, and optionally the protocol error code.
// Never pass internal error text as message. ctx is the request's.
func (u *UI) RenderError(ctx context.Context, w http.ResponseWriter, status int, title, message, code string) {
	u.render(ctx, w, status, "error", errorPage{Title: title, Message: message, Code: code})
}

func assetsHandler() (http.Handler, error) {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("loginui: assets: %w", err)
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})), nil
}

// frameSources is the CSP directive that lets the signed-out page frame
// the front-channel logout URLs of these origins, and nothing else.
func frameSources(origins []string) string {
	var b strings.Builder
	for _, o := range origins {
		// Origins come from clients.yaml URIs validated at load; anything
		// that could break out of the directive is dropped all the same.
		if o == "" || strings.ContainsAny(o, " ;,'\"\n\r") {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("frame-src")
		}
		b.WriteString(" " + o)
	}
	return b.String()
}

// mergeCSP returns policy with the directives of extra: one that policy
// has already replaces it (a browser obeys only the first of two
// directives with one name), the others are appended.
func mergeCSP(policy, extra string) string {
	directives := strings.Split(policy, "; ")
	for _, d := range strings.Split(extra, "; ") {
		name, _, _ := strings.Cut(d, " ")
		i := slices.IndexFunc(directives, func(x string) bool { n, _, _ := strings.Cut(x, " "); return n == name })
		if i >= 0 {
			directives[i] = d
		} else {
			directives = append(directives, d)
		}
	}
	return strings.Join(directives, "; ")
}
