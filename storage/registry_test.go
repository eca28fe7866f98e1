package storage

import (
	"errors"
	"testing"
)

// TestCheckClientRegistry: which registry may replace the applied one, and
// why one may not.
func TestCheckClientRegistry(t *testing.T) {
	reg := func(rev int64, digest string) ClientRegistry { return ClientRegistry{Revision: rev, Digest: digest} }
	for _, tc := range []struct {
		name    string
		applied *ClientRegistry
		next    ClientRegistry
		// refused: "" (applies), "older" or "conflict"
		refused string
	}{
		{"nothing applied", nil, reg(0, "a"), ""},
		{"nothing applied, a revision", nil, reg(4, "a"), ""},
		{"newer", &ClientRegistry{Revision: 4, Digest: "a"}, reg(5, "b"), ""},
		{"a revision over none", &ClientRegistry{Revision: 0, Digest: "a"}, reg(1, "b"), ""},
		{"the same again", &ClientRegistry{Revision: 4, Digest: "a"}, reg(4, "a"), ""},
		{"no revision over no revision", &ClientRegistry{Revision: 0, Digest: "a"}, reg(0, "b"), ""},
		{"older", &ClientRegistry{Revision: 4, Digest: "a"}, reg(3, "a"), "older"},
		{"no revision over a revision", &ClientRegistry{Revision: 4, Digest: "a"}, reg(0, "a"), "older"},
		{"same revision, other clients", &ClientRegistry{Revision: 4, Digest: "a"}, reg(4, "b"), "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckClientRegistry(tc.applied, tc.next)
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var refused *RegistryRefusedError
			if !errors.As(err, &refused) || !errors.Is(err, ErrConflict) {
				t.Fatalf("got %v, want a *RegistryRefusedError wrapping ErrConflict", err)
			}
			if got := map[bool]string{true: "older", false: "conflict"}[refused.Older()]; got != tc.refused {
				t.Errorf("refused as %s, want %s (%v)", got, tc.refused, err)
			}
			if refused.Applied != *tc.applied || refused.Given != tc.next {
				t.Errorf("error names %+v over %+v, want %+v over %+v", refused.Given, refused.Applied, tc.next, *tc.applied)
			}
		})
	}
}
