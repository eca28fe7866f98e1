package main

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: each power of two is split
// into 1<<subBucketBits buckets, so a recorded value is known to within
// 1/128 (0.8 %) of itself.
const subBucketBits = 7

const subBuckets = 1 << subBucketBits

// histogram is a log-linear (HDR-like) latency histogram in nanoseconds.
// Values below 256 ns are exact; larger ones fall in buckets whose width is
// at most 1/128 of their value. It takes a few kilobytes whatever the
// number of values, and two histograms merge by adding counts. The zero
// value is empty and ready to use; it is not safe for concurrent use.
type histogram struct {
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max time.Duration
}

// bucketOf returns the index of the bucket holding v.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	// Shift v right until it has subBucketBits+1 significant bits:
	// v>>e is then in [subBuckets, 2*subBuckets).
	e := bits.Len64(v) - subBucketBits - 1
	return (e+1)*subBuckets + int(v>>e) - subBuckets
}

// bucketHigh returns the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i/subBuckets - 1
	m := uint64(i%subBuckets + subBuckets)
	return (m+1)<<e - 1
}

// record adds one latency; negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d))
	if i >= len(h.counts) {
		grown := make([]uint64, i+1, max(i+1, 2*len(h.counts)))
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// merge adds every value of o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// count returns the number of recorded values.
func (h *histogram) count() uint64 { return h.n }

// mean returns the average recorded value, 0 when empty.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1): the smallest
// recorded value that at least q of all values do not exceed, reported as
// the top of its bucket (so never below the true value, and at most 0.8 %
// above it) and never beyond the largest value recorded. It returns 0 when
// the histogram is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketHigh(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
