package bench

import "testing"

// counts classifies a sequence of (pos, seq) arrivals.
func classify(t *testing.T, roomSize int, arrivals [][2]uint32) (fresh, late, dup int, tr *recvTrack) {
	tr = &recvTrack{}
	for _, a := range arrivals {
		switch tr.observe(a[0], roomSize, a[1]) {
		case arrivalFresh:
			fresh++
		case arrivalLate:
			late++
		case arrivalDuplicate:
			dup++
		}
	}
	return
}

func TestTrackInOrder(t *testing.T) {
	var arr [][2]uint32
	for s := uint32(0); s < 5; s++ {
		for p := uint32(0); p < 3; p++ {
			arr = append(arr, [2]uint32{p, s})
		}
	}
	f, l, d, tr := classify(t, 3, arr)
	if f != 15 || l != 0 || d != 0 || tr.missing() != 0 || tr.holes != nil {
		t.Fatalf("fresh %d late %d dup %d missing %d", f, l, d, tr.missing())
	}
}

func TestTrackLossDupReorder(t *testing.T) {
	// Sender 0: 0 1 3 2 2 5 (4 lost), 1 again, 6.
	arr := [][2]uint32{{0, 0}, {0, 1}, {0, 3}, {0, 2}, {0, 2}, {0, 5}, {0, 1}, {0, 6}}
	f, l, d, tr := classify(t, 2, arr)
	if f != 5 || l != 1 || d != 2 || tr.missing() != 1 {
		t.Fatalf("fresh %d late %d dup %d missing %d", f, l, d, tr.missing())
	}
}

func TestTrackHoleSplitting(t *testing.T) {
	// Jump to 10 leaves 0..9 missing; fill them out of order, with duplicates.
	arr := [][2]uint32{{1, 10}, {1, 5}, {1, 0}, {1, 9}, {1, 5}, {1, 3}, {1, 4}, {1, 6}, {1, 7}, {1, 8}, {1, 1}, {1, 2}, {1, 2}, {1, 10}}
	f, l, d, tr := classify(t, 2, arr)
	if f != 1 || l != 10 || d != 3 || tr.missing() != 0 || len(tr.holes) != 0 {
		t.Fatalf("fresh %d late %d dup %d missing %d holes %v", f, l, d, tr.missing(), tr.holes)
	}
}

func TestTrackSparseForHugeRooms(t *testing.T) {
	size := denseTrackLimit + 1
	arr := [][2]uint32{{4000, 0}, {4096, 0}, {4096, 2}, {4096, 1}, {4096, 1}}
	f, l, d, tr := classify(t, size, arr)
	if f != 3 || l != 1 || d != 1 || tr.dense != nil || len(tr.sparse) != 2 {
		t.Fatalf("fresh %d late %d dup %d dense %v sparse %d", f, l, d, tr.dense != nil, len(tr.sparse))
	}
}
