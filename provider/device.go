package provider

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The device authorization grant (RFC 8628). A device (a TV, a
// command-line tool) asks /device_authorization for a device code and a
// user code; its user opens /device in a browser, signs in (single sign-on
// and second factors as for any sign-in), types the user code (or follows
// verification_uri_complete, which only fills it in), sees which
// application asks for what, and allows or denies it; meanwhile the device
// polls the token endpoint (devicegrant.go). The client's require_mfa,
// default_acr_values and allowed_groups apply as in the code flow, through
// the same checks (mfa.NeedsMore, allowedUser).

// deviceStore is what the device flow asks of the store.
type deviceStore interface {
	storage.DeviceAuthorizations
}

const (
	deviceAuthorizationPath = "/device_authorization"
	devicePath              = "/device"
	// deviceCodeTTL is how long a device sign-in waits for its user.
	deviceCodeTTL = 10 * time.Minute
	// deviceKeep is how long a record is kept after its expiry, so that a
	// late poll learns expired_token and a second redemption invalid_grant.
	deviceKeep = 10 * time.Minute
	// devicePollInterval is the least time between polls; a device that
	// polls sooner gets slow_down and deviceSlowDown more (RFC 8628 §3.5).
	devicePollInterval = 5 * time.Second
	deviceSlowDown     = 5 * time.Second
	// userCodeAlphabet is RFC 8628 §6.1's base-20 alphabet: no vowels (no
	// words), no letters easily confused; userCodeLen letters give
	// 20^8 ≈ 2^34.6 codes, guessed at most a few a minute per IP.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLen      = 8
)

// Audit events of device sign-ins.
const (
	EventDeviceApproved = "device_approved"
	EventDeviceDenied   = "device_denied"
)

// deviceAuthorizationParams must appear at most once.
var deviceAuthorizationParams = []string{"client_id", "client_secret", "client_assertion", "client_assertion_type", "scope"}

// deviceAuthorization is the device authorization endpoint (RFC 8628
// §3.1): the client authenticates as at the token endpoint, must have the
// device_code grant, and gets a device code, a user code and where its user
// types it. A public client's calls are counted per IP (perip.go), since
// each stores a row in its name.
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if !p.clientForm(w, r, maxTokenBytes, deviceAuthorizationParams) {
		return
	}
	c, e := p.checkClientAuthMethod(r)
	if e != nil {
		p.tokenError(w, r, e)
		return
	}
	if !c.hasGrant(clientpolicy.GrantDeviceCode) {
		p.tokenError(w, r, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the device_code grant"))
		return
	}
	var counted *storage.LoginAttempt // a public client's call, counted per IP
	if c.public() {
		var ok bool
		if counted, ok = p.reservePerIP(w, r, c, deviceBudget); !ok {
			return
		}
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		p.tokenError(w, r, oidc.ErrInvalidScope().WithDescription("the openid scope is required"))
		return
	}
	now := p.cfg.Now()
	d := &storage.DeviceAuthorization{
		ClientID: c.c.ID, Scopes: grantableScopes(c, scopes), ACRValues: slices.Clone(c.c.DefaultACRValues),
		CreatedAt: now, ExpiresAt: now.Add(deviceCodeTTL), KeepUntil: now.Add(deviceCodeTTL + deviceKeep),
		Interval: devicePollInterval, Status: storage.DevicePending,
	}
	var deviceCode string
	for range 3 { // a user code taken already: draw again
		var err error
		if deviceCode, err = randomToken(p.cfg.Random, 32); err != nil {
			p.givePerIPBack(r.Context(), counted)
			p.serverError(w, r, "device authorization: device code", err)
			return
		}
		if d.UserCode, err = newUserCode(p.cfg.Random); err != nil {
			p.givePerIPBack(r.Context(), counted)
			p.serverError(w, r, "device authorization: user code", err)
			return
		}
		d.DeviceCodeHash = TokenHash(deviceCode)
		err = p.devices.CreateDeviceAuthorization(r.Context(), d)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrConflict) {
			p.givePerIPBack(r.Context(), counted)
			p.storeError(w, r, "device authorization: store", err)
			return
		}
		deviceCode = ""
	}
	if deviceCode == "" {
		p.givePerIPBack(r.Context(), counted)
		p.serverError(w, r, "device authorization", errors.New("no free user code in 3 draws"))
		return
	}
	shown := formatUserCode(d.UserCode)
	httphelper.MarshalJSON(w, &oidc.DeviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                shown,
		VerificationURI:         p.cfg.Issuer + devicePath,
		VerificationURIComplete: p.cfg.Issuer + devicePath + "?user_code=" + url.QueryEscape(shown),
		ExpiresIn:               int(deviceCodeTTL / time.Second),
		Interval:                int(devicePollInterval / time.Second),
	})
}

