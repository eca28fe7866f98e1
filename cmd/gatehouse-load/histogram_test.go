package main

import (
	"math/rand/v2"
	"testing"
	"time"
)

// within reports whether got is want or above it by at most the
// histogram's precision (one bucket: 1/128 of the value).
func within(got, want time.Duration) bool {
	return got >= want && float64(got-want) <= float64(want)/subBuckets
}

func TestQuantileKnownInputs(t *testing.T) {
	// 1 µs, 2 µs … 10 000 µs, once each, recorded in a shuffled order.
	var uniform histogram
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(10000) {
		uniform.record(time.Duration(i+1) * time.Microsecond)
	}
	// 990 fast answers and 10 slow ones: p99 is still fast, p99.5 is not.
	var skewed histogram
	for range 990 {
		skewed.record(time.Millisecond)
	}
	for range 10 {
		skewed.record(100 * time.Millisecond)
	}
	// Below 128 ns every value has its own bucket.
	var small histogram
	for i := 1; i <= 100; i++ {
		small.record(time.Duration(i))
	}

	cases := []struct {
		name string
		h    *histogram
		q    float64
		want time.Duration
	}{
		{"uniform p50", &uniform, 0.50, 5000 * time.Microsecond},
		{"uniform p95", &uniform, 0.95, 9500 * time.Microsecond},
		{"uniform p99", &uniform, 0.99, 9900 * time.Microsecond},
		{"uniform p100", &uniform, 1, 10000 * time.Microsecond},
		{"uniform smallest", &uniform, 0.00001, time.Microsecond},
		{"skewed p50", &skewed, 0.50, time.Millisecond},
		{"skewed p99", &skewed, 0.99, time.Millisecond},
		{"skewed p99.5", &skewed, 0.995, 100 * time.Millisecond},
		{"small p50", &small, 0.50, 50},
		{"small p99", &small, 0.99, 99},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.quantile(tc.q); !within(got, tc.want) {
				t.Errorf("quantile(%v): got %v, want %v (+%v at most)", tc.q, got, tc.want, tc.want/subBuckets)
			}
		})
	}

	if got, want := uniform.count(), uint64(10000); got != want {
		t.Errorf("count: got %d, want %d", got, want)
	}
	if got, want := uniform.max, 10000*time.Microsecond; got != want {
		t.Errorf("max: got %v, want %v", got, want)
	}
	if got, want := uniform.mean(), 5000500*time.Nanosecond; got != want {
		t.Errorf("mean: got %v, want %v", got, want)
	}
	if got, want := small.quantile(0.5), time.Duration(50); got != want {
		t.Errorf("small p50: got %v, want exactly %v", got, want)
	}
}

func TestQuantileEmptyAndSingle(t *testing.T) {
	var h histogram
	if got := h.quantile(0.99); got != 0 {
		t.Errorf("empty quantile: got %v, want 0", got)
	}
	if got := h.mean(); got != 0 {
		t.Errorf("empty mean: got %v, want 0", got)
	}
	// One value: every quantile is that value exactly (clamped to max).
	h.record(1234567 * time.Nanosecond)
	for _, q := range []float64{0.01, 0.5, 0.99, 1} {
		if got, want := h.quantile(q), 1234567*time.Nanosecond; got != want {
			t.Errorf("quantile(%v) of one value: got %v, want %v", q, got, want)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all, a, b histogram
	for i := range 20000 {
		d := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var merged histogram
	merged.merge(&a)
	merged.merge(&b)
	merged.merge(&histogram{}) // an empty worker changes nothing
	for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
		if got, want := merged.quantile(q), all.quantile(q); got != want {
			t.Errorf("merged quantile(%v): got %v, want %v", q, got, want)
		}
	}
	if merged.count() != all.count() || merged.min != all.min || merged.max != all.max {
		t.Errorf("merged: got n=%d min=%v max=%v, want n=%d min=%v max=%v",
			merged.count(), merged.min, merged.max, all.count(), all.min, all.max)
	}
}

// Every value falls in a bucket that holds it and is at most 1/128 of the
// value wide, across the whole range, and the buckets follow each other.
func TestBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1<<20 - 1, 1 << 20, 1<<63 - 1}
	for range 100000 {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		high := bucketHigh(i)
		low := uint64(0)
		if i > 0 {
			low = bucketHigh(i-1) + 1
		}
		if v < low || v > high {
			t.Fatalf("value %d: bucket %d holds [%d, %d]", v, i, low, high)
		}
		if width := high - low + 1; v >= 2*subBuckets && width > v/subBuckets {
			t.Fatalf("value %d: bucket %d is %d wide, more than 1/%d of the value", v, i, width, subBuckets)
		}
	}
}
