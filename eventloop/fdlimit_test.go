package eventloop

import "testing"

func TestMaxTCPConnsFor(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		loops int
		want  int
	}{
		{20000, 2, 20000 - 256 - 8},
		{1 << 20, 2, 1<<20 - 256 - 8},
		{1 << 20, 64, 1<<20 - 256 - 256},
		{1024, 2, 760},
		{300, 2, 75}, // a low limit: a quarter of it (and a warning at start)
	} {
		if got := maxTCPConnsFor(tc.limit, tc.loops); got != tc.want {
			t.Errorf("limit %d loops %d: %d, want %d", tc.limit, tc.loops, got, tc.want)
		}
	}
	// The bar: at this machine's limit, clients get at least 97 %
	// of the descriptors, whatever the loop count a 2-core box would use.
	for loops := 1; loops <= 8; loops++ {
		if got := maxTCPConnsFor(20000, loops); got < 20000*97/100 {
			t.Errorf("loops %d: cap %d is under 97 %% of 20,000", loops, got)
		}
	}
	if n, limit := defaultMaxTCPConns(2); limit > 0 && (n <= 0 || uint64(n) >= limit) {
		t.Errorf("default cap %d for limit %d", n, limit)
	}
}
