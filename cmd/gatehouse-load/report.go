package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// writeRun prints one run's result for people.
func writeRun(w io.Writer, r *runResult) {
	fmt.Fprintf(w, "\n%s  c=%d  %.1fs measured\n", r.scenario, r.concurrency, r.elapsed.Seconds())
	fmt.Fprintf(w, "  throughput  %.1f %s/s  (%d %s, %d HTTP requests)\n",
		r.throughput(), singular(r.unit), r.latency.count(), r.unit, r.requests)
	h := &r.latency
	fmt.Fprintf(w, "  latency     p50 %s  p95 %s  p99 %s  max %s  mean %s\n",
		ms(h.quantile(0.50)), ms(h.quantile(0.95)), ms(h.quantile(0.99)), ms(h.max), ms(h.mean()))
	if u := r.server; u != nil {
		fmt.Fprintf(w, "  server      %.3f ms CPU/%s  (%.2f cores)  VmRSS %s  VmHWM %s\n",
			msFloat(u.cpuPerOp(h.count())), singular(r.unit), u.cores(), mib(u.mem.rssKiB), mib(u.mem.hwmKiB))
	}
	if r.errorCount == 0 {
		fmt.Fprintf(w, "  errors      none\n")
		return
	}
	fmt.Fprintf(w, "  errors      %d\n", r.errorCount)
	for _, k := range errorKinds(r.errors) {
		fmt.Fprintf(w, "    %8d  %s\n", r.errors[k], k)
	}
}

// writeBest prints, for a scenario run at several concurrencies, the run
// with the highest throughput.
func writeBest(w io.Writer, runs []*runResult) {
	b := best(runs)
	fmt.Fprintf(w, "\nbest %s: c=%d  %.1f %s/s  p50 %s  p99 %s  ", b.scenario, b.concurrency,
		b.throughput(), singular(b.unit), ms(b.latency.quantile(0.5)), ms(b.latency.quantile(0.99)))
	if b.server != nil {
		fmt.Fprintf(w, "server %.3f ms CPU/%s  ", msFloat(b.server.cpuPerOp(b.latency.count())), singular(b.unit))
	}
	fmt.Fprint(w, "(")
	for i, r := range runs {
		if i > 0 {
			fmt.Fprint(w, ", ")
		}
		fmt.Fprintf(w, "c=%d %.1f/s", r.concurrency, r.throughput())
	}
	fmt.Fprintln(w, ")")
}

// best returns the run with the highest throughput; runs is not empty.
func best(runs []*runResult) *runResult {
	return slices.MaxFunc(runs, func(a, b *runResult) int { return cmp.Compare(a.throughput(), b.throughput()) })
}

// errorKinds returns the error kinds, most frequent first.
func errorKinds(errs map[string]uint64) []string {
	kinds := slices.Collect(maps.Keys(errs))
	slices.SortFunc(kinds, func(a, b string) int {
		return cmp.Or(cmp.Compare(errs[b], errs[a]), strings.Compare(a, b))
	})
	return kinds
}

func singular(unit string) string { return strings.TrimSuffix(unit, "s") }

// ms formats d in milliseconds with three significant digits or so.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

// msFloat returns d in milliseconds.
func msFloat(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// mib formats a size in KiB as MiB.
func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// jsonReport is the -json output.
type jsonReport struct {
	Issuer string    `json:"issuer"`
	Runs   []jsonRun `json:"runs"`
	// Best maps each scenario to the concurrency with the highest
	// throughput.
	Best map[string]int `json:"best_concurrency"`
}

type jsonRun struct {
	Scenario    string            `json:"scenario"`
	Unit        string            `json:"unit"`
	Concurrency int               `json:"concurrency"`
	Seconds     float64           `json:"seconds"`
	Count       uint64            `json:"count"`
	Requests    int64             `json:"http_requests"`
	Throughput  float64           `json:"throughput_per_second"`
	LatencyMS   jsonLatency       `json:"latency_ms"`
	ErrorCount  uint64            `json:"error_count"`
	Errors      map[string]uint64 `json:"errors"`
	// Server is present with -server-pid.
	Server *jsonServer `json:"server,omitempty"`
}

// jsonServer is what the server's process used: CPU in the measured
// window, memory after the run.
type jsonServer struct {
	CPUMS      float64 `json:"cpu_ms"`
	CPUMSPerOp float64 `json:"cpu_ms_per_op"` // per successful iteration
	Cores      float64 `json:"cores"`
	VmRSSKiB   int64   `json:"vm_rss_kib"`
	VmHWMKiB   int64   `json:"vm_hwm_kib"`
}

type jsonLatency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// writeJSON prints every run, grouped by scenario in run order.
func writeJSON(w io.Writer, issuer string, groups [][]*runResult) error {
	rep := jsonReport{Issuer: issuer, Runs: []jsonRun{}, Best: map[string]int{}}
	for _, runs := range groups {
		if len(runs) == 0 {
			continue
		}
		for _, r := range runs {
			h := &r.latency
			rep.Runs = append(rep.Runs, jsonRun{
				Scenario: r.scenario, Unit: r.unit, Concurrency: r.concurrency, Seconds: r.elapsed.Seconds(),
				Count: h.count(), Requests: r.requests, Throughput: r.throughput(),
				LatencyMS: jsonLatency{
					P50: msFloat(h.quantile(0.5)), P95: msFloat(h.quantile(0.95)), P99: msFloat(h.quantile(0.99)),
					Max: msFloat(h.max), Mean: msFloat(h.mean()),
				},
				ErrorCount: r.errorCount, Errors: r.errors,
			})
			if u := r.server; u != nil {
				rep.Runs[len(rep.Runs)-1].Server = &jsonServer{
					CPUMS: msFloat(u.cpu), CPUMSPerOp: msFloat(u.cpuPerOp(h.count())), Cores: u.cores(),
					VmRSSKiB: u.mem.rssKiB, VmHWMKiB: u.mem.hwmKiB,
				}
			}
		}
		rep.Best[runs[0].scenario] = best(runs).concurrency
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
