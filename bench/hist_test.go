package bench

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHistBucketsAreContiguous(t *testing.T) {
	prevHigh := int64(-1)
	for i := 0; i < histBuckets; i++ {
		h := histHigh(i)
		if h <= prevHigh {
			t.Fatalf("bucket %d high %d not above %d", i, h, prevHigh)
		}
		// The lowest value of bucket i is prevHigh+1 and must map back to i.
		if got := histIndex(uint64(prevHigh + 1)); got != i {
			t.Fatalf("value %d maps to bucket %d, want %d", prevHigh+1, got, i)
		}
		if got := histIndex(uint64(h)); got != i {
			t.Fatalf("value %d maps to bucket %d, want %d", h, got, i)
		}
		prevHigh = h
		if h < 0 { // overflowed past int64: last bucket
			break
		}
	}
}

func TestHistPercentilesWithinRelativeError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHist()
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 2e6) // ~2 ms mean, long tail
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals))+0.999999999)-1]
		got := h.Percentile(q)
		if got < exact || float64(got-exact) > float64(exact)/histSub+1 {
			t.Errorf("q=%v: got %d, exact %d", q, got, exact)
		}
	}
	if h.Percentile(1) != vals[len(vals)-1] || h.Max() != vals[len(vals)-1] {
		t.Errorf("max %d, want %d", h.Max(), vals[len(vals)-1])
	}
	if h.Count() != uint64(len(vals)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestHistSmallExact(t *testing.T) {
	h := NewHist()
	for v := int64(1); v <= 100; v++ {
		h.Record(v)
	}
	if p := h.Percentile(0.5); p != 50 {
		t.Fatalf("p50 %d", p)
	}
	if p := h.Percentile(0.99); p != 99 {
		t.Fatalf("p99 %d", p)
	}
	if h.Mean() != 50.5 {
		t.Fatalf("mean %v", h.Mean())
	}
	h.Record(-5)
	if h.Percentile(0) != 0 {
		t.Fatal("negative value not clamped to 0")
	}
	if NewHist().Percentile(0.5) != 0 {
		t.Fatal("empty histogram")
	}
}

func TestHistMergeEqualsCombined(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b, all := NewHist(), NewHist(), NewHist()
	for i := 0; i < 5000; i++ {
		v := r.Int64N(1e9)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	m := NewHist()
	m.Merge(a)
	m.Merge(b)
	if *m != *all {
		t.Fatal("merged histogram differs from the combined one")
	}
	// And through the JSON form used between processes.
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Hist
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back != *a {
		t.Fatal("JSON round trip differs")
	}
	if err := json.Unmarshal([]byte(`{"n":5,"counts":[[1,2]]}`), &back); err == nil {
		t.Fatal("inconsistent histogram accepted")
	}
}
