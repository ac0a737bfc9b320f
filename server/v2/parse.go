package v2

import (
	"encoding/json"

	"github.com/chatd/chatd/server/chat"
)

// Refusals of v2 requests.
var (
	errBadID        = chat.Errorf(chat.CodeBadID, `Field "id" must be a string or a number of at most 64 bytes`)
	errHelloFirst   = chat.Errorf(chat.CodeHelloFirst, "Send hello first")
	errAlreadyHello = chat.Errorf(chat.CodeAlreadyHello, "Hello was sent already")
)

// maxIDBytes bounds a request id: it is echoed, so it must stay small.
const maxIDBytes = 64

// parseRequest decodes one v2 request. On error it still returns the
// request's id when it could be read, so that the error reply carries it.
func parseRequest(p []byte, r *Request) *chat.Error {
	if e := chat.CheckObject(p); e != nil {
		return e
	}
	if err := chat.Decode(p, r); err != nil {
		return classify(p, r)
	}
	return checkID(r)
}

// checkID accepts an absent id, a string or a number, of at most
// maxIDBytes; anything else is refused (and not echoed).
func checkID(r *Request) *chat.Error {
	id := r.ID
	if len(id) == 0 {
		return nil
	}
	ok := len(id) <= maxIDBytes && (id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9'))
	if !ok {
		r.ID = nil
		return errBadID
	}
	return nil
}

// classify finds out what is wrong with a request that did not decode
// (the slow path, for bad requests only), keeping its id if it has a usable
// one.
func classify(p []byte, r *Request) *chat.Error {
	*r = Request{}
	var m map[string]json.RawMessage
	if chat.SlowAPI.Unmarshal(p, &m) != nil {
		return chat.ErrInvalidJSON
	}
	r.ID = m["id"]
	if e := checkID(r); e != nil {
		return e
	}
	var probe any
	if t, ok := m["type"]; ok {
		if chat.SlowAPI.Unmarshal(t, &probe) != nil {
			return chat.ErrInvalidJSON
		}
		s, isString := probe.(string)
		if !isString {
			return chat.ErrBadType
		}
		r.Type = s
	}
	for _, f := range []struct {
		name string
		kind byte // 's' string, 'n' number, 'o' object
	}{{"name", 's'}, {"token", 's'}, {"roomId", 's'}, {"roomName", 's'}, {"content", 's'}, {"after", 's'},
		{"prefix", 's'}, {"history", 'n'}, {"before", 'n'}, {"limit", 'n'}, {"since", 'o'}} {
		raw, ok := m[f.name]
		if !ok || string(raw) == "null" {
			continue
		}
		var want string
		switch f.kind {
		case 's':
			var s string
			if chat.SlowAPI.Unmarshal(raw, &s) == nil {
				continue
			}
			want = "a string"
		case 'n':
			var n uint32
			if chat.SlowAPI.Unmarshal(raw, &n) == nil {
				continue
			}
			want = "a non-negative integer"
		case 'o':
			var pos Position
			if chat.RequestAPI.Unmarshal(raw, &pos) == nil {
				continue
			}
			want = `an object {"epoch": string, "offset": number}`
		}
		if f.name == "content" {
			return chat.ErrBadContent
		}
		return chat.Errorf(chat.CodeBadField, `Field "`+f.name+`" must be `+want)
	}
	return chat.ErrInvalidJSON
}
