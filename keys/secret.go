package keys

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// SecretSize is the length in bytes of a server secret.
const SecretSize = 32

// Secret returns the named 32-byte server secret (for example the key op
// seals authorization codes with). The first call for a name reads it from
// the store and opens it (associated data: the name); if the store has none
// it generates one from Options.Random, seals it and stores it with
// storage.Secrets.CreateSecret, and uses whatever secret the store returns,
// so instances racing on a first start agree. Later calls are answered from
// memory. The returned slice is a copy the caller may keep or clear.
//
// Errors: an empty name, a store failure, or a stored secret that cannot be
// opened (another KEK, altered data, wrong length). Secret never replaces a
// stored secret it cannot open.
func (m *Manager) Secret(ctx context.Context, name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("keys: secret name is empty")
	}
	m.secretsMu.RLock()
	v, ok := m.secrets[name]
	m.secretsMu.RUnlock()
	if ok {
		return clone(v), nil
	}
	if err := m.ready(); err != nil {
		return nil, err
	}

	s, err := m.store.Secret(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		s, err = m.createSecret(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: secret %q: %w", name, err)
	}
	v, err = m.openSecret(s, name)
	if err != nil {
		return nil, err
	}

	m.secretsMu.Lock()
	if cached, ok := m.secrets[name]; ok {
		clear(v)
		v = cached // identical: the store hands every caller the same row
	} else {
		m.secrets[name] = v
	}
	m.secretsMu.Unlock()
	return clone(v), nil
}

func (m *Manager) createSecret(ctx context.Context, name string) (*storage.Secret, error) {
	raw := make([]byte, SecretSize)
	defer clear(raw)
	if _, err := io.ReadFull(m.random, raw); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	sealed, err := m.sealer.Seal(raw, []byte(name))
	if err != nil {
		return nil, err
	}
	return m.store.CreateSecret(ctx, &storage.Secret{
		Name:      name,
		Sealed:    sealed,
		KEKID:     m.sealer.KEKID(),
		CreatedAt: m.now(),
	})
}

func (m *Manager) openSecret(s *storage.Secret, name string) ([]byte, error) {
	if s == nil || s.Name != name {
		return nil, fmt.Errorf("keys: secret %q: the store returned another record", name)
	}
	if s.KEKID != m.sealer.KEKID() {
		return nil, fmt.Errorf("keys: secret %q is sealed under KEK %s but the configured KEK is %s: wrong KEK", name, s.KEKID, m.sealer.KEKID())
	}
	v, err := m.sealer.Open(s.Sealed, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("keys: secret %q: %w", name, err)
	}
	if len(v) != SecretSize {
		clear(v)
		return nil, fmt.Errorf("keys: secret %q is %d bytes, want %d", name, len(v), SecretSize)
	}
	return v, nil
}

func clone(b []byte) []byte {
	return append([]byte(nil), b...)
}
