// Package storagetest is the contract suite every storage backend runs.
//
// A backend's tests call Run with a function that returns a fresh, empty
// store; Run then checks every contract documented on the interfaces in
// package storage, including the concurrency guarantees of ClaimCode,
// RotateRefreshGrant (alone and racing RevokeFamily), CreateSecret,
// UseAssertionID, UseDPoPProof, DeleteSession, SaveConsent, ClaimLogoutNotices,
// ReserveLoginAttempt, AppendAudit, UseTOTPStep, UseRecoveryCode,
// TakePendingSignIn, UsePasskey, TakeWebAuthnCeremony, RegisterClient and
// TakePushedRequest and the device sign-in transitions
// (DecideDeviceAuthorization, PollDeviceAuthorization,
// RedeemDeviceAuthorization).
//
// Beyond the doc comments in package storage, the suite fixes these rules,
// which every backend must follow too:
//
//   - Every field round-trips exactly. Times are compared with time.Equal
//     (so a backend may return them in any location) and to the microsecond,
//     the finest precision Postgres keeps: the suite gives no time a
//     sub-microsecond part, and a backend may drop one; the zero time
//     round-trips as the zero time. A nil and an empty slice are
//     interchangeable; element order is kept.
//   - Expiry is decided only by the now argument: a record is live while
//     now is strictly before its ExpiresAt.
//   - SyncClients sets CreatedAt to now on the clients it creates and
//     UpdatedAt to now on every client it creates, updates, disables or
//     re-enables; the CreatedAt and UpdatedAt of the given clients are
//     ignored. Re-enabling a disabled client reports it as Updated. The
//     report's lists are sorted by id.
//   - SaveCode never lengthens a request's life: its ExpiresAt becomes
//     codeExpiresAt when that is earlier.
//   - RevokeFamily sets RevokedAt only on grants not revoked yet, so a grant
//     keeps its first revocation time. A grant created with RevokedAt set
//     is revoked (RefreshGrant and RotateRefreshGrant refuse it), but only
//     RevokeFamily (or RevokeUserFamilies) makes FamilyRevoked true.
//   - UpdateSession ignores every field of the session it is given but
//     LastSeen, IP, UserAgent, Clients and ExpiresAt. A session stored
//     without an AbsoluteExpiresAt has its stored ExpiresAt as deadline:
//     an update can shorten it, never extend it.
//   - DeleteUserSessions returns the sessions ordered by CreatedAt, then ID.
//   - ClaimLogoutNotices counts a zero NextAttempt as due, and returns the
//     notices as stored after the claim (NextAttempt = now+lease), oldest
//     previous NextAttempt first, then by id; n <= 0 claims nothing.
//   - ReserveLoginAttempt and ReleaseLoginAttempt work at the instant
//     given: a counter whose expiry (window after its latest attempt) has
//     come at now counts as 0. Of 64 concurrent reservations sharing a key
//     exactly as many succeed as the key's limit allows.
//   - SetRecoveryCodes stores the codes for the user it is given: their
//     UserID is ignored.
//   - UserPasskeys orders IDs bytewise (a prefix before the IDs it
//     starts) and counts a zero CreatedAt as the oldest.
//   - ListGroups, GroupMembers and UserGroups order names and ids
//     bytewise (a prefix first).
//   - UsersByEmail ignores ASCII case only, and orders by username
//     bytewise.
//   - AppendAudit assigns IDs that increase in the order events are
//     appended (within one call and across calls) and are never reused,
//     not even after PruneAudit deleted the events that had the highest.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Store is every store interface in one, as a single embedded backend
// provides them. Backends that split the stores across servers can wrap
// theirs in a struct that embeds each one.
type Store interface {
	storage.Clients
	storage.ClientWriter
	storage.ClientRegistries
	storage.Users
	storage.UserDeleter
	storage.UserSwapper
	storage.UserImporter
	storage.UserPager
	storage.Sessions
	storage.SessionCounter
	storage.AuthRequests
	storage.RefreshGrants
	storage.TokenFamilies
	storage.SigningKeys
	storage.Secrets
	storage.KeyRotation
	storage.ClientAssertions
	storage.DPoPProofs
	storage.Consents
	storage.LogoutNotices
	storage.LoginThrottle
	storage.AuditLog
	storage.SecondFactors
	storage.PendingSignIns
	storage.SessionAuthenticator
	storage.Passkeys
	storage.WebAuthnCeremonies
	storage.Groups
	storage.Registrations
	storage.PasswordResets
	storage.PushedRequests
	storage.DeviceAuthorizations
}

