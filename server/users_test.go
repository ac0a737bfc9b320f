package server

import "testing"

func TestIDKeyDistinct(t *testing.T) {
	seen := map[uint64]string{}
	for _, id := range []string{"0", "a", "00", "0a", "a0", "z", "zz", "zzzzzzzzzzz", "00000000000", "ypk0gg3ew5", "dn4x45rr56"} {
		k, ok := idKey(id)
		if !ok {
			t.Fatalf("%q refused", id)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("%q and %q share key %d", id, prev, k)
		}
		seen[k] = id
	}
	for _, id := range []string{"", "zzzzzzzzzzzz", "ABC", "a-b", "é"} {
		if _, ok := idKey(id); ok {
			t.Fatalf("%q accepted", id)
		}
	}
	for i := 0; i < 1000; i++ {
		if _, ok := idKey(newID()); !ok {
			t.Fatal("a generated id has no key")
		}
	}
}

func TestUserIndex(t *testing.T) {
	u := newUserIndex()
	a, b := &session{userID: newID()}, &session{userID: newID()}
	u.add(a)
	u.add(b)
	if u.get(a.userID) != a || u.get(b.userID) != b || u.get("nobody") != nil || u.get("NOT-OURS!") != nil {
		t.Fatal("lookup")
	}
	u.remove(a)
	if u.get(a.userID) != nil || u.get(b.userID) != b {
		t.Fatal("remove")
	}
	u.remove(&session{userID: b.userID}) // another session with the same id does not remove b
	if u.get(b.userID) != b {
		t.Fatal("removed a different session")
	}
}
