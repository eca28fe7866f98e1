package provider

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/keys"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// fakeCodeKeys is a code-key ring the test rotates by hand.
type fakeCodeKeys struct {
	mu   sync.Mutex
	seal keys.CodeKey
	open []keys.CodeKey
}

func (f *fakeCodeKeys) CodeKeys() (keys.CodeKey, []keys.CodeKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open == nil {
		return keys.CodeKey{}, nil, errors.New("no code keys")
	}
	return f.seal, append([]keys.CodeKey(nil), f.open...), nil
}

func (f *fakeCodeKeys) set(seal keys.CodeKey, open ...keys.CodeKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seal, f.open = seal, open
}

func TestCodeKeyRotation(t *testing.T) {
	newKey := func(id string) keys.CodeKey {
		k := keys.CodeKey{ID: id}
		copy(k.Key[:], randomBytes(t, 32))
		return k
	}
	a, b, c := newKey("op-crypto-key"), newKey("op-crypto-key-2"), newKey("op-crypto-key-3")
	ring := &fakeCodeKeys{}
	ring.set(a, a)
	env := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(cfg *Config) { cfg.CodeKeys = ring })

	// Sealed with the previous key, redeemed after the rotation.
	code, verifier := env.authorizeCode(t, "openid")
	ring.set(b, b, a)
	checkTokenResponse(t, env.exchangeCode(code, verifier, "web", testWebSecret), http.StatusOK, "")

	// Sealed with a key dropped since: refused, although its request is
	// stored and unexpired.
	code, verifier = env.authorizeCode(t, "openid")
	ring.set(c, c)
	checkTokenResponse(t, env.exchangeCode(code, verifier, "web", testWebSecret), http.StatusBadRequest, "invalid_grant")

	// The newest key works, of course.
	code, verifier = env.authorizeCode(t, "openid")
	checkTokenResponse(t, env.exchangeCode(code, verifier, "web", testWebSecret), http.StatusOK, "")
}
