package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// generator drives one Gatehouse: the endpoints from its discovery
// document, the clients the scenarios act as, and the HTTP client every
// worker shares.
type generator struct {
	cfg          config
	ep           endpoints
	http         *http.Client
	confidential oauthClient
	public       oauthClient
	progress     io.Writer // a line a second; io.Discard for none
	// server, when not nil, is the server's process, whose CPU time and
	// memory each run reports (-server-pid).
	server *serverProcess
	// totp holds signin_totp's users; nil when it does not run.
	totp *totpUsers
}

// runResult is what one run (one scenario at one concurrency) measured.
type runResult struct {
	scenario    string
	unit        string
	concurrency int
	elapsed     time.Duration // the measured window, warm-up excluded
	requests    int64         // HTTP requests sent by the measured iterations
	errors      map[string]uint64
	errorCount  uint64
	latency     histogram    // successful iterations only
	server      *serverUsage // nil without -server-pid
}

// throughput returns successful iterations per second.
func (r *runResult) throughput() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.latency.count()) / r.elapsed.Seconds()
}

// maxPrepareAttempts bounds how often a worker other than the first tries
// to prepare: their failures are usually a busy server (sign-ins are
// rate-limited by the password hash), since the first worker got through.
const maxPrepareAttempts = 5

// errCannotStart wraps a failure of the first worker's preparation or
// first iteration: the server is not set up for the scenario.
var errCannotStart = errors.New("cannot start")

// run runs sc with c closed-loop workers: each sends its next iteration as
// soon as the previous one answered. Workers are prepared first (not
// measured); then they run for the warm-up (not counted) and the duration.
// Only iterations that start and end inside the measured window count.
// When ctx ends early, the result covers the window up to then.
func (g *generator) run(ctx context.Context, sc scenario, c int) (*runResult, error) {
	label := fmt.Sprintf("%s c=%d", sc.name, c)
	fmt.Fprintf(g.progress, "%s: preparing %d worker(s)\n", label, c)
	works, browsers, err := g.prepareWorkers(ctx, sc, c)
	if err != nil {
		return nil, err
	}

	var ok, failed atomic.Uint64
	begin := time.Now()
	from := begin.Add(g.cfg.warmup)
	until := from.Add(g.cfg.duration)
	var serverCPU <-chan cpuSpan
	if g.server != nil {
		serverCPU = g.server.cpuDuring(ctx, from, until)
	}
	workers := make([]*worker, c)
	var wg sync.WaitGroup
	for i := range c {
		w := &worker{b: browsers[i], work: works[i], errors: map[string]uint64{}}
		workers[i] = w
		wg.Go(func() { w.loop(ctx, from, until, &ok, &failed) })
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	g.reportProgress(ctx, label, sc.unit, from, finished, &ok, &failed)
	<-finished

	end := until
	if now := time.Now(); ctx.Err() != nil && now.Before(until) {
		end = now
	}
	res := &runResult{scenario: sc.name, unit: sc.unit, concurrency: c, errors: map[string]uint64{}}
	if end.After(from) {
		res.elapsed = end.Sub(from)
	}
	for _, w := range workers {
		res.latency.merge(&w.latency)
		res.requests += w.requests
		for k, n := range w.errors {
			res.errors[k] += n
			res.errorCount += n
		}
	}
	if g.server != nil {
		span := <-serverCPU
		mem, err := g.server.memory()
		if err := cmp.Or(span.err, err); err != nil {
			return res, fmt.Errorf("reading the server's process (-server-pid): %w", err)
		}
		res.server = &serverUsage{cpu: span.cpu, window: span.window, mem: mem}
	}
	return res, ctx.Err()
}

// prepareWorkers prepares c workers: the first alone, so that a server not
// set up for the scenario fails once with a clear message (its first
// iteration, after its pacing wait, must succeed too), then the others, at
// most prepareAtOnce at a time: they sign in as one user, and Gatehouse
// checks at most 5 passwords of one account at once (more are refused with
// 429).
// prepareAtOnce bounds the workers prepared at once (prepareWorkers).
const prepareAtOnce = 4

func (g *generator) prepareWorkers(ctx context.Context, sc scenario, c int) ([]work, []*browser, error) {
	works := make([]work, c)
	browsers := make([]*browser, c)
	for i := range browsers {
		browsers[i] = &browser{client: g.http}
	}
	first, err := sc.prepare(ctx, g, browsers[0], 0)
	if err == nil && first.pace != nil {
		err = first.pace(ctx)
	}
	if err == nil {
		err = first.iteration(ctx)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: scenario %s: %w", errCannotStart, sc.name, err)
	}
	works[0] = first

	errs := make([]error, c)
	var wg sync.WaitGroup
	slots := make(chan struct{}, prepareAtOnce)
	for i := 1; i < c; i++ {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			for attempt := 1; ; attempt++ {
				works[i], errs[i] = sc.prepare(ctx, g, browsers[i], i)
				if errs[i] == nil || attempt == maxPrepareAttempts || ctx.Err() != nil {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt) * time.Second):
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("scenario %s: preparing the workers: %w", sc.name, err)
	}
	return works, browsers, nil
}

// worker is one closed-loop client. Its counters are its own, merged
// after the run, so that workers share nothing but two atomic counters for
// the progress line.
type worker struct {
	b *browser
	work
	latency  histogram
	errors   map[string]uint64
	requests int64
}

// loop repeats the worker's iteration until the window closes. An
// iteration's latency runs from its start, after its pacing wait, to its
// end: the wait is the generator's, not the server's.
func (w *worker) loop(ctx context.Context, from, until time.Time, ok, failed *atomic.Uint64) {
	for ctx.Err() == nil {
		if w.pace != nil {
			pctx, cancel := context.WithDeadline(ctx, until)
			err := w.pace(pctx)
			cancel()
			if err != nil {
				return // the window closed, or the run was interrupted
			}
		}
		sent := w.b.requests
		start := time.Now()
		if !start.Before(until) {
			return
		}
		err := w.iteration(ctx)
		end := time.Now()
		if ctx.Err() != nil {
			return // interrupted: the answer says nothing about the server
		}
		if start.Before(from) || end.After(until) {
			continue // warm-up, or finished after the window closed
		}
		w.requests += w.b.requests - sent
		if err != nil {
			w.errors[errorKind(err)]++
			failed.Add(1)
			continue
		}
		w.latency.record(end.Sub(start))
		ok.Add(1)
	}
}

// reportProgress writes a line a second of the measured window until
// finished is closed: elapsed time, iterations so far, the last second's
// rate, and errors.
func (g *generator) reportProgress(ctx context.Context, label, unit string, from time.Time, finished <-chan struct{}, ok, failed *atomic.Uint64) {
	if wait := time.Until(from); wait > 0 {
		fmt.Fprintf(g.progress, "%s: warming up for %v\n", label, g.cfg.warmup)
		select {
		case <-finished:
			return
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last uint64
	lastAt := from
	for {
		select {
		case <-finished:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n, e := ok.Load(), failed.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(g.progress, "%s: %5.1fs  %10d %s  %9.1f/s  %d errors\n",
				label, now.Sub(from).Seconds(), n, unit, rate, e)
			last, lastAt = n, now
		}
	}
}
