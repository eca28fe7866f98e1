package conformance

import "testing"

// suiteBackend returns the environment that selects the stores for the
// servers of this run: none for the embedded default.
func suiteBackend(t *testing.T) []string {
	return nil
}
