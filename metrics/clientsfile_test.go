package metrics

import (
	"strings"
	"testing"
)

func TestClientsFile(t *testing.T) {
	var none *Metrics
	none.ClientsFile(true, 1, 2)
	none.ClientsFileDiffers(true)
	none.ClientsFileRefused(ClientsFileConflict)

	m := New()
	// Every refusal reason is there from the start, at 0.
	compare(t, m, `# HELP gatehouse_clients_file_refused_total Versions of this instance's clients.yaml not applied, by reason: invalid, older (revision) or conflict (same revision, other clients).
# TYPE gatehouse_clients_file_refused_total counter
gatehouse_clients_file_refused_total{reason="conflict"} 0
gatehouse_clients_file_refused_total{reason="invalid"} 0
gatehouse_clients_file_refused_total{reason="older"} 0
`, "gatehouse_clients_file_refused_total")
	m.ClientsFile(true, 4, 5)
	m.ClientsFileRefused(ClientsFileOlder)
	body := scrape(t, m)
	for _, want := range []string{"gatehouse_clients_file_differs 1", "gatehouse_clients_file_revision 4",
		"gatehouse_clients_registry_revision 5", `gatehouse_clients_file_refused_total{reason="older"} 1`} {
		if !contains(body, want) {
			t.Errorf("scrape: got\n%s\nwant a line %q", body, want)
		}
	}
	m.ClientsFileDiffers(false)
	if body := scrape(t, m); !contains(body, "gatehouse_clients_file_differs 0") || !contains(body, "gatehouse_clients_file_revision 4") {
		t.Errorf("after ClientsFileDiffers(false): got\n%s\nwant differs 0, the revisions kept", body)
	}
}

// contains reports whether body has line as a whole line.
func contains(body, line string) bool {
	return strings.Contains("\n"+body, "\n"+line+"\n")
}