// newUserCode draws a user code: userCodeLen letters of userCodeAlphabet,
// each uniform (bytes from 240 up are drawn again, 240 being 12 × 20).
func newUserCode(r io.Reader) (string, error) {
	code := make([]byte, 0, userCodeLen)
	buf := make([]byte, 16)
	for len(code) < userCodeLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if b < 240 && len(code) < userCodeLen {
				code = append(code, userCodeAlphabet[b%20])
			}
		}
	}
	return string(code), nil
}

// formatUserCode shows a normal user code as XXXX-XXXX.
func formatUserCode(code string) string { return code[:4] + "-" + code[4:] }

// normalUserCode reads what a user typed as a user code: case, dashes and
// white space are ignored. ok is false when what is left is not
// userCodeLen letters of userCodeAlphabet.
func normalUserCode(typed string) (string, bool) {
	if len(typed) > 64 {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t' || r == '\u00a0':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, typed)
	if len(code) != userCodeLen || strings.Trim(code, userCodeAlphabet) != "" {
		return "", false
	}
	return code, true
}

// devicePage is /device: for a signed-in user, the form to type a user
// code, or with ?user_code= the request that code names, to allow or
// deny. A browser without a session signs in first and comes back.
func (p *Provider) devicePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	session, user, ok := p.deviceSession(w, r)
	if !ok {
		return
	}
	typed := r.URL.Query().Get("user_code")
	if typed == "" {
		p.ui.RenderDevice(w, r, http.StatusOK, loginui.DevicePage{})
		return
	}
	wrong := func(status int, msg string) {
		p.ui.RenderDevice(w, r, status, loginui.DevicePage{Error: msg})
	}
	code, valid := normalUserCode(typed)
	if !valid {
		wrong(http.StatusOK, "That is not a code Gatehouse gave out: it has 8 letters, like BCDF-GHJK.")
		return
	}
	// Every lookup counts against the IP, before the store is asked; a
	// code that names a sign-in gives its try back.
	try, wait, err := p.ui.ReserveUserCodeTry(w, r)
	if err != nil {
		p.unavailable(w, r, "device: reserve a user code try", err)
		return
	}
	if wait > 0 {
		p.record(ctx, storage.AuditEvent{Kind: loginui.EventSignInThrottled, UserID: user.ID, IP: p.ui.ClientIP(r), Detail: "user_code"})
		wrong(http.StatusTooManyRequests, "Too many wrong codes. Wait "+loginui.WaitText(wait)+", then try again.")
		return
	}
	d, err := p.devices.DeviceAuthorizationByUserCode(ctx, code, p.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		wrong(http.StatusOK, "That code is not right, or it has expired. Check it on your device and try again.")
		return
	case err != nil:
		p.ui.GiveBackUserCodeTry(ctx, try)
		p.unavailable(w, r, "device: look up the user code", err)
		return
	}
	p.ui.GiveBackUserCodeTry(ctx, try)
	if d.Status != storage.DevicePending {
		wrong(http.StatusOK, "That code was used already. Start again on your device.")
		return
	}
	c, ok := p.deviceChecks(w, r, d, session, user)
	if !ok {
		return
	}
	p.ui.RenderDevice(w, r, http.StatusOK, loginui.DevicePage{
		UserCode: formatUserCode(code), ClientName: c.c.Name, Username: user.Username, Scopes: d.Scopes,
	})
}

