package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var authRequestTests = []test{
	{"RoundTrip", testAuthRequestRoundTrip},
	{"Expiry", testAuthRequestExpiry},
	{"Unknown", testAuthRequestUnknown},
	{"CreateConflict", testAuthRequestConflict},
	{"Complete", testCompleteAuthRequest},
	{"CompleteTwice", testCompleteTwice},
	{"CompleteAbsentOrExpired", testCompleteAbsentOrExpired},
	{"SaveCode", testSaveCode},
	{"SaveCodeRefused", testSaveCodeRefused},
	{"SaveCodeTwice", testSaveCodeTwice},
	{"RedeemCode", testRedeemCode},
	{"ClaimCode", testClaimCode},
	{"ReleaseCode", testReleaseCode},
	{"CodeExpiry", testCodeExpiry},
	{"Delete", testDeleteAuthRequest},
	{"ConcurrentClaimCode", testConcurrentClaimCode},
}

// claimLease is the lease the suite claims codes for.
const claimLease = 10 * time.Second

// redeemCode redeems a code in one go, as a successful exchange does:
// claimed, then redeemed. It returns the request, or the first error.
func redeemCode(t *testing.T, s Store, codeHash, claim string, now time.Time) (*storage.AuthRequest, error) {
	t.Helper()
	r, err := s.ClaimCode(t.Context(), codeHash, claim, now, claimLease)
	if err != nil {
		return nil, err
	}
	return r, s.RedeemCode(t.Context(), codeHash, claim, now)
}

// authLife and codeLife are the lifetimes the suite gives auth requests and
// codes, as the provider does.
const (
	authLife = 10 * time.Minute
	codeLife = time.Minute
)

// newAuthRequest returns a request with every field a client's request
// sets (dpop_jkt included, so that the code's claim returns it too); its lists, acr_values included, are in an order that is not
// sorted, which the store must keep.
func newAuthRequest(id string) storage.AuthRequest {
	return storage.AuthRequest{
		ID:                  id,
		ClientID:            "client-" + id,
		RedirectURI:         "https://rp.example/cb?x=1",
		Scopes:              []string{"openid", "profile", "email", "offline_access"},
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		MaxAge:              ptr[int64](300),
		LoginHint:           "alice",
		IDTokenHint:         "eyJhbGciOiJSUzI1NiJ9.e30.sig",
		HintSubject:         "sub-alice",
		BrowserHash:         "b1e55ed",
		ACRValues:           []string{"urn:example:loa:3", "https://refeds.org/profile/mfa", "https://refeds.org/profile/sfa"},
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		CreatedAt:           t0,
		ExpiresAt:           at(authLife),
	}
}

func newLogin() storage.Login {
	return storage.Login{UserID: "user-1", SessionID: "session-1", AuthTime: at(time.Second), AMR: []string{"pwd", "mfa"}}
}

// completed returns r as the store should hold it after Complete with l.
func completed(r storage.AuthRequest, l storage.Login) storage.AuthRequest {
	r.Done, r.UserID, r.SessionID, r.AuthTime, r.AMR = true, l.UserID, l.SessionID, l.AuthTime, l.AMR
	return r
}

// withCode returns r as the store should hold it after SaveCode.
func withCode(r storage.AuthRequest, codeHash string, codeExpiresAt time.Time) storage.AuthRequest {
	r.CodeHash = codeHash
	if codeExpiresAt.Before(r.ExpiresAt) {
		r.ExpiresAt = codeExpiresAt
	}
	return r
}

func createAuthRequest(t *testing.T, s Store, r storage.AuthRequest) {
	t.Helper()
	check(t, "CreateAuthRequest("+r.ID+")", s.CreateAuthRequest(t.Context(), &r))
}

func wantAuthRequest(t *testing.T, s Store, now time.Time, want storage.AuthRequest) {
	t.Helper()
	got, err := s.AuthRequest(t.Context(), want.ID, now)
	check(t, "AuthRequest("+want.ID+")", err)
	wantEqual(t, "AuthRequest("+want.ID+")", *got, want)
}

// issueCode creates, completes and gives a code to a request, the way the
// provider does, and returns the request as stored.
func issueCode(t *testing.T, s Store, id, codeHash string) storage.AuthRequest {
	t.Helper()
	r := newAuthRequest(id)
	createAuthRequest(t, s, r)
	l := newLogin()
	check(t, "CompleteAuthRequest("+id+")", s.CompleteAuthRequest(t.Context(), id, l, t0))
	codeExp := at(codeLife)
	check(t, "SaveCode("+id+")", s.SaveCode(t.Context(), id, codeHash, codeExp, t0))
	return withCode(completed(r, l), codeHash, codeExp)
}

