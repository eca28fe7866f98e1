// Package mfa holds what Gatehouse knows about second factors, apart from
// where they are stored and how they are shown: one-time codes (RFC 6238,
// through github.com/pquerna/otp), recovery codes, the authentication
// methods (RFC 8176 amr values) and context classes (acr) a sign-in earns,
// and the policy that says when a second factor is due.
package mfa

import (
	"fmt"
	"slices"
)

// Authentication method references (RFC 8176 §2) Gatehouse records.
const (
	AMRPassword = "pwd" // a password
	AMROTP      = "otp" // a one-time code (RFC 6238), or a recovery code
	AMRMulti    = "mfa" // more than one factor
)

// Authentication context classes. They are the REFEDS assurance profiles,
// well known to relying parties: single-factor and multi-factor.
const (
	ACRSingleFactor = "https://refeds.org/profile/sfa"
	ACRMultiFactor  = "https://refeds.org/profile/mfa"
)

// ACRValuesSupported lists the classes Gatehouse can satisfy (discovery's
// acr_values_supported), weakest first.
var ACRValuesSupported = []string{ACRSingleFactor, ACRMultiFactor}

// MultiFactor reports whether amr records more than one factor.
func MultiFactor(amr []string) bool { return slices.Contains(amr, AMRMulti) }

// ACR returns the class a sign-in with amr earns: "" when nothing was
// done, multi-factor when amr says so, single-factor otherwise.
func ACR(amr []string) string {
	switch {
	case len(amr) == 0:
		return ""
	case MultiFactor(amr):
		return ACRMultiFactor
	default:
		return ACRSingleFactor
	}
}

// WantsMultiFactor reports whether an authorization request's acr_values
// (in order of preference, OpenID Connect Core §3.1.2.1) accept only a
// multi-factor sign-in: it names the multi-factor class and no weaker one
// Gatehouse knows. Values Gatehouse does not know are ignored, as acr_values
// is a wish, not a demand.
func WantsMultiFactor(acrValues []string) bool {
	return slices.Contains(acrValues, ACRMultiFactor) && !slices.Contains(acrValues, ACRSingleFactor)
}

// WithFactor returns amr with method and AMRMulti added (each once), for a
// sign-in that has just passed a second factor.
func WithFactor(amr []string, method string) []string {
	out := slices.Clone(amr)
	for _, m := range []string{method, AMRMulti} {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Mode is the server's second-factor setting (mfa).
type Mode string

const (
	// Optional lets users enrol; those who did are always asked.
	Optional Mode = "optional"
	// Required makes users without a second factor enrol at their next
	// sign-in, before any application gets a code.
	Required Mode = "required"
	// Off neither offers nor asks second factors.
	Off Mode = "off"
)

// ParseMode reads the mfa setting; "" is Optional.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Optional, nil
	case Optional, Required, Off:
		return m, nil
	}
	return "", fmt.Errorf("mfa: %q is not one of optional, required, off", s)
}

// Step is what a sign-in must do after the password.
type Step int

const (
	// Done: the password was enough.
	Done Step = iota
	// Verify: the user gives one of their second factors.
	Verify
	// Enrol: the user has no second factor but needs one; they set one up
	// (which proves it) before the sign-in completes.
	Enrol
)

// Due says what a sign-in needs after the password. enrolled: the user has
// a second factor; clientRequires: the application is marked require_mfa.
// A user who enrolled is always asked, whatever the application: a stolen
// password alone must never open their account. A request's acr_values
// never forces enrolment (the answer's acr says what was done); the
// server's Required mode and the client's require_mfa do.
func Due(mode Mode, enrolled, clientRequires bool) Step {
	switch {
	case mode == Off:
		return Done
	case enrolled:
		return Verify
	case mode == Required || clientRequires:
		return Enrol
	default:
		return Done
	}
}

// NeedsMore reports whether a live session, signed in with amr, must add a
// second factor (a step-up) before it answers a request: when the server
// requires one, the application does, or the request asked for the
// multi-factor class. The step-up then asks the user's factor, or has them
// enrol when Due says so, or (a request's wish alone, and no factor to ask)
// completes as it was.
func NeedsMore(mode Mode, amr []string, clientRequires, requestWants bool) bool {
	if mode == Off || MultiFactor(amr) {
		return false
	}
	return mode == Required || clientRequires || requestWants
}
