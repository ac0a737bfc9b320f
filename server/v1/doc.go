// Package v1 is the reference chat app's wire protocol as an adapter over
// the session core (server/chat): one JSON object per message, one room per
// connection, self-declared names, replies without ids. Field names, field
// order, type values and error texts are exact: the reference app's
// unchanged web client works against chatd, and stays working (the protocol
// is frozen). docs/protocol-v1.md is its reference.
//
// It decodes requests, calls the core's operations and encodes what the
// client is told; room events reach its members as the reference app's
// objects, which are also the cluster's form of an event (chat.Event's
// Reference), so a v1 member's frame costs no encoding of its own.
package v1
