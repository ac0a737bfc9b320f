// Package server is the chat itself: the wire protocol of the reference chat
// app (JSON over WebSocket, encoded and decoded with sonic), per-connection
// sessions, the decoding of room events that come back from the cluster, the
// HTTP side endpoints and the embedded web client. It reaches the cluster
// only through the seam in server/broker (which knows no chat type); the
// brokers themselves (server/broker/memory, server/broker/redis) are chosen
// and wired by cmd/chatd.
//
// Data flow. Inbound: the transport hands a whole message to Message on the
// connection's event loop; it is decoded once and handled in order with the
// connection's other requests. A chat message is encoded once into a
// WebSocket frame, echoed to the sender at once, and published to the room
// through the broker as the frame's JSON body. Outbound: the broker hands
// each room event to the node once (Receive, receive.go), which decodes it
// once into a frame and fans the same frame out to its local members of the
// room, one task per event loop.
package server
