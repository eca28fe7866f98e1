// Package keys manages Gatehouse's signing keys and server secrets: key
// generation, encryption at rest under a key-encryption key (KEK), the
// timestamp-driven key life cycle, and the pre-serialized JWKS.
//
// Private keys and secrets are stored sealed (AES-256-GCM, see Sealer) and
// opened once, when a Manager loads them; after that signing and serving the
// JWKS need neither the store nor the KEK.
package keys

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

// Algorithms Gatehouse signs with. Ensure and Rotate keep one key of each
// usable (see KeptAlgorithms).
const (
	RS256 = string(jose.RS256)
	ES256 = string(jose.ES256)
	EdDSA = string(jose.EdDSA)
)

// KeptAlgorithms returns the algorithms Ensure and Rotate always keep a
// usable key for, in the order Algorithms lists them: RS256 (the default of
// OpenID Connect, which discovery must list), ES256 and EdDSA (Ed25519). The
// slice is the caller's.
func KeptAlgorithms() []string { return []string{RS256, ES256, EdDSA} }

// rsaBits is the size of generated RSA keys, and the smallest size loaded.
const rsaBits = 2048

// Store is what a Manager needs from the storage layer: the keys and
// secrets, and rotating them (Rotate, Revoke, EnsureCodeKeys, Rewrap).
type Store interface {
	storage.SigningKeys
	storage.Secrets
	storage.KeyRotation
}

// Options tune a Manager. The zero value of each field selects its default.
type Options struct {
	// Now returns the current time; it decides key states and timestamps.
	// Default time.Now.
	Now func() time.Time
	// Random supplies key ids and server secrets. Default crypto/rand.Reader.
	// Since Go 1.26 the standard library ignores it for RSA and ECDSA key
	// generation and always uses a secure source.
	Random io.Reader
	// JWKSMaxAge is the max-age the JWKS handler announces. Default 1h.
	JWKSMaxAge time.Duration

	// The rotation schedule (see Rotate). Each zero field takes its default.

	// RotateEvery is how long a key signs before its successor takes over.
	// Default 30 days. It must exceed PublishLead.
	RotateEvery time.Duration
	// PublishLead is how long a new key is published before it may sign,
	// so that every relying party's cached JWKS holds it by then. Default
	// twice JWKSMaxAge.
	PublishLead time.Duration
	// MaxTokenLifetime is how long after signing anything a key signed may
	// still be verified: the longest ID token or JWT access token lifetime,
	// and the refresh token lifetime too, since a relying party may keep an
	// ID token as id_token_hint for RP-initiated logout as long as its
	// session lasts. Default 24h.
	MaxTokenLifetime time.Duration
	// ClockSkew is the tolerance for relying parties' clocks, added to
	// MaxTokenLifetime. Default 5 minutes.
	ClockSkew time.Duration

	// The code-key schedule (see EnsureCodeKeys and CodeKeys).

	// CodeKeyRotateEvery is how long a code key seals before its successor
	// takes over. Default 24h. It must exceed CodeKeyLead.
	CodeKeyRotateEvery time.Duration
	// CodeKeyLead is how long a new code key is loaded before it seals, so
	// that every instance can open what it seals: at least twice the reload
	// period. Default 2 minutes.
	CodeKeyLead time.Duration
	// CodeKeyKeep is how long a code key still opens codes after its
	// successor started sealing: at least the code lifetime plus clock
	// skew. Default 10 minutes.
	CodeKeyKeep time.Duration
}

// Defaults of the rotation schedule.
const (
	DefaultRotateEvery      = 30 * 24 * time.Hour
	DefaultMaxTokenLifetime = 24 * time.Hour
	DefaultClockSkew        = 5 * time.Minute
)

// KeyState is where a signing key is in its life cycle at a given instant.
// The zero value is not a state.
type KeyState int

// Key states, in life-cycle order.
const (
	// Pending: not yet allowed to sign (it may already be published).
	Pending KeyState = iota + 1
	// Active: allowed to sign.
	Active
	// Retired: no longer signs; still published until deleted.
	Retired
	// Deleted: neither signs nor is published.
	Deleted
)

