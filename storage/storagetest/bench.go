package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// AppendAuditBatch is the body of a backend's BenchmarkAppendAudit: each
// iteration appends one batch of 100 events (the server's audit sink
// writes at most that many at once) with every field set, as a token
// endpoint under load produces them.
func AppendAuditBatch(b *testing.B, s storage.AuditLog) {
	const batch = 100
	events := make([]storage.AuditEvent, batch)
	for i := range events {
		events[i] = storage.AuditEvent{Time: t0.Add(time.Duration(i) * time.Millisecond), Kind: "token_issued",
			UserID: fmt.Sprintf("user-%d", i%7), ClientID: "web", SessionID: "0a1b2c3d", Family: fmt.Sprintf("family-%d", i),
			IP: "192.0.2.7", Actor: "client", Detail: "grant_type=authorization_code"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AppendAudit(b.Context(), events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