// test is one leaf of the suite; it gets a fresh, empty store.
type test struct {
	name string
	run  func(t *testing.T, s Store)
}

// Run runs the contract suite: one subtest per store area, and in each one
// subtest per contract, each on a fresh store from newStore. newStore must
// return an empty store and arrange its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	areas := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests},
		{"ClientWriter", clientWriterTests},
		{"ClientRegistry", registryTests},
		{"Users", userTests},
		{"DeleteUser", userDeleteTests},
		{"ImportUsers", userImportTests},
		{"Sessions", sessionTests},
		{"AuthRequests", authRequestTests},
		{"RefreshGrants", refreshGrantTests},
		{"SigningKeys", signingKeyTests},
		{"Secrets", secretTests},
		{"KeyRotation", keyRotationTests},
		{"ClientAssertions", assertionTests},
		{"DPoPProofs", dpopProofTests},
		{"Consents", consentTests},
		{"LogoutNotices", logoutNoticeTests},
		{"LoginThrottle", throttleTests},
		{"Audit", auditTests},
		{"SecondFactors", secondFactorTests},
		{"PendingSignIns", pendingSignInTests},
		{"SessionAuthentication", sessionAuthTests},
		{"Passkeys", passkeyTests},
		{"WebAuthnCeremonies", webAuthnCeremonyTests},
		{"Groups", groupTests},
		{"Registrations", registrationTests},
		{"PasswordResets", passwordResetTests},
		{"PushedRequests", pushedRequestTests},
		{"DeviceAuthorizations", deviceTests},
		{"Prune", pruneTests},
	}
	for _, area := range areas {
		t.Run(area.name, func(t *testing.T) {
			for _, tt := range area.tests {
				t.Run(tt.name, func(t *testing.T) {
					tt.run(t, newStore(t))
				})
			}
		})
	}
}

// t0 is the suite's reference instant. It has a microsecond part so that a
// backend that keeps less than microseconds fails.
var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// inZone returns t in a non-UTC location, to check that backends compare
// and return instants, not wall clocks.
func inZone(t time.Time) time.Time { return t.In(time.FixedZone("UTC+5:30", 5*3600+30*60)) }

// wantErr fails the test unless errors.Is(err, want); want nil means no
// error is expected.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: got error %v, want nil", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// check fails the test if err is not nil.
func check(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantEqual compares two values of a storage struct type field by field and
// reports every field that differs, in "got X, want Y" form.
func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	for _, d := range diff(reflect.ValueOf(got), reflect.ValueOf(want), "") {
		t.Errorf("%s: %s", what, d)
	}
}

// diff lists the differences between got and want under the suite's
// equality: times by Equal, nil and empty slices alike, pointers by what
// they point to.
func diff(got, want reflect.Value, path string) []string {
	if got.Type() == reflect.TypeFor[time.Time]() {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) {
			return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
		}
		return nil
	}
	switch got.Kind() {
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
			}
			return nil
		}
		return diff(got.Elem(), want.Elem(), path)
	case reflect.Struct:
		var out []string
		for i := range got.NumField() {
			name := got.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			out = append(out, diff(got.Field(i), want.Field(i), name)...)
		}
		return out
	case reflect.Slice:
		if got.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				return []string{fmt.Sprintf("%s: got %q, want %q", path, got.Bytes(), want.Bytes())}
			}
			return nil
		}
		if got.Len() != want.Len() {
			return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
		}
		var out []string
		for i := range got.Len() {
			out = append(out, diff(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			return []string{fmt.Sprintf("%s: got %s, want %s", path, show(got), show(want))}
		}
		return nil
	}
}

// show formats a value for a failure message.
func show(v reflect.Value) string {
	if v.Type() == reflect.TypeFor[time.Time]() {
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return "zero time"
		}
		return tm.UTC().Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = show(v.Index(i))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case reflect.String:
		return fmt.Sprintf("%q", v.String())
	default:
		return fmt.Sprintf("%v", v.Interface())
	}
}

// wantIDs compares two lists of ids, ignoring nil versus empty.
func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