// String returns the state's name in lower case.
func (s KeyState) String() string {
	switch s {
	case Pending:
		return "pending"
	case Active:
		return "active"
	case Retired:
		return "retired"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("KeyState(%d)", int(s))
}

// State returns k's state at now, decided by its timestamps alone so that
// every instance agrees: Deleted from DeleteAt on, else Retired from RetireAt
// on, else Active from ActivateAt on, else Pending. A zero RetireAt or
// DeleteAt means "not scheduled"; a zero ActivateAt is an instant long past.
// Whether the key is in the JWKS is a separate question: see Published.
func State(k storage.SigningKey, now time.Time) KeyState {
	switch {
	case !k.DeleteAt.IsZero() && !now.Before(k.DeleteAt):
		return Deleted
	case !k.RetireAt.IsZero() && !now.Before(k.RetireAt):
		return Retired
	case !now.Before(k.ActivateAt):
		return Active
	}
	return Pending
}

// Published reports whether k belongs in the JWKS at now: from PublishAt
// until it is Deleted, whatever its other timestamps say.
func Published(k storage.SigningKey, now time.Time) bool {
	return !now.Before(k.PublishAt) && State(k, now) != Deleted
}

// usable reports whether k may sign at now: active and already published,
// so that relying parties can verify what it signs.
func usable(k storage.SigningKey, now time.Time) bool {
	return State(k, now) == Active && Published(k, now)
}

// SigningKey is a decrypted private key ready to sign. It is immutable and
// safe for concurrent use. Its method set is op.SigningKey's except for Key,
// whose result type is narrower; an adapter that embeds *SigningKey and
// defines Key() any is all zitadel's op needs.
type SigningKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

// ID returns the key id, the "kid" of every JWS the key signs.
func (k *SigningKey) ID() string { return k.id }

// Algorithm returns the JWS algorithm the key signs with.
func (k *SigningKey) Algorithm() jose.SignatureAlgorithm { return k.alg }

// SignatureAlgorithm is Algorithm under the name op.SigningKey uses.
func (k *SigningKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key returns the private key: *rsa.PrivateKey, *ecdsa.PrivateKey or
// ed25519.PrivateKey, the concrete types go-jose's signers accept. It must
// not be modified.
func (k *SigningKey) Key() crypto.Signer { return k.key }

// Manager owns the signing keys and server secrets of one Gatehouse instance.
// Create it with NewManager and load it with Ensure (or Reload); after that
// every method is safe for concurrent use and all but Ensure, Reload and a
// first Secret of a name are served from memory.
type Manager struct {
	store        Store
	sealer       *Sealer
	now          func() time.Time
	random       io.Reader
	maxAge       time.Duration
	cacheControl string

	rotateEvery time.Duration
	publishLead time.Duration
	// keepAfterRetire is how long a retired key stays published:
	// MaxTokenLifetime plus ClockSkew.
	keepAfterRetire time.Duration

	// loaded is nil until the first successful Ensure or Reload.
	loaded atomic.Pointer[keySet]

	secretsMu sync.RWMutex
	secrets   map[string][]byte

	codeRotateEvery, codeLead, codeKeep time.Duration
	// codeKeys is nil until the first successful EnsureCodeKeys.
	codeKeys atomic.Pointer[codeKeySet]
}

// keySet is one immutable load of the store.
type keySet struct {
	keys []loadedKey // in store order (by CreatedAt)
	// jwksPoints are the instants at which the published set changes,
	// ascending; jwks[0] is the JWKS before the first and jwks[i] the JWKS
	// from jwksPoints[i-1] on.
	jwksPoints []time.Time
	jwks       []jwksDoc
}

// loadedKey is one row, without its sealed part.
type loadedKey struct {
	row    storage.SigningKey // PrivateSealed and PublicJWK cleared
	public jose.JSONWebKey    // public key only, with kid, alg, use
	// signer is nil for keys that were retired when loaded: they never
	// sign again, so they are not opened.
	signer *SigningKey
}

// NewManager returns a Manager over store whose keys and secrets are sealed
// with sealer. It does no I/O; call Ensure before use.
// Sealer is the sealer of the key-encryption key the manager uses: what
// else Gatehouse keeps sealed under the same key (users' one-time-code
// secrets) is sealed with it.
func (m *Manager) Sealer() *Sealer { return m.sealer }

func NewManager(store Store, sealer *Sealer, opts Options) *Manager {
	m := &Manager{
		store:   store,
		sealer:  sealer,
		now:     opts.Now,
		random:  opts.Random,
		maxAge:  opts.JWKSMaxAge,
		secrets: make(map[string][]byte),
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.random == nil {
		m.random = rand.Reader
	}
	if m.maxAge <= 0 {
		m.maxAge = time.Hour
	}
	m.cacheControl = fmt.Sprintf("public, max-age=%d", int64(m.maxAge/time.Second))
	m.rotateEvery = cmp.Or(max(opts.RotateEvery, 0), DefaultRotateEvery)
	m.publishLead = cmp.Or(max(opts.PublishLead, 0), 2*m.maxAge)
	m.keepAfterRetire = cmp.Or(max(opts.MaxTokenLifetime, 0), DefaultMaxTokenLifetime) +
		cmp.Or(max(opts.ClockSkew, 0), DefaultClockSkew)
	m.codeRotateEvery = cmp.Or(max(opts.CodeKeyRotateEvery, 0), DefaultCodeKeyRotateEvery)
	m.codeLead = cmp.Or(max(opts.CodeKeyLead, 0), DefaultCodeKeyLead)
	m.codeKeep = cmp.Or(max(opts.CodeKeyKeep, 0), DefaultCodeKeyKeep)
	return m
}

func (m *Manager) ready() error {
	if m.store == nil || m.sealer == nil {
		return errors.New("keys: Manager needs a store and a sealer")
	}
	return nil
}

// Ensure loads the keys from the store and makes sure an RS256, an ES256 and
// an EdDSA key are usable (published and active) now: for each algorithm of
// KeptAlgorithms without one it generates a key (RSA 2048, ECDSA P-256,
// Ed25519), published and active at once,
// stores it, and loads the store again. On success the Manager's cache holds
// every key the store returned.
//
// Ensure fails, and generates nothing, if any key that is pending or active
// cannot be opened: sealed under another KEK, altered, or inconsistent with
// its public JWK. Starting with the wrong KEK must not quietly replace the
// keys. On failure the previous cache, if any, stays in place.
//
// Two instances starting at the same instant on an empty store may each
// create a key per algorithm; both are published and either may sign.
func (m *Manager) Ensure(ctx context.Context) error {
	if err := m.ready(); err != nil {
		return err
	}
	now := m.now()
	set, err := m.load(ctx, now)
	if err != nil {
		return err
	}
	created := false
	for _, alg := range KeptAlgorithms() {
		if set.signer(alg, now) != nil {
			continue
		}
		k, err := m.generate(alg, now)
		if err != nil {
			return err
		}
		if err := m.store.CreateSigningKey(ctx, k); err != nil {
			return fmt.Errorf("keys: store new %s key: %w", alg, err)
		}
		created = true
	}
	if created {
		if set, err = m.load(ctx, now); err != nil {
			return err
		}
		for _, alg := range KeptAlgorithms() {
			if set.signer(alg, now) == nil {
				return fmt.Errorf("keys: the store did not return the new %s key", alg)
			}
		}
	}
	m.loaded.Store(set)
	return nil
}

// Reload reads the keys from the store again and replaces the cache and the
// pre-serialized JWKS, and the code keys too once EnsureCodeKeys has loaded
// them. It generates nothing. It fails under the same conditions as Ensure
// (or EnsureCodeKeys), and then leaves the previous cache in place.
func (m *Manager) Reload(ctx context.Context) error {
	if err := m.ready(); err != nil {
		return err
	}
	set, err := m.load(ctx, m.now())
	if err != nil {
		return err
	}
	m.loaded.Store(set)
	if m.codeKeys.Load() != nil {
		return m.loadCodeKeys(ctx)
	}
	return nil
}

// load reads the store and builds a keySet, opening every key that is
// pending or active at now.
func (m *Manager) load(ctx context.Context, now time.Time) (*keySet, error) {
	rows, err := m.store.SigningKeys(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("keys: load signing keys: %w", err)
	}
	set := &keySet{keys: make([]loadedKey, 0, len(rows))}
	seen := make(map[string]bool, len(rows))
	for i := range rows {
		row := &rows[i]
		if seen[row.ID] {
			return nil, fmt.Errorf("keys: signing key id %q appears twice", row.ID)
		}
		seen[row.ID] = true
		lk, err := m.loadKey(row, now)
		if err != nil {
			return nil, err
		}
		set.keys = append(set.keys, lk)
	}
	if set.jwksPoints, set.jwks, err = buildJWKSDocs(set.keys, m.cacheControl); err != nil {
		return nil, err
	}
	return set, nil
}

func (m *Manager) loadKey(row *storage.SigningKey, now time.Time) (loadedKey, error) {
	if !supported(row.Algorithm) {
		return loadedKey{}, fmt.Errorf("keys: signing key %s has unsupported algorithm %q", row.ID, row.Algorithm)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(row.PublicJWK); err != nil {
		return loadedKey{}, fmt.Errorf("keys: signing key %s: public JWK: %w", row.ID, err)
	}
	if jwk.KeyID != row.ID || jwk.Algorithm != row.Algorithm || jwk.Use != "sig" {
		return loadedKey{}, fmt.Errorf("keys: signing key %s: public JWK has kid %q, alg %q, use %q; want %q, %q, \"sig\"",
			row.ID, jwk.KeyID, jwk.Algorithm, jwk.Use, row.ID, row.Algorithm)
	}
	// Public drops any private part the stored JWK might wrongly hold.
	pub := jwk.Public()
	if !pub.Valid() || pub.Key == nil {
		return loadedKey{}, fmt.Errorf("keys: signing key %s: public JWK holds no valid public key", row.ID)
	}
	if err := checkKeyType(row.Algorithm, pub.Key); err != nil {
		return loadedKey{}, fmt.Errorf("keys: signing key %s: %w", row.ID, err)
	}
	lk := loadedKey{
		row: *row,
		public: jose.JSONWebKey{
			Key:       pub.Key,
			KeyID:     row.ID,
			Algorithm: row.Algorithm,
			Use:       "sig",
		},
	}
	lk.row.PrivateSealed, lk.row.PublicJWK = nil, nil

	if st := State(*row, now); st == Pending || st == Active {
		signer, err := m.openKey(row, pub.Key)
		if err != nil {
			return loadedKey{}, err
		}
		lk.signer = signer
	}
	return lk, nil
}

// openKey unseals a row's private key and checks it against its public key.
func (m *Manager) openKey(row *storage.SigningKey, pub crypto.PublicKey) (*SigningKey, error) {
	if row.KEKID != m.sealer.KEKID() {
		return nil, fmt.Errorf("keys: signing key %s is sealed under KEK %s but the configured KEK is %s: wrong KEK", row.ID, row.KEKID, m.sealer.KEKID())
	}
	der, err := m.sealer.Open(row.PrivateSealed, []byte(row.ID))
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w", row.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: private key: %w", row.ID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: signing key %s: private key of type %T cannot sign", row.ID, priv)
	}
	if err := checkKeyType(row.Algorithm, signer.Public()); err != nil {
		return nil, fmt.Errorf("keys: signing key %s: private key: %w", row.ID, err)
	}
	eq, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(pub) {
		return nil, fmt.Errorf("keys: signing key %s: private key does not match the public JWK", row.ID)
	}
	return &SigningKey{id: row.ID, alg: jose.SignatureAlgorithm(row.Algorithm), key: signer}, nil
}

// generate makes a new key for alg, published and active at now.
func (m *Manager) generate(alg string, now time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(m.random, rsaBits)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), m.random)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(m.random)
	default:
		return nil, fmt.Errorf("keys: cannot generate a key for algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s key: %w", alg, err)
	}
	kid, err := m.newKID()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s key: %w", alg, err)
	}
	sealed, err := m.sealer.Seal(der, []byte(kid))
	clear(der)
	if err != nil {
		return nil, err
	}
	pub, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s public key: %w", alg, err)
	}
	return &storage.SigningKey{
		ID:            kid,
		Algorithm:     alg,
		PublicJWK:     pub,
		PrivateSealed: sealed,
		KEKID:         m.sealer.KEKID(),
		CreatedAt:     now,
		PublishAt:     now,
		ActivateAt:    now,
	}, nil
}

