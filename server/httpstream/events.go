package httpstream

import (
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/chat"
)

// SSE frames a v2 message as the data of one Server-Sent Event:
// "data: <JSON>\n\n". The transport writes the event's id line in front of
// it, per connection (eventloop/stream.go). JSON as chatd encodes it has no
// line break (strings escape them), so one data line holds it.
var SSE chat.Framing = sseData{}

type sseData struct{}

const dataField = "data: "

func (sseData) Frame(buf []byte) []byte {
	start := chat.Headroom - len(dataField)
	copy(buf[start:chat.Headroom], dataField)
	// Appending past the JSON writes into spare capacity no one else sees:
	// the buffer is framed once, by one framing.
	return append(buf[start:], '\n', '\n')
}

// sessionInfo is the data of a stream's first event ("event: session"): the
// session id the client sends with its POSTs (and a resume), and the times
// it needs.
type sessionInfo struct {
	Session      string `json:"session"`
	Node         string `json:"node"`
	Heartbeat    int64  `json:"heartbeat"`    // ms: POST at least this often (an empty batch when there is nothing to send)
	ResumeWindow int64  `json:"resumeWindow"` // ms a dropped stream waits for its resume; 0: no resume
	Resumed      bool   `json:"resumed,omitempty"`
}

// sessionEvent encodes a stream's first event.
func sessionEvent(si *sessionInfo) []byte {
	js, _ := sonic.Marshal(si)
	b := make([]byte, 0, len(js)+32)
	b = append(b, "event: session\n"+dataField...)
	b = append(b, js...)
	return append(b, "\n\n"...)
}

// An error answer's body: {"error":{"code":..,"message":..}}, like the
// server API's, plus "expected" for seq_gap.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Expected uint64 `json:"expected,omitempty"`
}

// The carrier's error codes (besides the session's, which come as v2
// errors on the stream).
const (
	codeBadRequest    = "bad_request"         // a POST body that is not the carrier's JSON object, a bad Last-Event-ID
	codeBatchTooLarge = "batch_too_large"     // more requests in one POST than the carrier takes
	codeTooBig        = "message_too_big"     // a request over the message size (a WebSocket would close 1009)
	codeSessionGone   = "session_gone"        // no such session (closed, or never on this node)
	codeElsewhere     = "session_elsewhere"   // a resume on another node than the session's: it is closed there
	codeEventsLost    = "events_lost"         // a resume from an event the stream no longer retains: the session is closed
	codeSeqGap        = "seq_gap"             // a POST ahead of the session's next sequence number
	codeUnreachable   = "session_unreachable" // the node holding the session did not answer in time
	codeUnavailable   = "cluster_unavailable" // the relay to the session's node failed
	codeRateLimited   = string(chat.CodeRateLimited)
	codeDraining      = string(chat.CodeDraining)
	codeOrigin        = "origin_not_allowed"
	codeNodeFull      = "node_full"
	codePerAddress    = "too_many_connections" // the client's address holds -max-conns-per-ip connections
	codeMethod        = "method_not_allowed"
)

// errorJSON encodes an error answer's body.
func errorJSON(code, msg string, expected uint64) []byte {
	b, _ := sonic.Marshal(&errorBody{errorDetail{Code: code, Message: msg, Expected: expected}})
	return b
}

// answer is an HTTP answer of the carrier: a status and a JSON body.
type answer struct {
	status int
	body   []byte
}

func errAnswer(status int, code, msg string) answer {
	return answer{status, errorJSON(code, msg, 0)}
}

// The answers a POST gets.
var (
	ansGone    = errAnswer(410, codeSessionGone, "No such session: open a new stream, then recover your rooms with since")
	ansTimeout = errAnswer(503, codeUnreachable, "The node holding this session did not answer: retry with the same seq")
)

// postOK is the body of an applied (or duplicate) POST.
func postOK(seq uint64, dup bool) answer {
	b := strconv.AppendUint([]byte(`{"seq":`), seq, 10)
	if dup {
		b = append(b, `,"duplicate":true`...)
	}
	return answer{200, append(b, '}')}
}

// response turns an answer into the transport's, with the CORS fields.
func (a answer) response(cors []eventloop.HeaderField) *eventloop.Response {
	return &eventloop.Response{Status: a.status, ContentType: "application/json", Body: a.body,
		Header: append(cors, eventloop.HeaderField{Name: "Cache-Control", Value: "no-store"})}
}
