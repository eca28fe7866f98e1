package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// maxSealSize bounds what Seal accepts; Gatehouse seals keys and secrets of
// a few kilobytes at most.
const maxSealSize = 1 << 20

// Sealer encrypts and authenticates small blobs (private keys, server
// secrets) with AES-256-GCM under a key-encryption key. A Sealer is safe for
// concurrent use. It does not keep the KEK itself, only the cipher built from
// it.
type Sealer struct {
	aead  cipher.AEAD
	kekID string
}

// NewSealer returns a Sealer for kek, which must be exactly 32 bytes. The
// Sealer does not retain kek; the caller may clear it afterwards.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("keys: KEK is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("keys: KEK: %w", err)
	}
	// cipher.NewGCM with a random nonce prepended by Seal, the layout
	// NewGCMWithRandomNonce produces; the latter refuses the AES block of
	// a GOEXPERIMENT=boringcrypto build, which signs RSA 1.6× faster.
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keys: KEK: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("gatehouse kek id"))
	h.Write(kek)
	return &Sealer{aead: aead, kekID: hex.EncodeToString(h.Sum(nil)[:8])}, nil
}

// KEKID returns a short identifier of the KEK (16 hex digits: the first 8
// bytes of SHA-256("gatehouse kek id" || kek)). It is not secret; it is stored
// next to every sealed blob so that a wrong KEK is reported as such rather
// than as corrupt data.
func (s *Sealer) KEKID() string { return s.kekID }

// String identifies the Sealer by KEK id only, so that printing one by
// mistake shows nothing secret.
func (s *Sealer) String() string { return "keys.Sealer(kek " + s.kekID + ")" }

// Seal encrypts plaintext and authenticates it together with associatedData.
// The result is a fresh random 96-bit nonce, the ciphertext and the 16-byte
// tag, in that order; sealing the same plaintext twice gives different
// results. associatedData is not stored in the result: it names what the
// blob is (a key id, a secret name) and must be given again to Open, so that
// a blob copied to another row does not open.
func (s *Sealer) Seal(plaintext, associatedData []byte) ([]byte, error) {
	if len(plaintext) > maxSealSize {
		return nil, fmt.Errorf("keys: seal: plaintext is %d bytes, limit %d", len(plaintext), maxSealSize)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keys: seal: random nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, associatedData), nil
}

// Open decrypts a blob made by Seal under the same KEK and associatedData.
// It returns an error, and no plaintext, if the blob was made under another
// KEK, with other associated data, or was altered or truncated.
func (s *Sealer) Open(sealed, associatedData []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("keys: open: sealed data is truncated")
	}
	plaintext, err := s.aead.Open(nil, sealed[:n], sealed[n:], associatedData)
	if err != nil {
		return nil, errors.New("keys: open: authentication failed (wrong KEK, wrong associated data, or data altered)")
	}
	return plaintext, nil
}