// newKID returns 128 random bits, base64url without padding (22 characters).
func (m *Manager) newKID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(m.random, b[:]); err != nil {
		return "", fmt.Errorf("keys: generate key id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func supported(alg string) bool {
	return algRank(alg) >= 0
}

// algRank orders algorithms as Algorithms lists them; -1 means unsupported.
func algRank(alg string) int {
	switch alg {
	case RS256:
		return 0
	case ES256:
		return 1
	case EdDSA:
		return 2
	}
	return -1
}

// checkKeyType reports whether pub is a key alg signs with.
func checkKeyType(alg string, pub crypto.PublicKey) error {
	switch alg {
	case RS256:
		if k, ok := pub.(*rsa.PublicKey); ok {
			if k.N.BitLen() < rsaBits {
				return fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), rsaBits)
			}
			return nil
		}
	case ES256:
		if k, ok := pub.(*ecdsa.PublicKey); ok {
			if k.Curve != elliptic.P256() {
				return fmt.Errorf("ECDSA key on %s, want P-256", k.Curve.Params().Name)
			}
			return nil
		}
	case EdDSA:
		if _, ok := pub.(ed25519.PublicKey); ok {
			return nil
		}
	}
	return fmt.Errorf("key of type %T does not fit algorithm %s", pub, alg)
}

