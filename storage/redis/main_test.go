package redis

import (
	"os"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/redis/redistest"
)

// TestMain fails the run if any test left keys under the production prefix
// (DefaultPrefix): every test writes under a prefix of its own.
func TestMain(m *testing.M) {
	os.Exit(redistest.Main(m))
}

// The guard must look for the prefix the store really uses by default.
func TestProductionPrefixGuarded(t *testing.T) {
	if redistest.ProductionPrefix != DefaultPrefix {
		t.Errorf("redistest guards %q, want DefaultPrefix %q", redistest.ProductionPrefix, DefaultPrefix)
	}
}
