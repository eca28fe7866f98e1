package clientpolicy

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsOnlyStorageKeysAndMFA keeps the package a leaf that the
// provider, the commands and (later) the admin API can all use: of
// Gatehouse's own packages it imports storage, keys and mfa only (mfa for
// the acr values of default_acr_values; it imports none of ours).
func TestImportsOnlyStorageKeysAndMFA(t *testing.T) {
	const module = "github.com/gatehouse-idp/gatehouse"
	allowed := map[string]bool{module + "/storage": true, module + "/keys": true, module + "/mfa": true}
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if (imp == module || strings.HasPrefix(imp, module+"/")) && !allowed[imp] {
			t.Errorf("clientpolicy imports %s: got it, want only %s/storage, %s/keys and %s/mfa of this module", imp, module, module, module)
		}
	}
}