// signer returns the key that signs for alg at now, or nil: among usable
// keys the one activated last (then created last, then greatest kid), so
// that every instance with the same rows picks the same key.
func (s *keySet) signer(alg string, now time.Time) *SigningKey {
	var best *loadedKey
	for i := range s.keys {
		k := &s.keys[i]
		if k.signer == nil || k.row.Algorithm != alg || !usable(k.row, now) {
			continue
		}
		if best == nil || newer(k.row, best.row) {
			best = k
		}
	}
	if best == nil {
		return nil
	}
	return best.signer
}

func newer(a, b storage.SigningKey) bool {
	if !a.ActivateAt.Equal(b.ActivateAt) {
		return a.ActivateAt.After(b.ActivateAt)
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.After(b.CreatedAt)
	}
	return a.ID > b.ID
}

// Signer returns the key that signs for alg ("RS256", "ES256", "EdDSA") now:
// active and published; if several are, the one activated last. It reads
// neither the store nor the KEK. It returns an error before the first
// successful Ensure or Reload, and when no key for alg is active.
func (m *Manager) Signer(alg string) (*SigningKey, error) {
	set := m.loaded.Load()
	if set == nil {
		return nil, errors.New("keys: signing keys are not loaded (call Ensure first)")
	}
	if k := set.signer(alg, m.now()); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("keys: no active %s signing key", alg)
}