func testAuthRequestRoundTrip(t *testing.T, s Store) {
	full := newAuthRequest("full")
	full.CreatedAt, full.ExpiresAt = inZone(full.CreatedAt), inZone(full.ExpiresAt)
	noMaxAge := newAuthRequest("no-max-age")
	noMaxAge.MaxAge, noMaxAge.Prompt, noMaxAge.ACRValues = nil, nil, nil
	// A request not bound to a DPoP key stays unbound.
	noMaxAge.DPoPJKT = ""
	// max_age=0 is a request, not the absence of one.
	zeroMaxAge := newAuthRequest("zero-max-age")
	zeroMaxAge.MaxAge, zeroMaxAge.Prompt, zeroMaxAge.Scopes = ptr[int64](0), []string{}, []string{"openid"}
	zeroMaxAge.ACRValues = []string{"https://refeds.org/profile/mfa"}
	sparse := storage.AuthRequest{ID: "sparse", ExpiresAt: at(authLife)}
	// Every field, the completion and the code included, round-trips
	// through CreateAuthRequest too.
	done := completed(newAuthRequest("done"), newLogin())
	done.CodeHash = "code-done"

	reqs := []storage.AuthRequest{full, noMaxAge, zeroMaxAge, sparse, done}
	for _, r := range reqs {
		createAuthRequest(t, s, r)
	}
	for _, r := range reqs {
		wantAuthRequest(t, s, t0, r)
	}
	got, err := s.AuthRequestByCode(t.Context(), "code-done", t0)
	check(t, "AuthRequestByCode(code-done)", err)
	wantEqual(t, "AuthRequestByCode(code-done)", *got, done)

	// A request created with a code hash another request holds is refused
	// and not stored; the holder's code still redeems once.
	clash := completed(newAuthRequest("clash"), newLogin())
	clash.CodeHash = "code-done"
	if err := s.CreateAuthRequest(t.Context(), &clash); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateAuthRequest with a code hash already held: got %v, want ErrConflict", err)
	}
	if _, err := s.AuthRequest(t.Context(), "clash", t0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused request stored anyway: AuthRequest(clash) = %v, want ErrNotFound", err)
	}
	taken, err := redeemCode(t, s, "code-done", "claim-1", t0)
	check(t, "redeem code-done", err)
	wantEqual(t, "ClaimCode(code-done)", *taken, done)
	if _, err := s.ClaimCode(t.Context(), "code-done", "claim-2", t0, claimLease); !errors.Is(err, storage.ErrRedeemed) {
		t.Errorf("ClaimCode(code-done) after it was redeemed: got %v, want ErrRedeemed", err)
	}
}

func testAuthRequestExpiry(t *testing.T, s Store) {
	r := newAuthRequest("r1")
	createAuthRequest(t, s, r)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at creation", t0, nil},
		{"just before expiry", r.ExpiresAt.Add(-time.Microsecond), nil},
		{"at expiry", r.ExpiresAt, storage.ErrNotFound},
		{"at expiry in another zone", inZone(r.ExpiresAt), storage.ErrNotFound},
		{"after expiry", r.ExpiresAt.Add(time.Hour), storage.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.AuthRequest(t.Context(), r.ID, tt.now)
		wantErr(t, "AuthRequest "+tt.name, err, tt.want)
		if err == nil {
			wantEqual(t, "AuthRequest "+tt.name, *got, r)
		}
	}
}

func testAuthRequestUnknown(t *testing.T, s Store) {
	_, err := s.AuthRequest(t.Context(), "nope", t0)
	wantErr(t, "AuthRequest on empty store", err, storage.ErrNotFound)
	_, err = s.AuthRequestByCode(t.Context(), "nope", t0)
	wantErr(t, "AuthRequestByCode on empty store", err, storage.ErrNotFound)
	_, err = s.ClaimCode(t.Context(), "nope", "claim-1", t0, claimLease)
	wantErr(t, "ClaimCode on empty store", err, storage.ErrNotFound)
	wantErr(t, "RedeemCode on empty store", s.RedeemCode(t.Context(), "nope", "claim-1", t0), storage.ErrNotFound)
	check(t, "ReleaseCode on empty store", s.ReleaseCode(t.Context(), "nope", "claim-1"))

	// A request without a code is not found by the empty code hash.
	createAuthRequest(t, s, newAuthRequest("r1"))
	check(t, "CompleteAuthRequest", s.CompleteAuthRequest(t.Context(), "r1", newLogin(), t0))
	_, err = s.AuthRequestByCode(t.Context(), "", t0)
	wantErr(t, `AuthRequestByCode("")`, err, storage.ErrNotFound)
	_, err = s.ClaimCode(t.Context(), "", "claim-1", t0, claimLease)
	wantErr(t, `ClaimCode("")`, err, storage.ErrNotFound)
	_, err = s.AuthRequest(t.Context(), "r2", t0)
	wantErr(t, "AuthRequest(r2)", err, storage.ErrNotFound)
}

