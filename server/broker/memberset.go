package broker

import (
	"iter"
	"slices"
	"strings"
)

// Keyed is what a MemberSet holds: a room member that names its user id.
type Keyed interface {
	UserID() string
}

// UserID makes an Identity a member a MemberSet can hold.
func (id *Identity) UserID() string { return id.User }

// MemberSet is one room's members as a broker keeps them on a node: one
// entry per user, found by user id. The memory broker keeps identities
// (8 bytes a member), the Redis broker its own small records.
//
// Why not a map by user id: its slots carry the key's string header (16
// bytes) beside the value, and its groups run part empty, ~52 B a member in
// rooms of 100 for a value of 16 bytes: the largest part of what a v2
// connection paid per extra room (issue 22). A member here is its value
// alone, in a slice sorted by user id that grows by an eighth at a time. A lookup is a binary search; a join or a leave moves the values
// after the member's place. In rooms over bigRoom members that move gets
// long (it runs under the broker's lock), so they use a map instead, and go
// back to the list below half of that.
//
// The zero MemberSet is empty and ready to use. Not safe for concurrent
// use: the broker's lock guards it.
type MemberSet[M Keyed] struct {
	list []M // sorted by UserID; unused while big is not nil
	big  map[string]M
}

// bigRoom is the size past which a room's members are a map: a join or a
// leave moves at most 1,024 values before that.
const bigRoom = 1024

// Len returns the number of members.
func (s *MemberSet[M]) Len() int {
	if s.big != nil {
		return len(s.big)
	}
	return len(s.list)
}

// search returns where user is, or would be, in the list.
func (s *MemberSet[M]) search(user string) (int, bool) {
	return slices.BinarySearchFunc(s.list, user, func(m M, u string) int {
		return strings.Compare(m.UserID(), u)
	})
}

// Get returns user's entry.
func (s *MemberSet[M]) Get(user string) (M, bool) {
	if s.big != nil {
		m, ok := s.big[user]
		return m, ok
	}
	if i, ok := s.search(user); ok {
		return s.list[i], true
	}
	var zero M
	return zero, false
}

// Add makes m's user a member unless it is one already (false: the set is
// unchanged).
func (s *MemberSet[M]) Add(m M) bool {
	return s.put(m, false)
}

// Set makes m the entry of its user, added or replaced; true if added.
func (s *MemberSet[M]) Set(m M) bool {
	return s.put(m, true)
}

func (s *MemberSet[M]) put(m M, replace bool) bool {
	user := m.UserID()
	if s.big != nil {
		if _, ok := s.big[user]; ok {
			if replace {
				s.big[user] = m
			}
			return false
		}
		s.big[user] = m
		return true
	}
	i, ok := s.search(user)
	if ok {
		if replace {
			s.list[i] = m
		}
		return false
	}
	if len(s.list) == bigRoom {
		s.big = make(map[string]M, bigRoom+1)
		for _, e := range s.list {
			s.big[e.UserID()] = e
		}
		s.big[user] = m
		s.list = nil
		return true
	}
	if len(s.list) == cap(s.list) {
		// Grow by an eighth, not append's double: a room holds its array
		// for as long as it has members, and the spare half of a doubled
		// one cost as much as the members in it. Each growth copies the
		// list, ~8 values per join on average: cheap beside the search.
		n := len(s.list)
		grown := make([]M, n, n+max(4, n/8))
		copy(grown, s.list)
		s.list = grown
	}
	s.list = slices.Insert(s.list, i, m)
	return true
}

// Remove takes user out, reporting whether it was a member.
func (s *MemberSet[M]) Remove(user string) bool {
	if s.big != nil {
		if _, ok := s.big[user]; !ok {
			return false
		}
		delete(s.big, user)
		if len(s.big) < bigRoom/2 {
			s.list = make([]M, 0, 2*len(s.big))
			for _, m := range s.big {
				s.list = append(s.list, m)
			}
			slices.SortFunc(s.list, func(a, b M) int { return strings.Compare(a.UserID(), b.UserID()) })
			s.big = nil
		}
		return true
	}
	i, ok := s.search(user)
	if !ok {
		return false
	}
	s.list = slices.Delete(s.list, i, i+1) // clears the freed slot: no pointer kept
	if c := cap(s.list); c > 16 && len(s.list) <= c/4 {
		// A room that emptied out gives back most of its array.
		s.list = append(make([]M, 0, 2*len(s.list)), s.list...)
	}
	return true
}

// All yields every member, in no promised order. The set must not change
// during the loop.
func (s *MemberSet[M]) All() iter.Seq[M] {
	return func(yield func(M) bool) {
		if s.big != nil {
			for _, m := range s.big {
				if !yield(m) {
					return
				}
			}
			return
		}
		for _, m := range s.list {
			if !yield(m) {
				return
			}
		}
	}
}

// Clone returns a copy that shares no storage with s.
func (s *MemberSet[M]) Clone() MemberSet[M] {
	if s.big != nil {
		c := make(map[string]M, len(s.big))
		for k, m := range s.big {
			c[k] = m
		}
		return MemberSet[M]{big: c}
	}
	return MemberSet[M]{list: slices.Clone(s.list)}
}
