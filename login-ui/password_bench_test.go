package loginui

import (
	"crypto/rand"
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// BenchmarkVerifyPassword is one sign-in's password check with the
// configured argon2id parameters (m=19 MiB, t=2, p=1): the ceiling of
// password sign-ins is GOMAXPROCS divided by its time.
func BenchmarkVerifyPassword(b *testing.B) {
	hash, err := HashPassword("correct horse battery staple", DefaultArgon2Params, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, err := VerifyPassword(hash, "correct horse battery staple")
		if err != nil || !ok {
			b.Fatalf("verify: %v %v", ok, err)
		}
	}
}

// BenchmarkVerifyPasswordParallel runs the check on every core at once.
func BenchmarkVerifyPasswordParallel(b *testing.B) {
	hash, err := HashPassword("correct horse battery staple", DefaultArgon2Params, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := VerifyPassword(hash, "correct horse battery staple"); err != nil || !ok {
				b.Errorf("verify: %v %v", ok, err)
				return
			}
		}
	})
}

// BenchmarkVerifyBcrypt is the password check of an imported bcrypt hash
// at costs 10 (the usual default elsewhere) and 12: the time its user's
// sign-in takes until the hash is replaced, against BenchmarkVerifyPassword.
func BenchmarkVerifyBcrypt(b *testing.B) {
	for _, cost := range []int{10, 12} {
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			h, err := bcrypt.GenerateFromPassword([]byte("correct horse battery staple"), cost)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if ok, err := VerifyPassword(string(h), "correct horse battery staple"); err != nil || !ok {
					b.Fatalf("verify: %v %v", ok, err)
				}
			}
		})
	}
}