func testAuthRequestConflict(t *testing.T, s Store) {
	orig := newAuthRequest("r1")
	createAuthRequest(t, s, orig)
	dup := newAuthRequest("r1")
	dup.ClientID = "other"
	wantErr(t, "CreateAuthRequest with a taken id", s.CreateAuthRequest(t.Context(), &dup), storage.ErrConflict)
	wantAuthRequest(t, s, t0, orig)
}

func testCompleteAuthRequest(t *testing.T, s Store) {
	r, other := newAuthRequest("r1"), newAuthRequest("r2")
	createAuthRequest(t, s, r)
	createAuthRequest(t, s, other)
	l := newLogin()
	l.AuthTime = inZone(l.AuthTime)
	check(t, "CompleteAuthRequest", s.CompleteAuthRequest(t.Context(), "r1", l, at(time.Second)))
	wantAuthRequest(t, s, t0, completed(r, l))
	wantAuthRequest(t, s, t0, other)
}

func testCompleteTwice(t *testing.T, s Store) {
	r := newAuthRequest("r1")
	createAuthRequest(t, s, r)
	first := newLogin()
	check(t, "CompleteAuthRequest", s.CompleteAuthRequest(t.Context(), "r1", first, t0))

	second := storage.Login{UserID: "user-2", SessionID: "session-2", AuthTime: at(time.Minute), AMR: []string{"otp"}}
	err := s.CompleteAuthRequest(t.Context(), "r1", second, at(time.Minute))
	wantErr(t, "second CompleteAuthRequest", err, storage.ErrConflict)
	err = s.CompleteAuthRequest(t.Context(), "r1", first, at(time.Minute))
	wantErr(t, "CompleteAuthRequest with the same login again", err, storage.ErrConflict)
	wantAuthRequest(t, s, t0, completed(r, first))
}

func testCompleteAbsentOrExpired(t *testing.T, s Store) {
	r := newAuthRequest("r1")
	createAuthRequest(t, s, r)
	tests := []struct {
		name string
		id   string
		now  time.Time
	}{
		{"absent", "nope", t0},
		{"at expiry", "r1", r.ExpiresAt},
		{"after expiry", "r1", r.ExpiresAt.Add(time.Hour)},
	}
	for _, tt := range tests {
		err := s.CompleteAuthRequest(t.Context(), tt.id, newLogin(), tt.now)
		wantErr(t, "CompleteAuthRequest "+tt.name, err, storage.ErrNotFound)
	}
	// The refused completions left the request as it was.
	wantAuthRequest(t, s, t0, r)
}

func testSaveCode(t *testing.T, s Store) {
	r := newAuthRequest("r1")
	createAuthRequest(t, s, r)
	l := newLogin()
	check(t, "CompleteAuthRequest", s.CompleteAuthRequest(t.Context(), "r1", l, t0))
	codeExp := inZone(at(codeLife))
	check(t, "SaveCode", s.SaveCode(t.Context(), "r1", "code-1", codeExp, at(time.Second)))

	want := withCode(completed(r, l), "code-1", codeExp)
	if !want.ExpiresAt.Equal(codeExp) {
		t.Fatalf("suite bug: code expiry %v not before request expiry %v", codeExp, r.ExpiresAt)
	}
	wantAuthRequest(t, s, t0, want)
	// AuthRequestByCode does not consume the code.
	for i := range 2 {
		got, err := s.AuthRequestByCode(t.Context(), "code-1", t0)
		check(t, fmt.Sprintf("AuthRequestByCode #%d", i+1), err)
		wantEqual(t, fmt.Sprintf("AuthRequestByCode #%d", i+1), *got, want)
	}
	// The request now lives only as long as its code.
	_, err := s.AuthRequest(t.Context(), "r1", codeExp)
	wantErr(t, "AuthRequest at code expiry", err, storage.ErrNotFound)
}