// deviceDecision takes the user's answer to a device sign-in: allow
// records the signed-in user (their session, its factors and auth_time) on
// it, and the device's next poll gets tokens; deny answers the device
// access_denied.
func (p *Provider) deviceDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	if err := r.ParseForm(); err != nil {
		p.ui.RenderError(ctx, w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	session, user, ok := p.deviceSession(w, r)
	if !ok {
		return
	}
	shown := r.PostForm.Get("user_code")
	code, valid := normalUserCode(shown)
	if !valid || !p.ui.ValidFormToken(r, "device", formatUserCode(code), r.PostForm.Get("csrf_token")) {
		p.ui.RenderError(ctx, w, http.StatusForbidden, "Form expired",
			"This form is no longer valid. Type the code your device shows again.", "")
		return
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		p.ui.RenderError(ctx, w, http.StatusBadRequest, "Bad request", "The form did not say whether to allow the device.", "")
		return
	}
	d, err := p.devices.DeviceAuthorizationByUserCode(ctx, code, p.cfg.Now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		p.ui.RenderDevice(w, r, http.StatusOK, loginui.DevicePage{Error: "That code has expired. Start again on your device."})
		return
	case err != nil:
		p.unavailable(w, r, "device: look up the user code", err)
		return
	}
	c, ok := p.deviceChecks(w, r, d, session, user)
	if !ok {
		return
	}
	dec := storage.DeviceDecision{}
	kind := EventDeviceDenied
	if decision == "allow" {
		dec = storage.DeviceDecision{Approved: true, UserID: user.ID, SessionID: session.ID, AuthTime: session.AuthTime, AMR: session.AMR}
		kind = EventDeviceApproved
	}
	switch err := p.devices.DecideDeviceAuthorization(ctx, d.DeviceCodeHash, dec, p.cfg.Now()); {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		p.ui.RenderDevice(w, r, http.StatusOK, loginui.DevicePage{Error: "That code was used already, or it has expired. Start again on your device."})
		return
	case err != nil:
		p.unavailable(w, r, "device: record the decision", err)
		return
	}
	p.record(ctx, storage.AuditEvent{Kind: kind, Actor: audit.ActorUser, UserID: user.ID, ClientID: c.c.ID,
		SessionID: session.ID, IP: p.ui.ClientIP(r), Detail: joinScopes(d.Scopes)})
	if dec.Approved {
		// The application joins the session: its logout notices name it.
		if err := p.ui.RecordUse(ctx, r, session, c.c.ID); err != nil && !errors.Is(err, loginui.ErrNoSession) {
			p.log.WarnContext(ctx, "device: record the session's use", "err", err)
		}
	}
	done := storage.DeviceDenied
	if dec.Approved {
		done = storage.DeviceApproved
	}
	p.ui.RenderDevice(w, r, http.StatusOK, loginui.DevicePage{
		UserCode: formatUserCode(code), ClientName: c.c.Name, Username: user.Username, Done: done,
	})
}

// deviceSession returns the browser's session and user; a browser without
// one is sent to sign in and back (ok false).
func (p *Provider) deviceSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	session, user, err := p.ui.ReadSession(r.Context(), w, r)
	switch {
	case errors.Is(err, loginui.ErrNoSession):
		if r.Method == http.MethodGet {
			p.ui.SignInAndReturn(w, r, r.URL.RequestURI())
		} else {
			p.ui.RenderError(r.Context(), w, http.StatusForbidden, "You are signed out",
				"Your session ended before you answered. Open the address your device shows again.", "")
		}
		return nil, nil, false
	case err != nil:
		p.unavailable(w, r, "device: session lookup", err)
		return nil, nil, false
	}
	return session, user, true
}

// deviceChecks applies the client's rules to the user about to answer the
// device sign-in d, as the code flow does at authorize: the client must
// still exist and have the grant; a session lacking a second factor the
// client needs (require_mfa, default_acr_values) is stepped up first, the
// browser coming back to the same code; a user the client's
// allowed_groups do not admit is refused, and the device told
// access_denied. ok is false when it wrote the answer.
func (p *Provider) deviceChecks(w http.ResponseWriter, r *http.Request, d *storage.DeviceAuthorization, session *storage.Session, user *storage.User) (*client, bool) {
	ctx := r.Context()
	c, err := p.clients.get(ctx, d.ClientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !c.hasGrant(clientpolicy.GrantDeviceCode)) {
		p.ui.RenderError(ctx, w, http.StatusBadRequest, "Unknown application",
			"The application on your device is no longer registered for device sign-in.", "invalid_client")
		return nil, false
	}
	if err != nil {
		p.unavailable(w, r, "device: load client", err)
		return nil, false
	}
	if mfa.NeedsMore(p.cfg.UI.MFA, session.AMR, c.c.RequireMFA, mfa.WantsMultiFactor(d.ACRValues)) {
		back := devicePath + "?user_code=" + url.QueryEscape(formatUserCode(d.UserCode))
		if p.ui.StepUpAndReturn(w, r, session, user, c.c, back) {
			return nil, false
		}
	}
	_, allowed, err := p.allowedUser(ctx, c, user.ID)
	if err != nil {
		p.unavailable(w, r, "device: groups lookup", err)
		return nil, false
	}
	if !allowed {
		if err := p.devices.DecideDeviceAuthorization(ctx, d.DeviceCodeHash, storage.DeviceDecision{}, p.cfg.Now()); err != nil &&
			!errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrNotFound) {
			p.unavailable(w, r, "device: deny", err)
			return nil, false
		}
		p.record(ctx, storage.AuditEvent{Kind: EventAccessDenied, Actor: audit.ActorUser, UserID: user.ID, ClientID: c.c.ID,
			SessionID: session.ID, IP: p.ui.ClientIP(r), Detail: "reason=" + ReasonNotInAllowedGroups})
		p.ui.RenderAccessDenied(ctx, w, loginui.AccessDenied{ClientName: c.c.Name, Username: user.Username})
		return nil, false
	}
	return c, true
}
