package main

import (
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
)

// operatorActions is how the CLI acts (admin.Service): its audit events
// are appended at once, back-channel logout notices are queued for the
// running server to deliver, and revoked families are remembered as long
// as an access token they issued may be used, plus 5 minutes for clock
// skew, as the provider's own revocations do (provider.revokeFamily). km
// may be nil for commands that touch no key.
func operatorActions(cfg Config, store *stores, km admin.KeyManager) *admin.Service {
	return admin.New(admin.Config{
		Store:      store,
		Keys:       km,
		Record:     auditAppender{store},
		FamilyKeep: cfg.AccessTokenTTL + 5*time.Minute,
	})
}
