package isotime

import (
	"testing"
	"time"
)

// Format matches toISOString (and time.Format with its layout) to the
// millisecond, truncating like JavaScript.
func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 19, 41, 1, 978_999_999, time.UTC), "2026-11-26T19:41:01.978Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC), "2026-01-02T03:04:05.006Z"},
		{time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 3600)), "1999-12-31T22:59:59.000Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "9999-12-31T23:59:59.999Z"},
	} {
		if got := Format(tc.t); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.t, got, tc.want)
		}
	}
	for i := 0; i < 10000; i++ {
		tm := time.Unix(0, int64(i)*987_654_321_123)
		if got, want := Format(tm), tm.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
