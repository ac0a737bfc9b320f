package chat

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/bytedance/sonic/encoder"
	"github.com/chatd/chatd/eventloop"
	"github.com/chatd/chatd/server/internal/isotime"
)

// JSON, for the protocols and the cluster form of events: one sonic
// configuration each for decoding requests, classifying bad ones and
// decoding cluster payloads, and one encoder that writes straight into a
// carrier frame.

// Headroom is the room every encoded message keeps free in front of its
// JSON, so that a carrier writes its frame header there instead of copying
// the JSON (Framing): a WebSocket frame header is at most this long.
const Headroom = eventloop.MaxFrameHeader

// RequestAPI decodes requests. ValidateString refuses raw control
// characters in strings and CaseSensitive matches keys exactly, as
// JSON.parse does. CopyString because the payload lives in the event loop's
// read buffer, which is reused once the handler returns.
var RequestAPI = sonic.Config{CopyString: true, ValidateString: true, CaseSensitive: true}.Froze()

// SlowAPI classifies bad requests: numbers stay text, so 1e700 is valid
// JSON (as for JSON.parse) rather than an overflow.
var SlowAPI = sonic.Config{UseNumber: true, ValidateString: true, CaseSensitive: true}.Froze()

// envelopeAPI decodes cluster payloads. Unlike RequestAPI it does not copy
// strings: the payload is an immutable Go string owned by the event.
var envelopeAPI = sonic.Config{}.Froze()

// encodeOpts: no HTML escaping, like JavaScript's JSON.stringify.
const encodeOpts encoder.Options = 0

// Encode encodes v as JSON after Headroom free bytes, in one buffer. Every
// type encoded here is a plain struct of strings, numbers and slices of
// those.
func Encode(v any) []byte {
	buf := make([]byte, Headroom, Headroom+160)
	if err := encoder.EncodeInto(&buf, v, encodeOpts); err != nil {
		panic("chat: encode " + reflect.TypeOf(v).String() + ": " + err.Error())
	}
	return buf
}

// Pretouch compiles the codecs of the given message types at start-up, so
// that the first message does not pay for sonic's JIT.
func Pretouch(types ...any) error {
	for _, v := range types {
		if err := sonic.Pretouch(reflect.TypeOf(v)); err != nil {
			return err
		}
	}
	return nil
}

// SonicNative reports whether sonic runs its native (JIT) implementation; on
// an unsupported Go it silently falls back to encoding/json.
func SonicNative() bool { return sonic.APIKind == sonic.UseSonicJSON }

// Decode decodes one request payload into v without copying the payload
// first. It is not for empty payloads (CheckObject refuses those).
func Decode(p []byte, v any) error {
	if len(p) == 0 {
		return errEmpty
	}
	return RequestAPI.UnmarshalFromString(unsafe.String(&p[0], len(p)), v)
}

// JSTime formats t like JavaScript's Date.prototype.toISOString.
var JSTime = isotime.Format

// CheckObject refuses, with the error a client gets, a payload that is not
// UTF-8 or does not start like a JSON object. (Text frames are valid UTF-8
// already; binary ones are checked here, since a JSON text must be UTF-8
// and whatever is echoed goes out in text.)
func CheckObject(p []byte) *Error {
	if !utf8.Valid(p) {
		return ErrInvalidJSON
	}
	i := 0
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	if i == len(p) {
		return ErrInvalidJSON
	}
	if p[i] != '{' {
		if json.Valid(p) {
			return ErrNotObject
		}
		return ErrInvalidJSON
	}
	return nil
}

// CheckName validates a user name, room id or room name: at most max bytes
// and no control characters.
func CheckName(field, v string, max int) *Error {
	if len(v) > max {
		return Errorf(CodeNameTooLong, field+" is too long (max "+strconv.Itoa(max)+" bytes)")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return Errorf(CodeControlChars, field+" must not contain control characters")
	}
	return nil
}
