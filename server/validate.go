package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bytedance/sonic"
)

// parseRequest decodes and classifies one request payload. Text frames are
// already valid UTF-8; binary ones are checked here, since a JSON text must
// be UTF-8 and whatever we echo goes out in text frames.
func parseRequest(p []byte, r *Request) *requestError {
	if e := checkObject(p); e != nil {
		return e
	}
	if decodeRequest(p, r) == nil {
		return nil
	}
	// Slow path, only for bad requests: find out what exactly is wrong.
	var m map[string]any
	if jsonSlowAPI.Unmarshal(p, &m) != nil {
		return errInvalidJSON
	}
	if t, ok := m["type"]; ok {
		if _, isString := t.(string); !isString {
			return errBadType
		}
	}
	for _, f := range []string{"roomId", "username", "roomName", "content"} {
		if v, ok := m[f]; ok && v != nil {
			if _, isString := v.(string); !isString {
				if f == "content" {
					return errBadContent
				}
				return reqErr(CodeBadField, `Field "`+f+`" must be a string`)
			}
		}
	}
	return errInvalidJSON
}

// checkObject refuses, with the error a client gets, a payload that is not
// UTF-8 or does not start like a JSON object (both protocols).
func checkObject(p []byte) *requestError {
	if !utf8.Valid(p) {
		return errInvalidJSON
	}
	i := 0
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	if i == len(p) {
		return errInvalidJSON
	}
	if p[i] != '{' {
		if json.Valid(p) {
			return errNotObject
		}
		return errInvalidJSON
	}
	return nil
}

// jsonSlowAPI classifies bad requests: numbers stay text, so 1e700 is
// valid JSON (as for JSON.parse) rather than an overflow.
var jsonSlowAPI = sonic.Config{UseNumber: true, ValidateString: true, CaseSensitive: true}.Froze()

// checkName validates a username, roomId or roomName: at most max bytes and
// no control characters.
func checkName(field, v string, max int) *requestError {
	if len(v) > max {
		return reqErr(CodeNameTooLong, field+" is too long (max "+strconv.Itoa(max)+" bytes)")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return reqErr(CodeControlChars, field+" must not contain control characters")
	}
	return nil
}
