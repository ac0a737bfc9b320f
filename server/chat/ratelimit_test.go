package chat

import (
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	var b tokenBucket
	ms := int64(time.Millisecond)
	now := 5 * ms
	for i := 0; i < 4; i++ {
		if !b.allow(now, 10, 4) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.allow(now, 10, 4) {
		t.Fatal("fifth token at once allowed")
	}
	now += 100 * ms // 10/s: one token back
	if !b.allow(now, 10, 4) || b.allow(now, 10, 4) {
		t.Fatal("refill of one token wrong")
	}
	now += 10 * time.Second.Nanoseconds() // refills to the burst, not beyond
	for i := 0; i < 4; i++ {
		if !b.allow(now, 10, 4) {
			t.Fatalf("token %d after a long pause refused", i)
		}
	}
	if b.allow(now, 10, 4) {
		t.Fatal("bucket grew beyond its burst")
	}
	// Across the 32-bit millisecond wrap.
	var w tokenBucket
	wrap := int64(1<<32-50) * ms
	for i := 0; i < 2; i++ {
		if !w.allow(wrap, 10, 2) {
			t.Fatal("before the wrap")
		}
	}
	if !w.allow(wrap+100*ms, 10, 2) || w.allow(wrap+100*ms, 10, 2) {
		t.Fatal("refill across the wrap wrong")
	}
	// No limit.
	var u tokenBucket
	for i := 0; i < 1000; i++ {
		if !u.allow(now, -1, 1) {
			t.Fatal("negative rate limited")
		}
	}
}

func TestAbuseWindow(t *testing.T) {
	var b tokenBucket
	ms := int64(time.Millisecond)
	win := 10 * time.Second.Nanoseconds()
	now := 20 * time.Second.Nanoseconds()
	for i := 1; i < 3; i++ {
		if b.abusive(now, win, 3) {
			t.Fatalf("refusal %d abusive", i)
		}
	}
	if !b.abusive(now+ms, win, 3) {
		t.Fatal("third refusal in the window not abusive")
	}
	// A new window starts over.
	if b.abusive(now+win+2*ms, win, 3) {
		t.Fatal("first refusal of a new window abusive")
	}
}
