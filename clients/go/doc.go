// Package chatdclient is a Go client for chatd's protocol v2
// (docs/protocol-v2.md in the repository), for bots, backends and tests. It
// keeps one WebSocket connection up and hides what the protocol asks of a
// client: hello, request ids and timeouts, reconnecting with backoff,
// re-joining every room with `since` so that nothing is missed, server
// resyncs, and token refresh.
//
//	import chatdclient "github.com/chatd/chatd/clients/go"
//
//	c, err := chatdclient.Connect(ctx, chatdclient.Config{URL: "ws://localhost:8080/ws", Name: "bot"})
//	if err != nil { ... }
//	defer c.Close()
//	room, err := c.Join(ctx, "general", &chatdclient.JoinOptions{History: 20})
//	...
//	for ev := range c.Events() {
//		if m, ok := ev.(chatdclient.MessageEvent); ok {
//			fmt.Printf("%s: %s\n", m.Name, m.Content)
//		}
//	}
//
// # Connection
//
// Connect returns once the server has answered hello. From then on the
// client reconnects by itself whenever the connection drops: with
// exponential backoff and jitter (Config.BackoffMin, BackoffMax), trying
// Config.AltURLs in turn. StateEvents tell the application: connecting,
// connected, disconnected (with the close code and reason) and reconnecting
// (with the delay). A refusal that retrying cannot fix (a refused token
// without GetToken, a bad name) stops the client: Err says why.
//
// Identity comes from Config.Name (a self-declared name on a server without
// auth), Config.Token (a JWT), or Config.GetToken, which is called for the
// first token, again before each token expires (the client sends refresh
// and the connection stays up) and whenever the server refuses a token.
//
// # Rooms
//
// Join returns a Room, which stays joined across reconnects until Leave:
// Publish (its offset and timestamp), History (paging back with Before and
// Limit), Presence, Typing (throttled, with a trailing notice). RoomList
// and AllRooms page through the cluster's room list.
//
// # Events and recovery
//
// Client.Events delivers, in order, state changes and each joined room's
// messages, joins, leaves and typing notices. After every reconnect, and
// whenever the server pushes resync, each room is re-joined with the epoch and
// offset of the last message it delivered; then exactly the messages that
// were missed come, followed by a RecoveredEvent, or a GapEvent says the
// server's history no longer covers them (the newest History messages follow
// it). The client also recovers a room by itself when a push shows a hole in
// the offsets (reason "hole") or another epoch ("epoch"). A message is never delivered twice (the first copy of each offset wins) and
// never skipped silently. The client never blocks on the application: it
// buffers up to Config.EventBuffer events, and past that drops the connection
// and recovers once the application has caught up.
//
// # Requests
//
// Every request waits for its reply within its context, or
// Config.RequestTimeout when the context has no deadline (ErrTimeout). At
// most Config.MaxPending wait at once. While no connection is up, requests
// fail at once with ErrDisconnected: nothing is queued and nothing is
// dropped silently. Refusals are *ServerError values with the server's code
// (IsCode).
package chatdclient
