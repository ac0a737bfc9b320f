package auth

import (
	"fmt"
	"strings"
	"unicode"
)

// Rooms is a set of room ids a user may join: exact ids, and prefixes
// written with a trailing `*` ("team-*"; a lone "*" is every room). The zero
// Rooms allows nothing; AllRooms allows everything (a token without a
// rooms claim).
type Rooms struct {
	all      bool
	patterns []string // as written; those ending in '*' match by prefix
}

// AllRooms is the set of every room.
var AllRooms = Rooms{all: true}

// ParseRooms checks patterns (not empty, no control characters, each at
// most maxBytes before its `*` when maxBytes > 0) and makes a set of them.
func ParseRooms(patterns []string, maxBytes int) (Rooms, error) {
	r := Rooms{patterns: make([]string, 0, len(patterns))}
	for _, p := range patterns {
		id := strings.TrimSuffix(p, "*")
		switch {
		case p == "":
			return Rooms{}, fmt.Errorf("empty room pattern")
		case maxBytes > 0 && len(id) > maxBytes:
			return Rooms{}, fmt.Errorf("room pattern over %d bytes", maxBytes)
		case strings.IndexFunc(p, unicode.IsControl) >= 0:
			return Rooms{}, fmt.Errorf("control character in a room pattern")
		}
		if p == "*" {
			r.all = true
		}
		r.patterns = append(r.patterns, p)
	}
	return r, nil
}

// Allows reports whether room is in the set.
func (r Rooms) Allows(room string) bool {
	if r.all {
		return true
	}
	for _, p := range r.patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(room, prefix) {
				return true
			}
		} else if p == room {
			return true
		}
	}
	return false
}

// All reports whether the set is every room.
func (r Rooms) All() bool { return r.all }

// String renders the set for logs.
func (r Rooms) String() string {
	if r.all {
		return "*"
	}
	return strings.Join(r.patterns, ",")
}
