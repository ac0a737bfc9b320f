package chat

import (
	"testing"
	"unsafe"
)

// The carrier's per-address slot must not grow the session: with the limit
// off it costs nothing, with it on nothing but the slot, which sits in what
// was padding.
func TestSessionSizeWithIPSlot(t *testing.T) {
	var s Session
	withoutSlot := unsafe.Offsetof(s.ipSlot) // the slot is the last field
	if got := unsafe.Sizeof(s); got != (withoutSlot+7)&^7 {
		t.Fatalf("Session is %d bytes; without its int32 slot it would be %d: the slot no longer fits in padding", got, (withoutSlot+7)&^7)
	}
}
