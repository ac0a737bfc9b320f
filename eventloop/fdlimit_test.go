package eventloop

import "testing"

func TestMaxTCPConnsFor(t *testing.T) {
	for _, tc := range []struct {
		limit   uint64
		backlog int
		want    int
	}{
		{20000, 4096, 20000 - 4096 - 256},
		{1 << 20, 4096, 1<<20 - 4096 - 256},
		{1024, 4096, 256}, // a low limit: a quarter of it (and a warning at start)
		{8192, 128, 8192 - 128 - 256},
	} {
		if got := maxTCPConnsFor(tc.limit, tc.backlog); got != tc.want {
			t.Errorf("limit %d backlog %d: %d, want %d", tc.limit, tc.backlog, got, tc.want)
		}
	}
	if n, limit := defaultMaxTCPConns(); limit > 0 && (n <= 0 || uint64(n) >= limit) {
		t.Errorf("default cap %d for limit %d", n, limit)
	}
}
