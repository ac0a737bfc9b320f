package bench

import (
	"encoding/json"
	"fmt"
	"math/bits"
)

// Hist is a log-bucketed histogram of non-negative int64 values (nanoseconds here), in the style
// of HdrHistogram: every power of two is split into histSub linear sub-buckets, so a reported
// percentile is at most 1/histSub (0.8%) above the true value. Counts are plain integers, so
// histograms from several loops or processes merge exactly by adding buckets.
//
// A Hist is owned by one goroutine (an event loop); snapshots are taken on that goroutine.
type Hist struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      uint64
	min, max int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// Bucket indexes reach (63-histSubBits)*histSub + 2*histSub - 1 for the largest int64.
	histBuckets = (64 - histSubBits) * histSub
)

// NewHist returns an empty histogram.
func NewHist() *Hist { return &Hist{} }

func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	return shift*histSub + int(v>>uint(shift))
}

// histHigh is the largest value that falls into bucket i: percentiles report it, so they never
// understate.
func histHigh(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := i>>histSubBits - 1
	m := int64(i - shift*histSub)
	return (m+1)<<uint(shift) - 1
}

// Record adds one value; negative values (clock steps) count as zero.
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(uint64(v))]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += uint64(v)
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Max is the exact largest recorded value.
func (h *Hist) Max() int64 { return h.max }

// Mean is the exact mean of the recorded values.
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return float64(h.sum) / float64(h.n)
}

// Percentile returns the value at quantile q (0..1): the upper bound of the bucket holding the
// ceil(q*n)-th smallest value, capped by the exact maximum.
func (h *Hist) Percentile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			v := histHigh(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.max
}

// Merge adds o's values to h.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Hist) Reset() { *h = Hist{} }

// histJSON is the sparse wire form used between processes: [index, count] pairs.
type histJSON struct {
	N      uint64      `json:"n"`
	Sum    uint64      `json:"sum"`
	Min    int64       `json:"min"`
	Max    int64       `json:"max"`
	Counts [][2]uint64 `json:"counts"`
}

// MarshalJSON writes the sparse form.
func (h *Hist) MarshalJSON() ([]byte, error) {
	j := histJSON{N: h.n, Sum: h.sum, Min: h.min, Max: h.max, Counts: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			j.Counts = append(j.Counts, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the sparse form.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	h.Reset()
	var n uint64
	for _, p := range j.Counts {
		if p[0] >= histBuckets {
			return fmt.Errorf("histogram: bucket %d out of range", p[0])
		}
		h.counts[p[0]] += p[1]
		n += p[1]
	}
	if n != j.N {
		return fmt.Errorf("histogram: buckets hold %d values, header says %d", n, j.N)
	}
	h.n, h.sum, h.min, h.max = j.N, j.Sum, j.Min, j.Max
	return nil
}

// LatencySummary is the human- and JSON-facing digest of a Hist, in milliseconds.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	P999Ms float64 `json:"p999Ms"`
	MaxMs  float64 `json:"maxMs"`
}

// Summary digests h (values in nanoseconds) into milliseconds.
func (h *Hist) Summary() LatencySummary {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return LatencySummary{
		Count:  h.n,
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Percentile(0.50)),
		P90Ms:  ms(h.Percentile(0.90)),
		P99Ms:  ms(h.Percentile(0.99)),
		P999Ms: ms(h.Percentile(0.999)),
		MaxMs:  ms(h.max),
	}
}
