package loginui

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name     string
		params   Argon2Params
		password string
	}{
		{"default params", DefaultArgon2Params, testPassword},
		{"cheap params", cheapArgon2, testPassword},
		{"unicode", cheapArgon2, "pässwörd ✓"},
		{"NUL inside", cheapArgon2, "pass\x00word"},
		{"at the limit", cheapArgon2, strings.Repeat("p", MaxPasswordBytes)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			phc, err := HashPassword(tt.password, tt.params, rand.Reader)
			if err != nil {
				t.Fatalf("HashPassword: %v", err)
			}
			if !strings.HasPrefix(phc, "$argon2id$v=19$") {
				t.Errorf("PHC: got %q, want an argon2id v=19 string", phc)
			}
			again, _ := HashPassword(tt.password, tt.params, rand.Reader)
			if again == phc {
				t.Errorf("two hashes of one password: got the same string, want fresh salts")
			}
			ok, err := VerifyPassword(phc, tt.password)
			if err != nil || !ok {
				t.Errorf("VerifyPassword(right password): got (%v, %v), want (true, nil)", ok, err)
			}
			for _, wrong := range []string{"", tt.password + "x", tt.password[:len(tt.password)-1], strings.ToUpper(tt.password)} {
				if wrong == tt.password {
					continue
				}
				ok, err := VerifyPassword(phc, wrong)
				if err != nil || ok {
					t.Errorf("VerifyPassword(wrong password %.20q): got (%v, %v), want (false, nil)", wrong, ok, err)
				}
			}
		})
	}
}

// TestUnmatchableHash checks the login UI's hash for unknown users: it has
// the parameters asked for, so checking it costs what checking a real hash
// costs, and no password matches it.
func TestUnmatchableHash(t *testing.T) {
	for _, p := range []Argon2Params{DefaultArgon2Params, cheapArgon2} {
		phc, err := unmatchableHash(p, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		got, salt, key, err := parsePHC(phc)
		if err != nil {
			t.Fatalf("parsePHC(%q): %v", phc, err)
		}
		if got.MemoryKiB != p.MemoryKiB || got.Iterations != p.Iterations || got.Parallelism != p.Parallelism ||
			len(salt) != p.SaltLen || len(key) != int(p.KeyLen) {
			t.Errorf("%q: got params %+v, %d-byte salt, %d-byte key; want %+v", phc, got, len(salt), len(key), p)
		}
		again, _ := unmatchableHash(p, rand.Reader)
		if again == phc {
			t.Errorf("two hashes: got the same string, want fresh salts and keys")
		}
		for _, pw := range []string{"", testPassword, "gatehouse-dummy-password"} {
			if ok, err := VerifyPassword(phc, pw); ok || err != nil {
				t.Errorf("VerifyPassword(%q): got (%v, %v), want (false, nil)", pw, ok, err)
			}
		}
	}
}

func TestPasswordTooLong(t *testing.T) {
	long := strings.Repeat("p", MaxPasswordBytes+1)
	if _, err := HashPassword(long, cheapArgon2, rand.Reader); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("HashPassword(%d bytes): got %v, want ErrPasswordTooLong", len(long), err)
	}
	// A hash whose password is the first MaxPasswordBytes bytes must not
	// match a longer input that shares them.
	phc, err := HashPassword(long[:MaxPasswordBytes], cheapArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{long, strings.Repeat("p", 1<<20)} {
		if ok, err := VerifyPassword(phc, pw); ok {
			t.Errorf("VerifyPassword(%d bytes): got (%v, %v), want false", len(pw), ok, err)
		}
	}
}

func TestVerifyPasswordMalformedPHC(t *testing.T) {
	good, err := HashPassword(testPassword, cheapArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, m=…, salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"argon2i", with(1, "argon2i")},
		{"argon2d", with(1, "argon2d")},
		{"algorithm case", with(1, "Argon2id")},
		{"bcrypt cut short", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0"}, // 57 bytes; a whole one is checked (TestVerifyBcrypt)
		{"bcrypt of an unknown version", "$2c$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"},
		{"plain sha256", "sha256:" + strings.Repeat("0", 64)},
		{"old version", with(2, "v=16")},
		{"no version", with(2, "")},
		{"huge m", with(3, "m=2000000,t=1,p=1")},
		{"m overflows uint32", with(3, "m=4294967296,t=1,p=1")},
		{"m way too big", with(3, "m=99999999999999999999,t=1,p=1")},
		{"negative m", with(3, "m=-1,t=1,p=1")},
		{"m too small", with(3, "m=7,t=1,p=1")},
		{"t=0", with(3, "m=64,t=0,p=1")},
		{"huge t", with(3, "m=64,t=65,p=1")},
		{"p=0", with(3, "m=64,t=1,p=0")},
		{"p overflows uint8", with(3, "m=64,t=1,p=256")},
		{"params missing", with(3, "m=64")},
		{"params empty", with(3, "")},
		{"bad base64 salt", with(4, "!!!!notbase64!!!!")},
		{"padded salt", with(4, parts[4]+"==")},
		{"short salt", with(4, "c2FsdA")},
		{"empty salt", with(4, "")},
		{"bad base64 key", with(5, "%%%%")},
		{"short key", with(5, "c2hvcnRrZXk")},
		{"empty key", with(5, "")},
		{"huge key", with(5, strings.Repeat("A", 200))},
		{"too few parts", strings.Join(parts[:5], "$")},
		{"too many parts", good + "$extra"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"leading text", "x" + good},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.phc, testPassword)
			if ok {
				t.Errorf("VerifyPassword(%q): got true, want false", tt.phc)
			}
			if err == nil {
				t.Errorf("VerifyPassword(%q): got nil error, want an error", tt.phc)
			}
		})
	}
}

