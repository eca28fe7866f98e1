package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Waiting for a start step is logged after startWaitLog, then every
// startWaitLogEvery (each at most half the step's deadline, so that a short
// deadline still says what it waited for).
const (
	startWaitLog      = 2 * time.Second
	startWaitLogEvery = 10 * time.Second
	// startGrace is how long a step whose deadline passed is given to
	// return its own error, which says more than "deadline exceeded".
	startGrace = time.Second
)

// startSteps runs the steps that open the stores and prepare serve before
// it listens. Each step talks to one store and has a deadline; while it
// waits, it says so in the log.
type startSteps struct {
	// log gets the "waiting for" lines; nil logs nothing (the CLI).
	log *slog.Logger
	// timeout bounds each step but migrations (start_timeout);
	// migrateTimeout bounds applying migrations (migrate_timeout).
	timeout, migrateTimeout time.Duration
}

// startStepsOf returns the start steps of cfg, logging to log (nil: not
// logged).
func startStepsOf(cfg Config, log *slog.Logger) startSteps {
	return startSteps{log: log, timeout: cfg.StartTimeout, migrateTimeout: cfg.MigrateTimeout}
}

// run runs fn, the step named step against store ("postgres", "sqlite",
// "redis"), within the start timeout.
func (s startSteps) run(ctx context.Context, store, step string, fn func(ctx context.Context) error) error {
	return s.within(ctx, store, step, s.timeout, "start_timeout", fn)
}

// migrate runs fn, applying migrations to store, within the migrate
// timeout.
func (s startSteps) migrate(ctx context.Context, store string, fn func(ctx context.Context) error) error {
	return s.within(ctx, store, "migrate", s.migrateTimeout, "migrate_timeout", fn)
}

// within runs fn under a deadline of timeout (the setting named setting).
// While fn runs it logs "waiting for STORE: STEP" after startWaitLog and
// then every startWaitLogEvery. When the deadline passes, the error names
// the step, the store and the setting; any other error is fn's own. A step
// that ignores the deadline is given startGrace more, then abandoned:
// serve does not wait for it.
func (s startSteps) within(ctx context.Context, store, step string, timeout time.Duration, setting string, fn func(ctx context.Context) error) error {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(sctx) }()
	began := time.Now()
	wait := time.NewTimer(min(startWaitLog, timeout/2))
	defer wait.Stop()
	var expired <-chan struct{} = sctx.Done()
	var grace <-chan time.Time
	for {
		var err error
		select {
		case err = <-done:
		case <-wait.C:
			if s.log != nil {
				s.log.WarnContext(ctx, "waiting for "+store+": "+step,
					"waited", time.Since(began).Round(time.Millisecond).String(), "gives_up_after", timeout.String(), "setting", setting)
			}
			wait.Reset(min(startWaitLogEvery, timeout/2))
			continue
		case <-expired:
			expired, grace = nil, time.After(startGrace)
			continue
		case <-grace:
			err = sctx.Err()
		}
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("%s: interrupted while waiting for %s: %w", step, store, err)
		case errors.Is(sctx.Err(), context.DeadlineExceeded) || pastDeadline(sctx):
			return fmt.Errorf("%s: %s did not answer within %s (%s; is it up and reachable?): %w", step, store, timeout, setting, err)
		default:
			return err // the step's own error says what failed
		}
	}
}

// pastDeadline reports whether ctx's deadline has come, even if ctx does
// not say so yet: a network deadline set from it can fire first.
func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
