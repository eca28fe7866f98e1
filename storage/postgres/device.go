package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const deviceColumns = `device_code_hash, user_code, client_id, scopes, acr_values, created_at, expires_at, keep_until,
	interval_us, last_poll, status, user_id, session_id, auth_time, amr, redeemed_by`

// CreateDeviceAuthorization stores d; ErrConflict if its device code hash
// or its user code is taken by a stored row.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO device_authorizations (`+deviceColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		d.DeviceCodeHash, d.UserCode, d.ClientID, list(d.Scopes), list(d.ACRValues),
		ts(d.CreatedAt), ts(d.ExpiresAt), ts(d.KeepUntil), d.Interval.Microseconds(), ts(d.LastPoll),
		d.Status, d.UserID, d.SessionID, ts(d.AuthTime), list(d.AMR), d.RedeemedBy)
	if err != nil {
		return wrap("create device authorization", err)
	}
	return nil
}

// DeviceAuthorizationByUserCode returns the row with that user code if
// now is before its expires_at; otherwise ErrNotFound.
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceAuthorization, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
		WHERE user_code = $1 AND expires_at > $2`, userCode, ts(now)))
	if err != nil {
		return nil, wrap("device authorization by user code", err)
	}
	return d, nil
}

// DecideDeviceAuthorization records the user's answer (storage.DecideDevice)
// on the row, locked.
func (s *Store) DecideDeviceAuthorization(ctx context.Context, deviceCodeHash string, dec storage.DeviceDecision, now time.Time) error {
	_, err := s.changeDevice(ctx, "decide device authorization", deviceCodeHash, func(d *storage.DeviceAuthorization) (bool, error) {
		return true, storage.DecideDevice(d, dec, now)
	})
	return err
}

// PollDeviceAuthorization records a poll (storage.PollDevice) on the row,
// locked, and returns the row after it.
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
// (storage.RedeemDevice), locked.
func (s *Store) RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash, claim string, now time.Time) error {
	_, err := s.changeDevice(ctx, "redeem device authorization", deviceCodeHash, func(d *storage.DeviceAuthorization) (bool, error) {
		return storage.RedeemDevice(d, claim, now)
	})
	return err
}

// changeDevice reads the row of hash FOR UPDATE and writes back what
// change made of it, in one transaction: concurrent changes of one row
// wait for each other's lock and see each other's result. change reports
// whether it changed anything; its error is returned, wrapped, and nothing
// is written.
func (s *Store) changeDevice(ctx context.Context, op, hash string, change func(*storage.DeviceAuthorization) (bool, error)) (*storage.DeviceAuthorization, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var d *storage.DeviceAuthorization
	var changeErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRow(ctx, `SELECT `+deviceColumns+` FROM device_authorizations
			WHERE device_code_hash = $1 FOR UPDATE`, hash))
		if err != nil {
			return err
		}
		changed, err := change(d)
		if err != nil {
			changeErr = err
			return nil
		}
		if !changed {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE device_authorizations SET interval_us = $1, last_poll = $2, status = $3,
			user_id = $4, session_id = $5, auth_time = $6, amr = $7, redeemed_by = $8 WHERE device_code_hash = $9`,
			d.Interval.Microseconds(), ts(d.LastPoll), d.Status, d.UserID, d.SessionID, ts(d.AuthTime), list(d.AMR),
			d.RedeemedBy, hash)
		return err
	})
	switch {
	case err != nil:
		return nil, wrap(op, err)
	case changeErr != nil:
		return nil, fmt.Errorf("postgres: %s: %w", op, changeErr)
	}
	return d, nil
}

func scanDevice(row pgx.Row) (*storage.DeviceAuthorization, error) {
	var (
		d                                          storage.DeviceAuthorization
		interval                                   int64
		created, expires, keep, lastPoll, authTime pgtype.Timestamptz
	)
	err := row.Scan(&d.DeviceCodeHash, &d.UserCode, &d.ClientID, &d.Scopes, &d.ACRValues, &created, &expires, &keep,
		&interval, &lastPoll, &d.Status, &d.UserID, &d.SessionID, &authTime, &d.AMR, &d.RedeemedBy)
	if err != nil {
		return nil, err
	}
	d.CreatedAt, d.ExpiresAt, d.KeepUntil = timeOf(created), timeOf(expires), timeOf(keep)
	d.LastPoll, d.AuthTime = timeOf(lastPoll), timeOf(authTime)
	d.Interval = time.Duration(interval) * time.Microsecond
	return &d, nil
}
