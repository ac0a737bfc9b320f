package chat

// Replies that carry stored messages (history pages, a join's messages) are
// bounded like the room list: never more than half of a connection's
// outbound limit, so that asking for them cannot close the requester as a
// slow consumer (100 messages of 60 KB are 6 MB; at the default 1 MiB
// limit, such a history page closed its requester with 4008, and a client
// recovering into that room would reconnect and be closed forever).

// replyOverhead is the JSON of one message besides its strings: field
// names, quotes, the offset, type and punctuation (generously).
const replyOverhead = 128

// fitReply keeps the newest of evs (oldest first) whose JSON fits in half a
// connection's outbound limit; cut reports that older ones were left out.
func (n *Node) fitReply(evs []*Event) (kept []*Event, cut bool) {
	budget := n.cfg.MaxOutboundBytes/2 - replyOverhead // the reply's own fields
	for i := len(evs) - 1; i >= 0; i-- {
		ev := evs[i]
		budget -= replyOverhead + jsonLen(ev.Content) + jsonLen(ev.Name) + jsonLen(ev.UserID) + jsonLen(ev.Room) +
			len(ev.Timestamp) + len(ev.Epoch)
		if budget < 0 {
			return evs[i+1:], true
		}
	}
	return evs, false
}

// jsonLen is the length of s as a JSON string's contents: quotes and
// backslashes take two bytes, other control characters up to six.
func jsonLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}
