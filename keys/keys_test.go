package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// memStore is an in-memory Store that honours the storage contracts: ids
// are unique, SigningKeys hides deleted keys and orders by CreatedAt,
// CreateSecret keeps the first secret of a name and returns it to everyone.
// It hands out copies so that callers cannot alter what it holds. It cannot
// rotate (its storage.KeyRotation is nil): the rotation tests run on SQLite.
type memStore struct {
	storage.KeyRotation

	mu      sync.Mutex
	keys    []storage.SigningKey
	secrets map[string]storage.Secret

	keyReads    int
	secretReads int
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{secrets: make(map[string]storage.Secret)}
}

func copyKey(k storage.SigningKey) storage.SigningKey {
	k.PublicJWK = bytes.Clone(k.PublicJWK)
	k.PrivateSealed = bytes.Clone(k.PrivateSealed)
	return k
}

func (s *memStore) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys {
		if have.ID == k.ID {
			return storage.ErrConflict
		}
	}
	s.keys = append(s.keys, copyKey(*k))
	return nil
}

func (s *memStore) SigningKeys(ctx context.Context, now time.Time) ([]storage.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keyReads++
	var out []storage.SigningKey
	for _, k := range s.keys {
		if k.DeleteAt.IsZero() || k.DeleteAt.After(now) {
			out = append(out, copyKey(k))
		}
	}
	slices.SortStableFunc(out, func(a, b storage.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (s *memStore) CreateSecret(ctx context.Context, sec *storage.Secret) (*storage.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	have, ok := s.secrets[sec.Name]
	if !ok {
		have = *sec
		have.Sealed = bytes.Clone(sec.Sealed)
		s.secrets[sec.Name] = have
	}
	have.Sealed = bytes.Clone(have.Sealed)
	return &have, nil
}

func (s *memStore) Secret(ctx context.Context, name string) (*storage.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secretReads++
	have, ok := s.secrets[name]
	if !ok {
		return nil, storage.ErrNotFound
	}
	have.Sealed = bytes.Clone(have.Sealed)
	return &have, nil
}

// update applies f to the stored key with that id, to simulate tampering.
func (s *memStore) update(t *testing.T, id string, f func(*storage.SigningKey)) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.keys {
		if s.keys[i].ID == id {
			f(&s.keys[i])
			return
		}
	}
	t.Fatalf("no stored key %q", id)
}

func (s *memStore) reads() (keys, secrets int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyReads, s.secretReads
}

func (s *memStore) all() []storage.SigningKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.SigningKey, len(s.keys))
	for i, k := range s.keys {
		out[i] = copyKey(k)
	}
	return out
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newKEK(t testing.TB) []byte {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	return kek
}

func newSealer(t testing.TB, kek []byte) *Sealer {
	t.Helper()
	s, err := NewSealer(kek)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

// newTestManager returns a Manager over store with a fresh sealer for kek
// and the given clock (nil: real time).
func newTestManager(t testing.TB, store Store, kek []byte, clock *fakeClock) *Manager {
	t.Helper()
	opts := Options{}
	if clock != nil {
		opts.Now = clock.Now
	}
	return NewManager(store, newSealer(t, kek), opts)
}

// ensured returns a Manager on which Ensure succeeded.
func ensured(t testing.TB, store Store, kek []byte, clock *fakeClock) *Manager {
	t.Helper()
	m := newTestManager(t, store, kek, clock)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return m
}