func testSaveCodeRefused(t *testing.T, s Store) {
	notDone := newAuthRequest("not-done")
	createAuthRequest(t, s, notDone)
	expired := newAuthRequest("expired")
	createAuthRequest(t, s, expired)
	check(t, "CompleteAuthRequest(expired)", s.CompleteAuthRequest(t.Context(), "expired", newLogin(), t0))

	tests := []struct {
		name string
		id   string
		now  time.Time
	}{
		{"absent request", "nope", t0},
		{"request not done", "not-done", t0},
		{"done request at expiry", "expired", expired.ExpiresAt},
		{"done request after expiry", "expired", expired.ExpiresAt.Add(time.Minute)},
	}
	for _, tt := range tests {
		codeHash := "code-" + tt.id
		err := s.SaveCode(t.Context(), tt.id, codeHash, tt.now.Add(codeLife), tt.now)
		wantErr(t, "SaveCode on "+tt.name, err, storage.ErrNotFound)
		_, err = s.AuthRequestByCode(t.Context(), codeHash, t0)
		wantErr(t, "AuthRequestByCode after SaveCode on "+tt.name, err, storage.ErrNotFound)
	}
	wantAuthRequest(t, s, t0, notDone)
	wantAuthRequest(t, s, t0, completed(expired, newLogin()))
}

func testSaveCodeTwice(t *testing.T, s Store) {
	want := issueCode(t, s, "r1", "code-1")
	tests := []struct {
		name     string
		codeHash string
	}{
		{"another code", "code-2"},
		{"the same code", "code-1"},
	}
	for _, tt := range tests {
		err := s.SaveCode(t.Context(), "r1", tt.codeHash, at(2*codeLife), at(time.Second))
		wantErr(t, "SaveCode with "+tt.name, err, storage.ErrConflict)
	}
	_, err := s.AuthRequestByCode(t.Context(), "code-2", t0)
	wantErr(t, "AuthRequestByCode(code-2)", err, storage.ErrNotFound)
	got, err := s.AuthRequestByCode(t.Context(), "code-1", t0)
	check(t, "AuthRequestByCode(code-1)", err)
	wantEqual(t, "AuthRequestByCode(code-1)", *got, want)
}

func testRedeemCode(t *testing.T, s Store) {
	want := issueCode(t, s, "r1", "code-1")
	other := issueCode(t, s, "r2", "code-2")
	now := at(time.Second)

	got, err := s.ClaimCode(t.Context(), "code-1", "claim-1", now, claimLease)
	check(t, "ClaimCode", err)
	wantEqual(t, "ClaimCode", *got, want)
	// A claim does not consume the code: it is still found.
	got, err = s.AuthRequestByCode(t.Context(), "code-1", now)
	check(t, "AuthRequestByCode while claimed", err)
	wantEqual(t, "AuthRequestByCode while claimed", *got, want)

	check(t, "RedeemCode", s.RedeemCode(t.Context(), "code-1", "claim-1", now))
	// The same claim redeeming again (its first reply was lost) succeeds,
	// also after its lease.
	check(t, "RedeemCode again by the same claim", s.RedeemCode(t.Context(), "code-1", "claim-1", now))
	check(t, "RedeemCode by the same claim after its lease", s.RedeemCode(t.Context(), "code-1", "claim-1", now.Add(2*claimLease)))
	wantErr(t, "RedeemCode by another claim", s.RedeemCode(t.Context(), "code-1", "claim-2", now), storage.ErrNotFound)

	// A redeemed code is gone for every other use, and no release brings
	// it back.
	check(t, "ReleaseCode after RedeemCode", s.ReleaseCode(t.Context(), "code-1", "claim-1"))
	for _, claim := range []string{"claim-1", "claim-2"} {
		_, err = s.ClaimCode(t.Context(), "code-1", claim, now, claimLease)
		wantErr(t, "ClaimCode("+claim+") after RedeemCode", err, storage.ErrRedeemed)
		_, err = s.ClaimCode(t.Context(), "code-1", claim, now.Add(2*claimLease), claimLease)
		wantErr(t, "ClaimCode("+claim+") after RedeemCode and the lease", err, storage.ErrRedeemed)
	}
	// Once the code has expired, it is simply gone.
	_, err = s.ClaimCode(t.Context(), "code-1", "claim-1", at(codeLife), claimLease)
	wantErr(t, "ClaimCode after RedeemCode, at the code's expiry", err, storage.ErrNotFound)
	_, err = s.AuthRequestByCode(t.Context(), "code-1", now)
	wantErr(t, "AuthRequestByCode after RedeemCode", err, storage.ErrNotFound)
	_, err = s.AuthRequest(t.Context(), "r1", now)
	wantErr(t, "AuthRequest after RedeemCode", err, storage.ErrNotFound)

	// The other code was not touched.
	got, err = redeemCode(t, s, "code-2", "claim-3", now)
	check(t, "redeem code-2", err)
	wantEqual(t, "ClaimCode(code-2)", *got, other)
}

