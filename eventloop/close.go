package eventloop

import "github.com/gobwas/ws"

// CloseCode is a WebSocket close status code (RFC 6455 §7.4).
type CloseCode uint16

// The close codes chatd sends, one table for the whole product. Clients see
// these in the close frame; operators see them in logs and metrics.
const (
	CloseNormal         CloseCode = 1000 // normal closure, or the peer's own close echoed
	CloseGoingAway      CloseCode = 1001 // server draining, or idle timeout
	CloseProtocolError  CloseCode = 1002 // malformed or forbidden framing
	CloseUnsupported    CloseCode = 1003 // data type the endpoint cannot accept
	CloseNoStatus       CloseCode = 1005 // never sent: a close frame without a code
	CloseInvalidPayload CloseCode = 1007 // text that is not valid UTF-8
	ClosePolicy         CloseCode = 1008 // policy violation (origin, rate abuse)
	CloseTooBig         CloseCode = 1009 // message larger than the limit
	CloseInternal       CloseCode = 1011 // unexpected server error
	CloseTryAgainLater  CloseCode = 1013 // node full
	CloseTokenExpired   CloseCode = 4001 // the connection's token expired (chatd -auth); reconnect with a new one
	CloseSessionTimeout CloseCode = 4002 // the session was not established in time (e.g. no v2 hello; see Conn.SetDeadline)
	CloseSlowConsumer   CloseCode = 4008 // outbound queue over its limit
)

// validPeerCloseCode reports whether a peer may send code in a close frame
// (RFC 6455 §7.4.1–7.4.2 and the IANA registry): 1000–1003, 1007–1014, and
// 3000–4999. 1012 (service restart), 1013 (try again later) and 1014 (bad
// gateway) were registered after the RFC; 1004 stays reserved, and 1005,
// 1006 and 1015 must never appear in a close frame.
func validPeerCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// closeFrame builds a server close frame with code and reason. The reason is
// truncated to fit a control frame (123 bytes) at a UTF-8 boundary.
func closeFrame(code CloseCode, reason string) []byte {
	const maxReason = ws.MaxControlFramePayloadSize - 2
	if len(reason) > maxReason {
		reason = reason[:maxReason]
		for len(reason) > 0 && !validUTF8([]byte(reason)) {
			reason = reason[:len(reason)-1]
		}
	}
	p := make([]byte, 0, 4+len(reason))
	p = append(p, 0x80|byte(ws.OpClose), byte(2+len(reason)), byte(code>>8), byte(code))
	return append(p, reason...)
}
