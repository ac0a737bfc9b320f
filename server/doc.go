// Package server is the chat itself: the wire protocol of the reference chat
// app (JSON over WebSocket, encoded and decoded with sonic), per-connection
// sessions, the Broker seam between one node and the cluster (an in-process
// MemoryBroker and a RedisBroker), the HTTP side endpoints and the embedded
// web client.
//
// Data flow. Inbound: the transport hands a whole message to Message on the
// connection's event loop; it is decoded once and handled in order with the
// connection's other requests. A chat message is encoded once into a
// WebSocket frame, echoed to the sender at once, and published to the room
// through the broker. Outbound: the broker delivers each room event once per
// node; the node fans the same frame out to its local members of the room,
// one task per event loop.
package server
