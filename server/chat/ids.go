package chat

import (
	"crypto/rand"
	"encoding/binary"
)

// NewID returns a random 10-character base-36 id, the shape of the reference
// app's user ids (Math.random().toString(36).substr(2, 10)).
func NewID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	_, _ = rand.Read(b[:])
	v := binary.LittleEndian.Uint64(b[:])
	var id [10]byte
	for i := range id {
		id[i] = digits[v%36]
		v /= 36
	}
	return string(id[:])
}
