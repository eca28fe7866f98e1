package storage

import (
	"context"
	"time"
)

// DeviceAuthorization is one device sign-in (RFC 8628): a device (a TV, a
// command-line tool) asked for it at the device authorization endpoint and
// polls the token endpoint with its device code, while its user types the
// user code on the /device page of a browser and approves or denies it.
// Neither code is a credential once decided: the device code is stored only
// as its SHA-256, and the user code opens nothing by itself (the user must
// be signed in and confirm).
type DeviceAuthorization struct {
	// DeviceCodeHash is the SHA-256 (hex) of the device code.
	DeviceCodeHash string
	// UserCode is what the user types, in its normal form: eight letters
	// of RFC 8628's base-20 alphabet, upper case, no dash.
	UserCode string
	ClientID string
	Scopes   []string
	// ACRValues are the acr values the sign-in asks for (the client's
	// default_acr_values when it started); nil for none.
	ACRValues []string
	CreatedAt time.Time
	// ExpiresAt ends both codes: after it the user code is not found and a
	// poll of the device code learns expired_token.
	ExpiresAt time.Time
	// KeepUntil is how long the store keeps the record (never before
	// ExpiresAt), so that a poll after the expiry, or after a redemption,
	// is told so rather than not found.
	KeepUntil time.Time
	// Interval is the least time the device must leave between two polls;
	// it grows each time the device polls sooner (PollDeviceAuthorization).
	Interval time.Duration
	// LastPoll is when the device code was last polled; zero if never.
	LastPoll time.Time
	// Status is DevicePending, DeviceApproved, DeviceDenied or
	// DeviceRedeemed.
	Status string

	// Set by DecideDeviceAuthorization when approved: who signed in, in
	// which session, when and how.
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string

	// RedeemedBy is the claim that redeemed the approval
	// (RedeemDeviceAuthorization); "" until then.
	RedeemedBy string
}

// The states of a DeviceAuthorization. Pending becomes approved or denied
// once; approved becomes redeemed once.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceRedeemed = "redeemed"
)

// DeviceDecision is the user's answer to a device sign-in: approved with
// their login, or denied (Approved false; the other fields are ignored).
type DeviceDecision struct {
	Approved  bool
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string
}

// DeviceAuthorizations keeps device sign-ins in the session store (Redis,
// or SQL without Redis; the SQL backends prune a record at its KeepUntil).
// Every change is one atomic step on one record.
type DeviceAuthorizations interface {
	// CreateDeviceAuthorization stores d as given (its Status, normally
	// DevicePending). ErrConflict if a stored record has its device code
	// hash or its user code: the caller draws new codes (a record's codes
	// are free again once it is gone, at its KeepUntil).
	CreateDeviceAuthorization(ctx context.Context, d *DeviceAuthorization) error
	// DeviceAuthorizationByUserCode returns the record with that user code
	// if now is before its ExpiresAt, whatever its status; otherwise
	// ErrNotFound.
	DeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*DeviceAuthorization, error)
	// DecideDeviceAuthorization records the user's answer on the record of
	// deviceCodeHash: it becomes DeviceApproved with the decision's login,
	// or DeviceDenied. Only a pending record live at now is decided, once:
	// ErrNotFound if there is none or it expired, ErrConflict if it was
	// decided already (of concurrent decisions exactly one wins).
	DecideDeviceAuthorization(ctx context.Context, deviceCodeHash string, decision DeviceDecision, now time.Time) error
	// PollDeviceAuthorization records a poll of the device code at now and
	// returns the record as it is after it, in one atomic step: when the
	// previous poll was less than Interval before now, Interval grows by
	// slowDown first and slow is true (a first poll is never slow).
	// LastPoll becomes now. ErrNotFound if no record of that hash is kept
	// (expired ones are returned, up to their KeepUntil).
	PollDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time, slowDown time.Duration) (d *DeviceAuthorization, slow bool, err error)
	// RedeemDeviceAuthorization marks the approved record of
	// deviceCodeHash, live at now, redeemed by claim: it hands out tokens
	// once. It succeeds again for the same claim (a retry whose reply was
	// lost). ErrRedeemed if another claim redeemed it; ErrNotFound if
	// there is no such record, it is not approved or it expired.
	RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash, claim string, now time.Time) error
}

// The transitions of a DeviceAuthorization, for backends that lock the
// record and apply them in Go (the SQL ones; Redis runs the same rules in
// a script). Each changes d only when it returns nil.

// DecideDevice applies DecideDeviceAuthorization's rule to d.
func DecideDevice(d *DeviceAuthorization, dec DeviceDecision, now time.Time) error {
	switch {
	case !now.Before(d.ExpiresAt):
		return ErrNotFound
	case d.Status != DevicePending:
		return ErrConflict
	}
	if !dec.Approved {
		d.Status = DeviceDenied
		return nil
	}
	d.Status, d.UserID, d.SessionID, d.AuthTime, d.AMR = DeviceApproved, dec.UserID, dec.SessionID, dec.AuthTime, dec.AMR
	return nil
}

// PollDevice applies PollDeviceAuthorization's rule to d and reports
// whether the poll came too soon.
func PollDevice(d *DeviceAuthorization, now time.Time, slowDown time.Duration) (slow bool) {
	if !d.LastPoll.IsZero() && now.Sub(d.LastPoll) < d.Interval {
		d.Interval += slowDown
		slow = true
	}
	d.LastPoll = now
	return slow
}

// RedeemDevice applies RedeemDeviceAuthorization's rule to d; changed is
// false when claim had redeemed it already.
func RedeemDevice(d *DeviceAuthorization, claim string, now time.Time) (changed bool, err error) {
	switch {
	case d.Status == DeviceRedeemed && d.RedeemedBy == claim:
		return false, nil
	case d.Status == DeviceRedeemed:
		return false, ErrRedeemed
	case d.Status != DeviceApproved || !now.Before(d.ExpiresAt):
		return false, ErrNotFound
	}
	d.Status, d.RedeemedBy = DeviceRedeemed, claim
	return true, nil
}
