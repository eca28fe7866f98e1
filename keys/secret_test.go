package keys

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
)

func TestSecretStableAcrossManagers(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), newKEK(t)
	a := newTestManager(t, store, kek, nil) // no Ensure needed for secrets
	s1, err := a.Secret(ctx, "codes")
	if err != nil {
		t.Fatalf("Secret: %v", err)
	}
	if len(s1) != SecretSize {
		t.Errorf("got %d bytes, want %d", len(s1), SecretSize)
	}
	if bytes.Equal(s1, make([]byte, SecretSize)) {
		t.Errorf("got an all-zero secret")
	}
	s1[0] ^= 0xff // the caller's copy; the cache must not change
	again, _ := a.Secret(ctx, "codes")
	s1[0] ^= 0xff
	if !bytes.Equal(again, s1) {
		t.Errorf("got another secret after the caller changed its copy, want the original")
	}

	b := newTestManager(t, store, kek, nil)
	s2, err := b.Secret(ctx, "codes")
	if err != nil {
		t.Fatalf("Secret on a second Manager: %v", err)
	}
	if !bytes.Equal(s1, s2) {
		t.Errorf("got different secrets from two Managers on one store, want the same")
	}
	other, err := b.Secret(ctx, "refresh")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other, s1) {
		t.Errorf("got the same secret for two names, want different")
	}

	stored, err := store.Secret(ctx, "codes")
	if err != nil {
		t.Fatal(err)
	}
	if stored.KEKID != a.sealer.KEKID() || bytes.Contains(stored.Sealed, s1) {
		t.Errorf("got stored KEK id %q (want %q) or the secret in clear", stored.KEKID, a.sealer.KEKID())
	}
}

func TestSecretConcurrent(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), newKEK(t)
	ms := []*Manager{newTestManager(t, store, kek, nil), newTestManager(t, store, kek, nil)}
	const perManager = 10
	var wg sync.WaitGroup
	got := make([][]byte, 2*perManager)
	errs := make([]error, 2*perManager)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = ms[i%2].Secret(ctx, "codes") })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(got[i], got[0]) {
			t.Errorf("caller %d: got a different secret from caller 0, want the same", i)
		}
	}
}

func TestSecretErrors(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), newKEK(t)
	if _, err := newTestManager(t, store, kek, nil).Secret(ctx, "codes"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kek     []byte
		secret  string
		tamper  func(*memStore)
		wantErr string
	}{
		{name: "empty name", kek: kek, secret: "", wantErr: "empty"},
		{name: "wrong KEK", kek: newKEK(t), secret: "codes", wantErr: "wrong KEK"},
		{
			name: "altered", kek: kek, secret: "codes", wantErr: "authentication failed",
			tamper: func(s *memStore) {
				s.mu.Lock()
				defer s.mu.Unlock()
				sec := s.secrets["codes"]
				sec.Sealed[len(sec.Sealed)-1] ^= 1
			},
		},
		{
			name: "moved to another name", kek: kek, secret: "moved", wantErr: "authentication failed",
			tamper: func(s *memStore) {
				s.mu.Lock()
				defer s.mu.Unlock()
				sec := s.secrets["codes"]
				sec.Name = "moved"
				s.secrets["moved"] = sec
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tamper != nil {
				tt.tamper(store)
			}
			got, err := newTestManager(t, store, tt.kek, nil).Secret(ctx, tt.secret)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %x, error %v; want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}
