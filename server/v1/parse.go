package v1

import "github.com/chatd/chatd/server/chat"

// Refusals of v1 requests with the reference app's texts.
var (
	errJoinRequired = chat.Errorf(chat.CodeJoinRequired, chat.MsgJoinRequired)
	errNotInRoom    = chat.Errorf(chat.CodeNotInRoom, chat.MsgNotInRoom)
)

// parseRequest decodes and classifies one request payload.
func parseRequest(p []byte, r *Request) *chat.Error {
	if e := chat.CheckObject(p); e != nil {
		return e
	}
	if chat.Decode(p, r) == nil {
		return nil
	}
	// Slow path, only for bad requests: find out what exactly is wrong.
	var m map[string]any
	if chat.SlowAPI.Unmarshal(p, &m) != nil {
		return chat.ErrInvalidJSON
	}
	if t, ok := m["type"]; ok {
		if _, isString := t.(string); !isString {
			return chat.ErrBadType
		}
	}
	for _, f := range []string{"roomId", "username", "roomName", "content"} {
		if v, ok := m[f]; ok && v != nil {
			if _, isString := v.(string); !isString {
				if f == "content" {
					return chat.ErrBadContent
				}
				return chat.Errorf(chat.CodeBadField, `Field "`+f+`" must be a string`)
			}
		}
	}
	return chat.ErrInvalidJSON
}
