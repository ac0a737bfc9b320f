package redis

import (
	"strconv"
	"sync"
)

// Redis Cluster hash slots.
//
// The broker routes its own write pipelines and its sharded subscriptions
// by slot (exec.go, subscribe.go), so it computes slots itself: CRC16
// (XMODEM: polynomial 0x1021, initial value 0) of the key's hash tag, modulo
// 16384, as the cluster specification defines it.

// numSlots is the number of hash slots of a Redis Cluster.
const numSlots = 16384

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crcTable[byte(c>>8)^s[i]]
	}
	return c
}

// keySlot returns the slot of a key (or shard channel): that of its hash tag,
// the part between the first '{' and the next '}' if not empty, else of the
// whole key.
func keySlot(key string) int {
	for i := 0; i < len(key); i++ {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(key)) % numSlots
			}
		}
		break
	}
	return int(crc16(key)) % numSlots
}

// slotTags names one short hash tag per slot, so that the broker can put a
// key into a chosen slot: a node's registrations of the members it has in
// the rooms of one slot live in a key of that slot (keys.go), next to the
// rooms' own keys, so one script updates both. The table is built the same
// way on every node (the first base-36 number that falls into each slot),
// but nodes never rely on that: the tags a node uses are recorded in Redis.
var (
	slotTagOnce sync.Once
	slotTagTab  []string
)

func slotTag(slot int) string {
	slotTagOnce.Do(func() {
		slotTagTab = make([]string, numSlots)
		for n, filled := uint64(0), 0; filled < numSlots; n++ {
			s := strconv.FormatUint(n, 36)
			if sl := int(crc16(s)) % numSlots; slotTagTab[sl] == "" {
				slotTagTab[sl] = s
				filled++
			}
		}
	})
	return slotTagTab[slot]
}