func testClaimCode(t *testing.T, s Store) {
	want := issueCode(t, s, "r1", "code-1")
	now := at(time.Second)

	_, err := s.ClaimCode(t.Context(), "code-1", "claim-1", now, claimLease)
	check(t, "ClaimCode(claim-1)", err)
	// While the lease runs, another claim is refused with ErrConflict (a
	// redemption is in flight), and the holder may renew.
	_, err = s.ClaimCode(t.Context(), "code-1", "claim-2", now.Add(claimLease-time.Millisecond), claimLease)
	wantErr(t, "ClaimCode(claim-2) during claim-1's lease", err, storage.ErrConflict)
	got, err := s.ClaimCode(t.Context(), "code-1", "claim-1", now.Add(time.Second), claimLease)
	check(t, "ClaimCode(claim-1) again", err)
	wantEqual(t, "ClaimCode(claim-1) again", *got, want)
	// The renewal moved the lease: at the first lease's end it still runs.
	_, err = s.ClaimCode(t.Context(), "code-1", "claim-2", now.Add(claimLease), claimLease)
	wantErr(t, "ClaimCode(claim-2) during claim-1's renewed lease", err, storage.ErrConflict)

	// A lapsed claim is taken over, and then the first claim can no longer
	// redeem.
	later := now.Add(time.Second + claimLease)
	got, err = s.ClaimCode(t.Context(), "code-1", "claim-2", later, claimLease)
	check(t, "ClaimCode(claim-2) after claim-1's lease", err)
	wantEqual(t, "ClaimCode(claim-2) after claim-1's lease", *got, want)
	wantErr(t, "RedeemCode(claim-1) after claim-2 took over", s.RedeemCode(t.Context(), "code-1", "claim-1", later), storage.ErrNotFound)
	check(t, "ReleaseCode(claim-1) after claim-2 took over", s.ReleaseCode(t.Context(), "code-1", "claim-1"))
	_, err = s.ClaimCode(t.Context(), "code-1", "claim-3", later, claimLease)
	wantErr(t, "ClaimCode(claim-3) after claim-1's release (claim-2 holds it)", err, storage.ErrConflict)
	check(t, "RedeemCode(claim-2)", s.RedeemCode(t.Context(), "code-1", "claim-2", later))
}

func testReleaseCode(t *testing.T, s Store) {
	want := issueCode(t, s, "r1", "code-1")
	now := at(time.Second)

	_, err := s.ClaimCode(t.Context(), "code-1", "claim-1", now, claimLease)
	check(t, "ClaimCode(claim-1)", err)
	check(t, "ReleaseCode(claim-1)", s.ReleaseCode(t.Context(), "code-1", "claim-1"))
	// Released: claimable at once by another attempt, and the released
	// claim can no longer redeem it.
	got, err := s.ClaimCode(t.Context(), "code-1", "claim-2", now, claimLease)
	check(t, "ClaimCode(claim-2) after release", err)
	wantEqual(t, "ClaimCode(claim-2) after release", *got, want)
	wantErr(t, "RedeemCode(claim-1) after its release", s.RedeemCode(t.Context(), "code-1", "claim-1", now), storage.ErrNotFound)
	check(t, "ReleaseCode(claim-1) again", s.ReleaseCode(t.Context(), "code-1", "claim-1"))
	_, err = s.ClaimCode(t.Context(), "code-1", "claim-3", now, claimLease)
	wantErr(t, "ClaimCode(claim-3) while claim-2 holds it", err, storage.ErrConflict)

	got, err = redeemCode(t, s, "code-1", "claim-2", now)
	check(t, "redeem by claim-2", err)
	wantEqual(t, "redeem by claim-2", *got, want)
}

