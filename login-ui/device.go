package loginui

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The login UI's part of the device sign-in (RFC 8628) whose page the
// provider serves at /device: the page itself, the throttling of the user
// codes typed on it, and the second factor a client may need first.

// DevicePage is what the /device page shows: the form to type a user code
// (UserCode empty), the request of the application a code names, to
// approve or deny, or the end (Done).
type DevicePage struct {
	// UserCode is the code as shown (XXXX-XXXX); the form posts it back.
	UserCode   string
	ClientName string
	Username   string
	Scopes     []string
	// Error is shown above the code form.
	Error string
	// Done is DeviceApproved or DeviceDenied once the user answered.
	Done string
}

// RenderDevice writes the /device page with status. The approval form
// carries a CSRF token bound to the session and the user code
// (ValidFormToken(r, "device", code, token)).
func (u *UI) RenderDevice(w http.ResponseWriter, r *http.Request, status int, page DevicePage) {
	title := "Sign in on your device"
	if page.UserCode != "" && page.Done == "" {
		title = "Allow " + page.ClientName + "?"
	}
	u.render(r.Context(), w, status, "device", struct {
		DevicePage
		Title, CSRF string
		ScopeText   []string
		Approved    bool
	}{page, title, u.FormToken(r, "device", page.UserCode), ScopeDescriptions(page.Scopes), page.Done == storage.DeviceApproved})
}

// User codes typed on the device page are counted per client IP on the
// sign-in throttle counters (storage.LoginThrottle), so that a user code
// cannot be guessed: the first userCodeFree tries go ahead at once, after
// that each waits a delay doubling from a second up to 15 minutes. A right
// code gives its try back.
const userCodeFree = 5

// ReserveUserCodeTry counts one user code typed from the request's client
// IP before it is looked up. wait > 0 means the IP must wait that long (the
// try was not counted; Retry-After is set); an error is a store failure.
func (u *UI) ReserveUserCodeTry(w http.ResponseWriter, r *http.Request) (*storage.LoginAttempt, time.Duration, error) {
	limits := []storage.ThrottleLimit{{Key: "device-ip:" + ipPrefix(u.ClientIP(r)), Free: userCodeFree, Delay: firstDelay, MaxDelay: ipMaxDelay}}
	a, wait, err := u.store.ReserveLoginAttempt(r.Context(), limits, u.now(), throttleWindow)
	if err == nil && wait > 0 {
		w.Header().Set("Retry-After", waitSeconds(wait))
	}
	return a, wait, err
}

// GiveBackUserCodeTry takes back the try of a user code that named a
// device sign-in (or was never looked up): only wrong codes stay counted.
func (u *UI) GiveBackUserCodeTry(ctx context.Context, a *storage.LoginAttempt) {
	u.giveBack(ctx, a, nil)
}

// StepUpAndReturn asks the user of the live session s for a second factor
// that client (nil: none) needs, or has them set one up when one is
// required, growing the session's factors, and then sends the browser back
// to returnTo (a LocalPath). It reports whether it wrote the answer; it
// writes nothing when no factor can be asked (a request's wish for the
// multi-factor class from a user without one), and the caller goes on with
// the session as it is.
func (u *UI) StepUpAndReturn(w http.ResponseWriter, r *http.Request, s *storage.Session, user *storage.User, client *storage.Client, returnTo string) bool {
	step, err := u.secondFactorDue(r.Context(), user, client)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return true
	}
	if step == mfa.Done {
		return false
	}
	if LocalPath(returnTo) {
		setReturnCookie(w, returnTo)
	}
	u.beginSecondFactor(w, r, pendingStart{user: user, session: s.ID, remember: s.Remember, amr: s.AMR, authTime: s.AuthTime, step: step})
	return true
}

// WaitText says a wait in words ("a second", "3 minutes"), rounded up to
// the second: how long a throttled user must wait.
func WaitText(wait time.Duration) string { return waitText(ceilSeconds(wait)) }

func ceilSeconds(wait time.Duration) int { return int((wait + time.Second - 1) / time.Second) }

func waitSeconds(wait time.Duration) string { return strconv.Itoa(ceilSeconds(wait)) }
