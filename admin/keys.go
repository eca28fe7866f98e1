package admin

import (
	"context"
	"errors"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ErrNoKeyManager answers key actions of a Service without a KeyManager.
var ErrNoKeyManager = errors.New("admin: no key manager configured")

// RotateKeys starts a normal rotation now (keys.Manager.ForceRotate) and
// records key_rotated for each new key; it returns their ids, none when
// every algorithm has a pending key already.
func (s *Service) RotateKeys(ctx context.Context, who Actor) ([]string, error) {
	if s.cfg.Keys == nil {
		return nil, ErrNoKeyManager
	}
	created, err := s.cfg.Keys.ForceRotate(ctx)
	if err != nil {
		return nil, err
	}
	events := make([]storage.AuditEvent, 0, len(created))
	for _, kid := range created {
		events = append(events, storage.AuditEvent{Kind: EventKeyRotated, Detail: "kid=" + kid})
	}
	if len(events) == 0 {
		return created, nil
	}
	return created, s.record(ctx, who, events...)
}

// RevokeKey takes a compromised key out of the JWKS at once
// (keys.Manager.Revoke) and records key_revoked; it returns the key that
// signs in its place when it was the only active one of its algorithm.
// storage.ErrNotFound for an unknown kid.
func (s *Service) RevokeKey(ctx context.Context, who Actor, kid string) (string, error) {
	if s.cfg.Keys == nil {
		return "", ErrNoKeyManager
	}
	repl, err := s.cfg.Keys.Revoke(ctx, kid)
	if err != nil {
		return "", err
	}
	detail := "kid=" + kid
	if repl != "" {
		detail += " replacement=" + repl
	}
	return repl, s.record(ctx, who, storage.AuditEvent{Kind: EventKeyRevoked, Detail: detail})
}