func testCodeExpiry(t *testing.T, s Store) {
	codeExp := at(codeLife)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"just before expiry", codeExp.Add(-time.Microsecond), nil},
		{"at expiry", codeExp, storage.ErrNotFound},
		{"after expiry", codeExp.Add(time.Second), storage.ErrNotFound},
		// The request's own, longer, life no longer counts.
		{"before request expiry", at(authLife).Add(-time.Second), storage.ErrNotFound},
	}
	for i, tt := range tests {
		code := fmt.Sprintf("code-%d", i)
		want := issueCode(t, s, fmt.Sprintf("r%d", i), code)

		_, err := s.AuthRequestByCode(t.Context(), code, tt.now)
		wantErr(t, "AuthRequestByCode "+tt.name, err, tt.want)
		got, err := s.ClaimCode(t.Context(), code, "claim", tt.now, claimLease)
		wantErr(t, "ClaimCode "+tt.name, err, tt.want)
		if err == nil {
			wantEqual(t, "ClaimCode "+tt.name, *got, want)
		}
	}
}

func testDeleteAuthRequest(t *testing.T, s Store) {
	check(t, "DeleteAuthRequest on empty store", s.DeleteAuthRequest(t.Context(), "nope"))
	keep := newAuthRequest("keep")
	createAuthRequest(t, s, keep)
	issueCode(t, s, "r1", "code-1")

	check(t, "DeleteAuthRequest(r1)", s.DeleteAuthRequest(t.Context(), "r1"))
	_, err := s.AuthRequest(t.Context(), "r1", t0)
	wantErr(t, "AuthRequest after delete", err, storage.ErrNotFound)
	_, err = s.ClaimCode(t.Context(), "code-1", "claim", t0, claimLease)
	wantErr(t, "ClaimCode after delete", err, storage.ErrNotFound)
	check(t, "DeleteAuthRequest(r1) again", s.DeleteAuthRequest(t.Context(), "r1"))
	wantAuthRequest(t, s, t0, keep)
}

// racers is how many goroutines the concurrency tests start at once, and
// raceRounds how many times each test races, since one race may happen to
// serialise even on a store that is not atomic.
const (
	racers     = 50
	raceRounds = 25
)

// race runs f in racers goroutines released together and returns their
// errors, indexed by goroutine.
func race(f func(i int) error) []error { return raceN(racers, f) }

// raceN is race with n goroutines.
func raceN(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// winners checks that exactly one call succeeded and every other one failed
// with ErrNotFound, and returns the index of the one that succeeded.
func winners(t *testing.T, what string, errs []error) int {
	t.Helper()
	return oneWinner(t, what, errs, storage.ErrNotFound)
}

// oneWinner checks that exactly one call succeeded and every other one
// failed with lose, and returns the index of the one that succeeded.
func oneWinner(t *testing.T, what string, errs []error, lose error) int {
	t.Helper()
	won, lost := -1, 0
	for i, err := range errs {
		switch {
		case err == nil && won < 0:
			won = i
		case err == nil:
			t.Errorf("%s: goroutines %d and %d both succeeded", what, won, i)
		case errors.Is(err, lose):
			lost++
		default:
			t.Errorf("%s: goroutine %d: got error %v, want nil or %v", what, i, err, lose)
		}
	}
	if won < 0 {
		t.Fatalf("%s: got 0 successes, want 1", what)
	}
	if lost != len(errs)-1 {
		t.Fatalf("%s: got %d %v, want %d", what, lost, lose, len(errs)-1)
	}
	return won
}

// testConcurrentClaimCode: of racing claims of one code exactly one wins;
// the others are told a redemption is in flight (ErrConflict). The winner
// redeems; a second race then finds the code gone.
func testConcurrentClaimCode(t *testing.T, s Store) {
	for round := range raceRounds {
		code := fmt.Sprintf("code-%d", round)
		want := issueCode(t, s, fmt.Sprintf("r%d", round), code)
		got := make([]*storage.AuthRequest, racers)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.ClaimCode(t.Context(), code, fmt.Sprintf("claim-%d", i), at(time.Second), claimLease)
			return err
		})
		what := fmt.Sprintf("concurrent ClaimCode, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrConflict)
		wantEqual(t, what, *got[won], want)
		check(t, what+": RedeemCode by the winner", s.RedeemCode(t.Context(), code, fmt.Sprintf("claim-%d", won), at(time.Second)))
		errs = race(func(i int) error {
			_, err := s.ClaimCode(t.Context(), code, fmt.Sprintf("late-%d", i), at(2*time.Second), claimLease)
			return err
		})
		for i, err := range errs {
			if !errors.Is(err, storage.ErrRedeemed) {
				t.Fatalf("%s: ClaimCode %d after the redemption: got %v, want ErrRedeemed", what, i, err)
			}
		}
	}
}