// Algorithms returns the algorithms that have an active key now, RS256
// first, then ES256, then EdDSA. It is empty before the first load.
func (m *Manager) Algorithms() []string {
	set := m.loaded.Load()
	if set == nil {
		return nil
	}
	now := m.now()
	var algs []string
	for _, alg := range [...]string{RS256, ES256, EdDSA} {
		if set.signer(alg, now) != nil {
			algs = append(algs, alg)
		}
	}
	return algs
}

// ActiveKeyAges returns, for each algorithm with an active key now, how
// long ago the key that signs for it (Signer's) was created: what the
// key_age_seconds metric shows, so a stalled rotation is seen. It reads
// only memory and is empty before the first load.
func (m *Manager) ActiveKeyAges() map[string]time.Duration {
	set := m.loaded.Load()
	if set == nil {
		return nil
	}
	now := m.now()
	ages := make(map[string]time.Duration)
	for _, alg := range [...]string{RS256, ES256, EdDSA} {
		signer := set.signer(alg, now)
		if signer == nil {
			continue
		}
		for _, k := range set.keys {
			if k.signer == signer {
				ages[alg] = now.Sub(k.row.CreatedAt)
			}
		}
	}
	return ages
}

// PublicKeys returns the public keys published now (the JWKS content), in
// store order, each with kid, alg and use "sig". The slice is the caller's;
// the keys inside must not be modified. It is empty before the first load.
func (m *Manager) PublicKeys() []jose.JSONWebKey {
	set := m.loaded.Load()
	if set == nil {
		return nil
	}
	now := m.now()
	var out []jose.JSONWebKey
	for i := range set.keys {
		if Published(set.keys[i].row, now) {
			out = append(out, set.keys[i].public)
		}
	}
	return out
}