// FuzzParsePHC: parsePHC never panics, and whatever it accepts has costs
// within its documented bounds (it is not run through argon2 here: the
// bounds are what keeps that affordable).
func FuzzParsePHC(f *testing.F) {
	good, err := HashPassword(testPassword, cheapArgon2, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		good, "", "$", "$$$$$", "$argon2id$v=19$m=1048577,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 22),
		"$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$argon2id$v=19junk$m=64,t=1,p=1garbage$c2FsdHNhbHQ$" + strings.Repeat("A", 22),
		"$argon2id$v=+19$m= 64,t=+1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 22),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := parsePHC(phc)
		if err != nil {
			if !errors.Is(err, errBadPHC) {
				t.Fatalf("parsePHC(%q): got error %v, want errBadPHC", phc, err)
			}
			return
		}
		if p.MemoryKiB < 8 || p.MemoryKiB > 1<<20 {
			t.Fatalf("parsePHC(%q): accepted m=%d, want 8..%d", phc, p.MemoryKiB, 1<<20)
		}
		if p.Iterations < 1 || p.Iterations > 64 {
			t.Fatalf("parsePHC(%q): accepted t=%d, want 1..64", phc, p.Iterations)
		}
		if p.Parallelism < 1 {
			t.Fatalf("parsePHC(%q): accepted p=%d, want >= 1", phc, p.Parallelism)
		}
		if len(salt) < 8 {
			t.Fatalf("parsePHC(%q): accepted a %d-byte salt, want >= 8", phc, len(salt))
		}
		if len(key) < 16 || len(key) > 128 {
			t.Fatalf("parsePHC(%q): accepted a %d-byte key, want 16..128", phc, len(key))
		}
		if !strings.HasPrefix(phc, "$argon2id$") {
			t.Fatalf("parsePHC(%q): accepted a string that is not argon2id", phc)
		}
	})
}

func TestCanonicalUsername(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"ALICE", "alice"},
		{"  alice\t\n", "alice"},
		{"Alice@Example.COM", "alice@example.com"},
		{"a l i c e", "a l i c e"},
		{"", ""},
		{"   ", ""},
		{"\u00a0alice\u00a0", "alice"}, // no-break space is Unicode space
		{"\u212aate", "kate"},          // Kelvin sign folds to k: one account
		{"ÅLICE", "ålice"},
		{"ａｌｉｃｅ", "alice"},               // fullwidth forms: one account
		{"𝐀𝐥𝐢𝐜𝐞", "alice"},               // mathematical bold
		{"ſam", "sam"},                   // long s folds to s
		{"STRASSE", "strasse"},           // full case folding:
		{"straße", "strasse"},            // ß and SS are one
		{"аlice", "аlice"},               // Cyrillic а is another letter (and no account has it)
		{"al\xff\xfeice", "al\ufffdice"}, // invalid UTF-8: one replacement character
		{strings.Repeat("a", 300), strings.Repeat("a", MaxUsernameBytes)},
		{strings.Repeat("é", 200), strings.Repeat("é", MaxUsernameBytes/2)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := CanonicalUsername(tt.in); got != tt.want {
				t.Errorf("CanonicalUsername(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidUsername(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"alice", true},
		{"a", true},
		{"alice.smith-jr_2+tag@example.com", true},
		{"0123456789", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{"Alice", false},
		{"al ice", false},
		{" alice", false},
		{"alice\x00", false},
		{"alice\xff", false},
		{"ålice", false},
		{"аlice", false}, // Cyrillic a
		{"a/b", false},
		{"a\\b", false},
		{"a:b", false},
		{"<script>", false},
		{"alice\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidUsername(tt.in); got != tt.want {
				t.Errorf("ValidUsername(%q): got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
