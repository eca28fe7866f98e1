package keys

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// CodeKeyName is the name of the first key that seals authorization codes
// (op's symmetric crypto key); its successors are CodeKeyName-2,
// CodeKeyName-3, and so on. They are server secrets like any other.
const CodeKeyName = "op-crypto-key"

// Defaults of the code-key schedule (see Options).
const (
	DefaultCodeKeyRotateEvery = 24 * time.Hour
	DefaultCodeKeyLead        = 2 * time.Minute
	DefaultCodeKeyKeep        = 10 * time.Minute
)

// CodeKey is one symmetric key that seals authorization codes. ID is the
// secret's name, which every instance knows the key by.
type CodeKey struct {
	ID  string
	Key [SecretSize]byte
}

// codeKeySet is one immutable load of the code keys, oldest first.
type codeKeySet struct {
	keys    []CodeKey
	created []time.Time
}

// The code-key schedule, with the defaults: a key seals codes from its
// creation plus CodeKeyLead (the first key at once), so that every instance
// has loaded it before any instance seals with it; the newest key past that
// point seals. A key keeps opening codes until its successor has sealed for
// CodeKeyKeep (codes live 60 s), then it is dropped, and Rotate deletes it.
// Rotate creates a successor when the sealing key has sealed for
// CodeKeyRotateEvery minus CodeKeyLead.

// activation is when s.keys[i] starts to seal.
func (s *codeKeySet) activation(i int, lead time.Duration) time.Time {
	if i == 0 {
		return s.created[0]
	}
	return s.created[i].Add(lead)
}

// sealing returns the index of the key that seals at now: the newest one
// active then, or the oldest if none is (a clock behind the store's).
func (s *codeKeySet) sealing(now time.Time, lead time.Duration) int {
	for i := len(s.keys) - 1; i > 0; i-- {
		if !now.Before(s.activation(i, lead)) {
			return i
		}
	}
	return 0
}

// expired reports whether s.keys[i] no longer opens codes at now: a newer
// key has sealed for keep.
func (s *codeKeySet) expired(i int, now time.Time, lead, keep time.Duration) bool {
	for j := i + 1; j < len(s.keys); j++ {
		if !now.Before(s.activation(j, lead).Add(keep)) {
			return true
		}
	}
	return false
}

// EnsureCodeKeys loads the keys that seal authorization codes, creating the
// first one (CodeKeyName, through Secret, so racing instances agree) only if
// the store has no code key at all (the first may since have been rotated
// out and deleted). After it, CodeKeys answers from memory, Reload reloads the
// code keys too and Rotate rotates them. It needs a store with
// storage.KeyRotation, and fails like Secret if a stored code key cannot be
// opened.
func (m *Manager) EnsureCodeKeys(ctx context.Context) error {
	kr, err := m.rotator()
	if err != nil {
		return err
	}
	rows, err := m.codeKeyRows(ctx, kr)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		first, err := m.Secret(ctx, CodeKeyName)
		if err != nil {
			return err
		}
		clear(first)
	}
	return m.loadCodeKeys(ctx)
}

// codeKeyGeneration returns n for CodeKeyName (1) and CodeKeyName-n (n ≥ 2),
// and 0 for any other name.
func codeKeyGeneration(name string) int {
	if name == CodeKeyName {
		return 1
	}
	rest, ok := strings.CutPrefix(name, CodeKeyName+"-")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// codeKeyRows lists the stored code keys, oldest first (by CreatedAt, then
// generation).
func (m *Manager) codeKeyRows(ctx context.Context, kr storage.KeyRotation) ([]storage.Secret, error) {
	all, err := kr.SecretsByPrefix(ctx, CodeKeyName)
	if err != nil {
		return nil, fmt.Errorf("keys: code keys: %w", err)
	}
	rows := slices.DeleteFunc(all, func(s storage.Secret) bool { return codeKeyGeneration(s.Name) == 0 })
	slices.SortStableFunc(rows, func(a, b storage.Secret) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), codeKeyGeneration(a.Name)-codeKeyGeneration(b.Name))
	})
	return rows, nil
}

func (m *Manager) loadCodeKeys(ctx context.Context) error {
	kr, err := m.rotator()
	if err != nil {
		return err
	}
	rows, err := m.codeKeyRows(ctx, kr)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errors.New("keys: the store holds no code key")
	}
	set := &codeKeySet{}
	for i := range rows {
		v, err := m.openSecret(&rows[i], rows[i].Name)
		if err != nil {
			return err
		}
		k := CodeKey{ID: rows[i].Name}
		copy(k.Key[:], v)
		clear(v)
		set.keys = append(set.keys, k)
		set.created = append(set.created, rows[i].CreatedAt)
	}
	m.codeKeys.Store(set)
	return nil
}

// CodeKeys returns the key that seals authorization codes now and every key
// a code may still be opened with, newest first (the sealing key among
// them; a successor about to seal too, since an instance whose clock is
// ahead may already seal with it). It reads neither the store nor the KEK.
// It fails before the first successful EnsureCodeKeys.
func (m *Manager) CodeKeys() (seal CodeKey, open []CodeKey, err error) {
	set := m.codeKeys.Load()
	if set == nil {
		return CodeKey{}, nil, errors.New("keys: code keys are not loaded (call EnsureCodeKeys first)")
	}
	now := m.now()
	seal = set.keys[set.sealing(now, m.codeLead)]
	for i := len(set.keys) - 1; i >= 0; i-- {
		if !set.expired(i, now, m.codeLead, m.codeKeep) {
			open = append(open, set.keys[i])
		}
	}
	return seal, open, nil
}

// rotateCodeKeys applies the code-key schedule at now, under the rotation
// lock: it creates a successor when one is due and deletes expired keys
// (never the newest). It reports whether it changed anything.
func (m *Manager) rotateCodeKeys(ctx context.Context, kr storage.KeyRotation, now time.Time) (bool, error) {
	rows, err := m.codeKeyRows(ctx, kr)
	if err != nil {
		return false, err
	}
	if len(rows) == 0 {
		return false, nil // EnsureCodeKeys creates the first
	}
	set := &codeKeySet{keys: make([]CodeKey, len(rows))}
	next := 0
	for i, r := range rows {
		set.keys[i].ID = r.Name
		set.created = append(set.created, r.CreatedAt)
		next = max(next, codeKeyGeneration(r.Name)+1)
	}
	changed := false
	for i := range len(rows) - 1 {
		if set.expired(i, now, m.codeLead, m.codeKeep) {
			if err := kr.DeleteSecret(ctx, rows[i].Name); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return changed, fmt.Errorf("keys: delete code key %s: %w", rows[i].Name, err)
			}
			changed = true
		}
	}
	cur := set.sealing(now, m.codeLead)
	if cur < len(rows)-1 {
		return changed, nil // a successor is on its way
	}
	if now.Before(set.activation(cur, m.codeLead).Add(m.codeRotateEvery - m.codeLead)) {
		return changed, nil
	}
	name := CodeKeyName + "-" + strconv.Itoa(next)
	if _, err := m.createSecret(ctx, name); err != nil {
		return changed, fmt.Errorf("keys: create code key %s: %w", name, err)
	}
	return true, nil
}
