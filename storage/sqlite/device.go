package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const deviceColumns = `device_code_hash, user_code, client_id, scopes, acr_values, created_at, expires_at, keep_until,
	interval_ns, last_poll, status, user_id, session_id, auth_time, amr, redeemed_by`

// CreateDeviceAuthorization stores d; ErrConflict if its device code hash
// or its user code is taken by a stored row.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	const op = "create device authorization"
	var e encoder
	args := []any{d.DeviceCodeHash, d.UserCode, d.ClientID, e.strings(d.Scopes), e.strings(d.ACRValues),
		e.time(d.CreatedAt), e.time(d.ExpiresAt), e.time(d.KeepUntil), int64(d.Interval), e.time(d.LastPoll),
		d.Status, d.UserID, d.SessionID, e.time(d.AuthTime), e.strings(d.AMR), d.RedeemedBy}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// DeviceAuthorizationByUserCode returns the row with that user code if
// now is before its expires_at; otherwise ErrNotFound.
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceAuthorization, error) {
	const op = "device authorization by user code"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	d, err := scanDevice(s.queryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE user_code = ? AND expires_at > ?`, userCode, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return d, nil
}

// DecideDeviceAuthorization records the user's answer (storage.DecideDevice)
// in a write transaction.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, deviceCodeHash string, dec storage.DeviceDecision, now time.Time) error {
	_, err := s.changeDevice(ctx, "decide device authorization", deviceCodeHash, func(d *storage.DeviceAuthorization) (bool, error) {
		return true, storage.DecideDevice(d, dec, now)
	})
	return err
}

// PollDeviceAuthorization records a poll (storage.PollDevice) in a write
// transaction and returns the row after it.
func (s *Store) PollDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time, slowDown time.Duration) (*storage.DeviceAuthorization, bool, error) {
	slow := false
	d, err := s.changeDevice(ctx, "poll device authorization", deviceCodeHash, func(d *storage.DeviceAuthorization) (bool, error) {
		slow = storage.PollDevice(d, now, slowDown)
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return d, slow, nil
}

// RedeemDeviceAuthorization marks the approved row redeemed by claim
// (storage.RedeemDevice) in a write transaction.
func (s *Store) RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash, claim string, now time.Time) error {
	_, err := s.changeDevice(ctx, "redeem device authorization", deviceCodeHash, func(d *storage.DeviceAuthorization) (bool, error) {
		return storage.RedeemDevice(d, claim, now)
	})
	return err
}

// changeDevice reads the row of deviceCodeHash and writes back what change
// made of it, in one write transaction (which holds the write lock from its
// start, so no other change comes between the read and the write). change
// reports whether it changed anything; its error is returned, wrapped, and
// nothing is written.
func (s *Store) changeDevice(ctx context.Context, op, hash string, change func(*storage.DeviceAuthorization) (bool, error)) (*storage.DeviceAuthorization, error) {
	in, err := s.begin(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer in.end(ctx)
	d, err := scanDevice(in.queryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations WHERE device_code_hash = ?`, hash))
	if err != nil {
		return nil, wrap(op, err)
	}
	changed, err := change(d)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if !changed {
		return d, nil
	}
	var e encoder
	args := []any{int64(d.Interval), e.time(d.LastPoll), d.Status, d.UserID, d.SessionID, e.time(d.AuthTime),
		e.strings(d.AMR), d.RedeemedBy, hash}
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if _, err := in.exec(ctx, `UPDATE device_authorizations SET interval_ns = ?, last_poll = ?, status = ?,
		user_id = ?, session_id = ?, auth_time = ?, amr = ?, redeemed_by = ? WHERE device_code_hash = ?`, args...); err != nil {
		return nil, wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return nil, wrap(op, err)
	}
	return d, nil
}

func scanDevice(row scanner) (*storage.DeviceAuthorization, error) {
	var (
		d                                          storage.DeviceAuthorization
		scopes, acr, amr                           string
		interval                                   int64
		created, expires, keep, lastPoll, authTime sql.NullInt64
	)
	err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &scopes, &acr, &created, &expires, &keep,
		&interval, &lastPoll, &d.Status, &d.UserID, &d.SessionID, &authTime, &amr, &d.RedeemedBy)
	if err != nil {
		return nil, err
	}
	var dec decoder
	d.Scopes, d.ACRValues, d.AMR = dec.strings(scopes), dec.strings(acr), dec.strings(amr)
	d.CreatedAt, d.ExpiresAt, d.KeepUntil = dec.time(created), dec.time(expires), dec.time(keep)
	d.LastPoll, d.AuthTime = dec.time(lastPoll), dec.time(authTime)
	d.Interval = time.Duration(interval)
	if dec.err != nil {
		return nil, dec.err
	}
	return &d, nil
}
