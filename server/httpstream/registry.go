package httpstream

import (
	"crypto/rand"
	"encoding/base64"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
)

// Session ids and the sessions of this node.
//
// A session id is "<node>.<secret>": the node's id in base64url (no
// padding), so that any node can tell where to relay a POST, and 16 random
// bytes in base64url (22 characters), so that knowing the node does not let
// anyone guess a session. The id is a bearer credential for the session's
// life (whoever sends it speaks as the session), carried in POST bodies, not
// URLs; a resume's URL names it (an EventSource cannot set headers), so
// proxies in front of chatd should not log query strings of the stream path.

// maxSIDBytes bounds a session id a client sends.
const maxSIDBytes = 256

// sidCodec encodes both halves of a session id.
var sidCodec = base64.RawURLEncoding

// nodeKey is a node's half of its session ids.
func nodeKey(nodeID string) string { return sidCodec.EncodeToString([]byte(nodeID)) }

// newSID returns a fresh session id of the node whose key is key.
func newSID(key string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return key + "." + sidCodec.EncodeToString(b[:])
}

// nodeOf returns the node that holds the session sid, or false if sid is not
// a session id at all.
func nodeOf(sid string) (string, bool) {
	key, secret, ok := strings.Cut(sid, ".")
	if !ok || len(sid) > maxSIDBytes || len(secret) != 22 {
		return "", false
	}
	node, err := sidCodec.DecodeString(key)
	if err != nil || len(node) == 0 {
		return "", false
	}
	if _, err := sidCodec.DecodeString(secret); err != nil {
		return "", false
	}
	return string(node), true
}

// session is one stream session of this node.
type session struct {
	sid  string
	conn *eventloop.Conn
	sess *chat.Session
	// Loop only (the conn's): the sequence number of the next POST to
	// apply, and whether the connection is gone.
	next   uint64
	closed bool
}

// registry finds this node's sessions by id (any goroutine) and by
// connection (when one closes).
type registry struct {
	seed   maphash.Seed
	shards [32]struct {
		mu sync.RWMutex
		m  map[string]*session
	}
	mu     sync.Mutex
	byConn map[*eventloop.Conn]*session
}

func newRegistry() *registry {
	r := &registry{seed: maphash.MakeSeed(), byConn: map[*eventloop.Conn]*session{}}
	for i := range r.shards {
		r.shards[i].m = map[string]*session{}
	}
	return r
}

func (r *registry) shard(sid string) int {
	return int(maphash.String(r.seed, sid) % uint64(len(r.shards)))
}

func (r *registry) add(s *session) {
	sh := &r.shards[r.shard(s.sid)]
	sh.mu.Lock()
	sh.m[s.sid] = s
	sh.mu.Unlock()
	r.mu.Lock()
	r.byConn[s.conn] = s
	r.mu.Unlock()
}

// get returns the session sid, or nil.
func (r *registry) get(sid string) *session {
	sh := &r.shards[r.shard(sid)]
	sh.mu.RLock()
	s := sh.m[sid]
	sh.mu.RUnlock()
	return s
}

// remove forgets the session of c and returns it (nil if c has none).
func (r *registry) remove(c *eventloop.Conn) *session {
	r.mu.Lock()
	s := r.byConn[c]
	delete(r.byConn, c)
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	sh := &r.shards[r.shard(s.sid)]
	sh.mu.Lock()
	delete(sh.m, s.sid)
	sh.mu.Unlock()
	return s
}

// len counts the sessions.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byConn)
}
