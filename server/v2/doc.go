// Package v2 is chatd's own wire protocol as an adapter over the session
// core (server/chat): selected by the WebSocket subprotocol chatd.v2; hello
// first; several rooms per connection; requests correlated by id, each with
// an id answered exactly once ({"type":"ok","id":..} or an error); pushes of
// room events with offsets and epochs; history, recovery with since,
// presence, typing, tokens. docs/protocol-v2.md is its reference.
//
// It decodes requests, calls the core's operations and encodes what the
// client is told; it encodes each room event once per node for its members
// (Frame). The carrier is the Framing it is built with.
package v2
