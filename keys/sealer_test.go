package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"strings"
	"testing"
)

func TestNewSealer(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer(%d bytes): got no error, want one", n)
		}
	}
	kek := newKEK(t)
	a, b := newSealer(t, kek), newSealer(t, kek)
	if a.KEKID() != b.KEKID() {
		t.Errorf("got KEK ids %q and %q for one KEK, want equal", a.KEKID(), b.KEKID())
	}
	if got := len(a.KEKID()); got != 16 {
		t.Errorf("got KEK id of %d characters, want 16", got)
	}
	if c := newSealer(t, newKEK(t)); c.KEKID() == a.KEKID() {
		t.Errorf("got equal KEK ids for two KEKs, want different")
	}
	if s := a.String(); !strings.Contains(s, a.KEKID()) {
		t.Errorf("got String %q, want it to name the KEK id", s)
	}
}

func TestSealerRoundTrip(t *testing.T) {
	s := newSealer(t, newKEK(t))
	for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("private key "), 200)} {
		ad := []byte("kid-1")
		sealed, err := s.Seal(pt, ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if want := len(pt) + 12 + 16; len(sealed) != want {
			t.Errorf("got %d sealed bytes, want %d (nonce, ciphertext, tag)", len(sealed), want)
		}
		if len(pt) > 8 && bytes.Contains(sealed, pt[:8]) {
			t.Errorf("sealed data contains plaintext")
		}
		again, _ := s.Seal(pt, ad)
		if bytes.Equal(sealed, again) {
			t.Errorf("got identical output for two seals, want a fresh nonce each time")
		}
		got, err := s.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("got %q, want %q", got, pt)
		}
	}
}

func TestSealerRejects(t *testing.T) {
	kek := newKEK(t)
	s := newSealer(t, kek)
	ad := []byte("kid-1")
	sealed, err := s.Seal([]byte("the private key"), ad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealer *Sealer
		sealed []byte
		ad     []byte
	}{
		{"nonce altered", s, flip(0), ad},
		{"ciphertext altered", s, flip(12), ad},
		{"tag altered", s, flip(len(sealed) - 1), ad},
		{"truncated", s, sealed[:len(sealed)-1], ad},
		{"too short", s, sealed[:10], ad},
		{"empty", s, nil, ad},
		{"extended", s, append(bytes.Clone(sealed), 0), ad},
		{"wrong associated data", s, sealed, []byte("kid-2")},
		{"missing associated data", s, sealed, nil},
		{"wrong KEK", newSealer(t, newKEK(t)), sealed, ad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealer.Open(tt.sealed, tt.ad)
			if err == nil {
				t.Fatalf("got plaintext %q and no error, want an error", got)
			}
			if got != nil {
				t.Errorf("got plaintext %q with the error, want nil", got)
			}
			if !strings.HasPrefix(err.Error(), "keys: open:") {
				t.Errorf("got error %q, want a keys: open: error", err)
			}
		})
	}
}

// Blobs sealed before Seal built its own nonce (cipher.NewGCMWithRandomNonce,
// which prepends it the same way) still open, and new blobs open under it.
func TestSealerFormatUnchanged(t *testing.T) {
	kek := make([]byte, KEKSize)
	for i := range kek {
		kek[i] = byte(i)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	old, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		t.Skipf("this build has no NewGCMWithRandomNonce for AES: %v", err)
	}
	s, err := NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	blob := old.Seal(nil, nil, []byte("private key"), []byte("kid-1"))
	if got, err := s.Open(blob, []byte("kid-1")); err != nil || string(got) != "private key" {
		t.Fatalf("old blob: %q %v", got, err)
	}
	sealed, err := s.Seal([]byte("secret"), []byte("name"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := old.Open(nil, nil, sealed, []byte("name")); err != nil || string(got) != "secret" {
		t.Fatalf("new blob under the old construction: %q %v", got, err)
	}
}
