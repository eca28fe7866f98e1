package loginui

import (
	"crypto/rand"
	"testing"
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
