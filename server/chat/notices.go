package chat

import (
	"sync"
)

// Join and leave notices in big rooms. Each joined or left notice goes to
// every member of the room, so in a big room it is the expensive part of a
// join or a leave: ten connections churning join/leave in a 2,000-member
// room sent 3,829 requests in 20 s, well within their rate limits, that
// caused ~9.7M pushes and took an unrelated client's p99 from 1.9 ms to
// 224 ms. In rooms past NoticeRoomSize members a node publishes at most
// NoticeRate notices per second per room (bursts of NoticeBurst) and drops
// the rest, counted: members learn the room's count from the next notice
// or from presence, which stays exact. (Centrifugo turns join/leave
// notices off per namespace for the same reason.)

// noticeLimit holds a token bucket per big room with notices lately.
type noticeLimit struct {
	mu    sync.Mutex
	rooms map[string]*tokenBucket
}

// noticeSweepAt is the number of big rooms past which a new one first drops
// the buckets that are full again (rooms whose churn stopped).
const noticeSweepAt = 256

// noticeAllowed reports whether a joined/left notice of room, whose member
// count is now count, may be published.
func (n *Node) noticeAllowed(room string, count int) bool {
	cfg := &n.cfg
	if cfg.NoticeRoomSize < 0 || count <= cfg.NoticeRoomSize {
		return true
	}
	l := &n.notices
	now := n.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.rooms[room]
	if b == nil {
		if l.rooms == nil {
			l.rooms = map[string]*tokenBucket{}
		}
		if len(l.rooms) >= noticeSweepAt {
			for k, x := range l.rooms {
				if x.full(now, cfg.NoticeRate, cfg.NoticeBurst) {
					delete(l.rooms, k)
				}
			}
		}
		b = &tokenBucket{}
		l.rooms[room] = b
	}
	if b.allow(now, cfg.NoticeRate, cfg.NoticeBurst) {
		return true
	}
	n.m.noticesDropped.Inc()
	return false
}
