package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// rotationOptions is a compressed schedule: a day instead of 30, with the
// default JWKS max-age and publish lead.
func rotationOptions(clock *fakeClock) Options {
	return Options{
		Now:              clock.Now,
		JWKSMaxAge:       time.Hour,
		RotateEvery:      24 * time.Hour,
		MaxTokenLifetime: 3 * time.Hour,
		ClockSkew:        5 * time.Minute,
	}
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rpFetch is a JWKS as a relying party fetched it, kept for max-age.
type rpFetch struct {
	at  time.Time
	set jose.JSONWebKeySet
}

// issued is a token some instance signed.
type issued struct {
	jws      *jose.JSONWebSignature
	kid      string
	signedAt time.Time
}

// TestRotationTimeline runs two instances on one SQLite store through three
// rotations, advancing an injected clock 13 minutes at a time (less than the
// JWKS max-age, and out of step with the schedule). At every step both
// instances Rotate at once, then Reload, a relying party fetches the JWKS,
// and each instance signs with every algorithm. It checks that
//
//   - every token signed and not yet expired (plus clock skew) verifies
//     against every JWKS the relying party fetched within the last max-age,
//     even one fetched before the token was signed;
//   - no key signs before it has been published for PublishLead (the keys
//     Ensure created on the empty store excepted: there was nothing before);
//   - each rotation creates exactly one key per algorithm, and never more
//     than one is pending;
//   - retired keys leave the JWKS and the store once their tokens expired.
func TestRotationTimeline(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	opts := rotationOptions(clock)
	const (
		maxAge   = time.Hour
		lead     = 2 * time.Hour
		lifetime = 3 * time.Hour
		skew     = 5 * time.Minute
		step     = 13 * time.Minute
	)
	store := openSQLite(t)
	kek := newKEK(t)
	ms := []*Manager{NewManager(store, newSealer(t, kek), opts), NewManager(store, newSealer(t, kek), opts)}
	for i, m := range ms {
		if err := m.Ensure(ctx); err != nil {
			t.Fatalf("Ensure on instance %d: %v", i, err)
		}
	}
	start := clock.Now()
	rows := map[string]storage.SigningKey{} // every key ever seen, by id
	initial := map[string]bool{}
	first, err := store.SigningKeys(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range first {
		initial[r.ID] = true
	}

	var fetches []rpFetch
	var tokens []issued
	signedBy := map[string]bool{}
	end := start.Add(3*24*time.Hour + 12*time.Hour)
	for now := start; now.Before(end); now = now.Add(step) {
		clock.Set(now)
		var wg sync.WaitGroup
		created := make([][]string, len(ms))
		errs := make([]error, len(ms))
		for i, m := range ms {
			wg.Go(func() { created[i], errs[i] = m.Rotate(ctx) })
		}
		wg.Wait()
		for i, m := range ms {
			if errs[i] != nil {
				t.Fatalf("%s: Rotate on instance %d: %v", now, i, errs[i])
			}
			if err := m.Reload(ctx); err != nil {
				t.Fatalf("%s: Reload on instance %d: %v", now, i, err)
			}
		}
		if n := len(created[0]) + len(created[1]); n != 0 && n != len(KeptAlgorithms()) {
			t.Fatalf("%s: instances created %q and %q, want one key per algorithm or none", now, created[0], created[1])
		}

		current, err := store.SigningKeys(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		pending := map[string]int{}
		for _, r := range current {
			rows[r.ID] = r
			if State(r, now) == Pending {
				pending[r.Algorithm]++
			}
		}
		for alg, n := range pending {
			if n > 1 {
				t.Fatalf("%s: %d pending %s keys, want at most 1", now, n, alg)
			}
		}

		// The relying party fetches the JWKS, from either instance.
		body, _ := ms[len(fetches)%2].JWKS()
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(body, &set); err != nil {
			t.Fatalf("%s: JWKS: %v", now, err)
		}
		fetches = append(fetches, rpFetch{at: now, set: set})

		for i, m := range ms {
			for _, alg := range KeptAlgorithms() {
				k, err := m.Signer(alg)
				if err != nil {
					t.Fatalf("%s: Signer(%s) on instance %d: %v", now, alg, i, err)
				}
				r := rows[k.ID()]
				if !initial[k.ID()] && now.Before(r.PublishAt.Add(lead)) {
					t.Fatalf("%s: instance %d signs with %s key %s published at %s, less than %s ago",
						now, i, alg, k.ID(), r.PublishAt, lead)
				}
				signedBy[k.ID()] = true
				// One token per algorithm per step is enough; alternate
				// instances.
				if (len(fetches)+i)%2 == 0 {
					jws, err := jose.ParseSigned(signJWS(t, k, []byte(now.String())), []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
					if err != nil {
						t.Fatal(err)
					}
					tokens = append(tokens, issued{jws: jws, kid: k.ID(), signedAt: now})
				}
			}
		}

		// Every live token verifies against every JWKS still cached.
		tokens = slices.DeleteFunc(tokens, func(tok issued) bool {
			return !now.Before(tok.signedAt.Add(lifetime + skew))
		})
		fetches = slices.DeleteFunc(fetches, func(f rpFetch) bool { return now.Sub(f.at) >= maxAge })
		for _, tok := range tokens {
			for _, f := range fetches {
				found := f.set.Key(tok.kid)
				if len(found) != 1 {
					t.Fatalf("%s: token signed at %s by %s: the JWKS fetched at %s has %d keys with that kid, want 1",
						now, tok.signedAt, tok.kid, f.at, len(found))
				}
				if _, err := tok.jws.Verify(found[0]); err != nil {
					t.Fatalf("%s: token signed at %s by %s does not verify with the JWKS fetched at %s: %v",
						now, tok.signedAt, tok.kid, f.at, err)
				}
			}
		}
	}

	// Rotations were due at 22h, 46h and 70h: four keys per algorithm,
	// every one of which signed.
	byAlg := map[string][]storage.SigningKey{}
	for _, r := range rows {
		byAlg[r.Algorithm] = append(byAlg[r.Algorithm], r)
	}
	for _, alg := range KeptAlgorithms() {
		ks := byAlg[alg]
		if len(ks) != 4 {
			t.Errorf("%s: got %d keys over three rotations, want 4", alg, len(ks))
		}
		slices.SortFunc(ks, func(a, b storage.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for i, k := range ks {
			if !signedBy[k.ID] {
				t.Errorf("%s key %d (%s) never signed", alg, i, k.ID)
			}
			if i == 0 {
				continue
			}
			prev := ks[i-1]
			if got, want := k.ActivateAt.Sub(k.PublishAt), lead; got != want {
				t.Errorf("%s key %d: published %s before activation, want %s", alg, i, got, want)
			}
			if got, want := k.ActivateAt.Sub(prev.ActivateAt), 24*time.Hour; got < want || got > want+step {
				t.Errorf("%s key %d: activated %s after its predecessor, want %s (within a step)", alg, i, got, want)
			}
			if !prev.RetireAt.Equal(k.ActivateAt) || !prev.DeleteAt.Equal(k.ActivateAt.Add(lifetime+skew)) {
				t.Errorf("%s key %d: retires at %s and is deleted at %s, want %s and %s",
					alg, i-1, prev.RetireAt, prev.DeleteAt, k.ActivateAt, k.ActivateAt.Add(lifetime+skew))
			}
		}
	}
	// The first three generations are past their DeleteAt (the third at
	// 75h05): gone from the store, not just hidden.
	left, err := store.SigningKeys(ctx, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 {
		t.Errorf("store holds %d keys at the end, want 3 (the last generation)", len(left))
	}
}

func TestForceRotate(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	store := openSQLite(t)
	m := NewManager(store, newSealer(t, newKEK(t)), rotationOptions(clock))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Signer(RS256)
	created, err := m.ForceRotate(ctx)
	if err != nil || len(created) != 3 {
		t.Fatalf("ForceRotate: got %q, %v; want three new keys", created, err)
	}
	if k, _ := m.Signer(RS256); k.ID() != old.ID() {
		t.Errorf("Signer right after ForceRotate: got %s, want the old key %s until the new one activates", k.ID(), old.ID())
	}
	body, _ := m.JWKS()
	if kids := kidsOf(t, body); !slices.Contains(kids, created[0]) || !slices.Contains(kids, old.ID()) {
		t.Errorf("JWKS after ForceRotate: got %q, want both %s and %s", kids, old.ID(), created[0])
	}
	// A second one finds the successors pending and does nothing.
	if again, err := m.ForceRotate(ctx); err != nil || len(again) != 0 {
		t.Errorf("second ForceRotate: got %q, %v; want nothing created", again, err)
	}
	clock.Set(clock.Now().Add(2 * time.Hour))
	if k, _ := m.Signer(RS256); k.ID() == old.ID() {
		t.Errorf("Signer after PublishLead: still the old key %s", old.ID())
	}
}

func TestRevoke(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	store := openSQLite(t)
	kek := newKEK(t)
	m := NewManager(store, newSealer(t, kek), rotationOptions(clock))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Signer(RS256)
	token := signJWS(t, old, []byte("hello"))

	// The only RS256 key: a new one signs at once.
	clock.Set(clock.Now().Add(time.Minute))
	repl, err := m.Revoke(ctx, old.ID())
	if err != nil || repl == "" {
		t.Fatalf("Revoke of the only RS256 key: got replacement %q, %v; want a new key", repl, err)
	}
	if k, err := m.Signer(RS256); err != nil || k.ID() != repl {
		t.Fatalf("Signer after Revoke: got %v, %v; want %s", k, err, repl)
	}
	body, _ := m.JWKS()
	if kids := kidsOf(t, body); slices.Contains(kids, old.ID()) || !slices.Contains(kids, repl) {
		t.Errorf("JWKS after Revoke: got %q, want %s gone and %s in", kids, old.ID(), repl)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if _, err := jws.Verify(k); err == nil {
			t.Errorf("a token signed by the revoked key %s verifies with JWKS key %s", old.ID(), k.KeyID)
		}
	}

	// Another instance learns of it on Reload.
	other := NewManager(store, newSealer(t, kek), rotationOptions(clock))
	if err := other.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := other.Signer(RS256); k.ID() != repl {
		t.Errorf("other instance after Reload signs with %s, want %s", k.ID(), repl)
	}

	// With a successor pending, revoking the active key activates it.
	created, err := m.ForceRotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := m.Signer(ES256)
	repl, err = m.Revoke(ctx, es.ID())
	if err != nil || !slices.Contains(created, repl) {
		t.Fatalf("Revoke with a pending successor: got %q, %v; want one of %q", repl, err, created)
	}
	if k, _ := m.Signer(ES256); k.ID() != repl {
		t.Errorf("Signer(ES256) after Revoke: got %s, want the former successor %s", k.ID(), repl)
	}

	// Revoking a key while another of its algorithm signs needs no
	// replacement; unknown and revoked keys are not found.
	rs, _ := m.Signer(RS256)
	var pendingRS string
	rows, err := store.SigningKeys(ctx, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Algorithm == RS256 && slices.Contains(created, r.ID) {
			pendingRS = r.ID
		}
	}
	if pendingRS == "" {
		t.Fatalf("ForceRotate created %q, none of them RS256", created)
	}
	if got, err := m.Revoke(ctx, pendingRS); err != nil || got != "" {
		t.Errorf("Revoke of a pending key: got %q, %v; want no replacement", got, err)
	}
	if k, _ := m.Signer(RS256); k.ID() != rs.ID() {
		t.Errorf("Signer(RS256) after revoking the pending key: got %s, want %s", k.ID(), rs.ID())
	}
	for _, kid := range []string{"no-such-key", old.ID()} {
		if _, err := m.Revoke(ctx, kid); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Revoke(%s): got %v, want ErrNotFound", kid, err)
		}
	}
	// The next Rotate gives RS256 a new successor, since its active key was
	// scheduled to retire when the revoked one activated.
	if created, err := m.Rotate(ctx); err != nil || len(created) != 1 {
		t.Errorf("Rotate after revoking a pending key: got %q, %v; want one new key", created, err)
	}
}

func TestRotateBusy(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	store := openSQLite(t)
	m := NewManager(store, newSealer(t, newKEK(t)), rotationOptions(clock))
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().Add(30 * 24 * time.Hour))
	_, err := store.WithRotationLock(ctx, func(ctx context.Context) error {
		if created, err := m.Rotate(ctx); err != nil || len(created) != 0 {
			return fmt.Errorf("Rotate while the lock is held: got %q, %v; want nothing", created, err)
		}
		if _, err := m.ForceRotate(ctx); !errors.Is(err, ErrBusy) {
			return fmt.Errorf("ForceRotate while the lock is held: got %v, want ErrBusy", err)
		}
		if _, err := m.Revoke(ctx, "x"); !errors.Is(err, ErrBusy) {
			return fmt.Errorf("Revoke while the lock is held: got %v, want ErrBusy", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
