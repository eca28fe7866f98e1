package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// observeHook reports every command and pipeline the store sends to an
// observer (Options.Observer), as a go-redis hook: op is the command's
// name ("get", "evalsha"), or "pipeline" for a pipeline, one round trip.
// What go-redis sends to set up a new connection (setupCommand) is left
// out: it is not a store call, and go-redis shrugs off its errors (an
// older Redis refusing CLIENT SETINFO).
type observeHook struct{ obs storage.CallObserver }

// setupCommand reports whether a command is one go-redis sends to set up
// a connection; the store itself never does.
func setupCommand(cmd goredis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}

func (h observeHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h observeHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if setupCommand(cmd) {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		h.obs.Observe("redis", cmd.Name(), time.Since(start), callError(err))
		return err
	}
}

func (h observeHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if len(cmds) > 0 && setupCommand(cmds[0]) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		d := time.Since(start)
		// The pipeline's error is its first failed command's; a missing
		// key is not a failure, so each command is looked at.
		failed := callError(err)
		for _, cmd := range cmds {
			if failed != nil {
				break
			}
			failed = callError(cmd.Err())
		}
		h.obs.Observe("redis", "pipeline", d, failed)
		return err
	}
}

// callError returns err unless it is an answer rather than a failure: a
// missing key (goredis.Nil), a script Redis has to be sent again
// (NOSCRIPT, which go-redis and the store retry with the script), or the
// caller giving up (context.Canceled: a client that went away).
func callError(err error) error {
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.Canceled) ||
		goredis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}

// PoolStats returns the connection pool's statistics now, for metrics.
func (s *Store) PoolStats() *goredis.PoolStats { return s.rdb.PoolStats() }
