package rooms

import (
	"fmt"

	"github.com/chatd/chatd/eventloop"
)

// CheckIndex reports the first member of a room's list on loop whose Ref
// (in its connection's Set) does not name the room and its slot in that
// list, or a list whose count disagrees with its length. Run on loop.
func (r *Registry) CheckIndex(loop int, setOf func(*eventloop.Conn) *Set) error {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		for id, room := range s.rooms {
			for class := 0; class < room.classes; class++ {
				l := room.list(loop, class)
				if int(l.n.Load()) != len(l.conns) {
					s.mu.RUnlock()
					return fmt.Errorf("room %s loop %d class %d: count %d, %d listed", id, loop, class, l.n.Load(), len(l.conns))
				}
				for j, c := range l.conns {
					k := setOf(c).Index(id)
					if k < 0 || setOf(c).At(k).room != room || setOf(c).At(k).idx != int32(j) {
						s.mu.RUnlock()
						return fmt.Errorf("room %s loop %d class %d: the member in slot %d has set index %d", id, loop, class, j, k)
					}
				}
			}
		}
		s.mu.RUnlock()
	}
	return nil
}

// ListCap returns the capacity of the room's list on loop for class. Run on loop.
func (r *Room) ListCap(loop, class int) int { return cap(r.list(loop, class).conns) }
