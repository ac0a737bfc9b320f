package httpstream

import (
	"strings"
	"testing"
)

func TestParsePost(t *testing.T) {
	for _, tc := range []struct {
		body   string
		status int    // 0: accepted
		code   string // of a refusal
		n      int    // requests accepted
	}{
		{`{"session":"s","seq":1,"requests":[{"type":"hello"},{"type":"join"}]}`, 0, "", 2},
		{`{"session":"s","seq":7}`, 0, "", 0},
		{`{"session":"s","seq":1,"requests":[],"close":true}`, 0, "", 0},
		{`{"session":"s","seq":1,"requests":["x",null,[]],"extra":{"a":1}}`, 0, "", 3}, // the session judges each
		{``, 400, codeBadRequest, 0},
		{`nope`, 400, codeBadRequest, 0},
		{`[]`, 400, codeBadRequest, 0},
		{`{"seq":1}`, 400, codeBadRequest, 0},
		{`{"session":"s"}`, 400, codeBadRequest, 0},
		{`{"session":"s","seq":0}`, 400, codeBadRequest, 0},
		{`{"session":"s","seq":-1}`, 400, codeBadRequest, 0},
		{`{"session":"s","seq":"1"}`, 400, codeBadRequest, 0},
		{`{"session":1,"seq":1}`, 400, codeBadRequest, 0},
		{`{"session":"s","seq":1,"requests":{}}`, 400, codeBadRequest, 0},
		{`{"session":"s","seq":1,"close":"yes"}`, 400, codeBadRequest, 0},
		{`{"Session":"s","seq":1}`, 400, codeBadRequest, 0}, // keys are exact
		{`{"session":"s","seq":1,"requests":[1,2,3,4]}`, 413, codeBatchTooLarge, 0},
		{`{"session":"s","seq":1,"requests":["` + strings.Repeat("x", 40) + `"]}`, 413, codeTooBig, 0},
	} {
		p, a := parsePost([]byte(tc.body), 3, 40)
		switch {
		case tc.status == 0 && a != nil:
			t.Errorf("%s: refused %d %s", tc.body, a.status, a.body)
		case tc.status == 0 && len(p.Requests) != tc.n:
			t.Errorf("%s: %d requests, want %d", tc.body, len(p.Requests), tc.n)
		case tc.status != 0 && (a == nil || a.status != tc.status || !strings.Contains(string(a.body), `"code":"`+tc.code+`"`)):
			t.Errorf("%s: %+v, want %d %s", tc.body, a, tc.status, tc.code)
		}
	}
}

// FuzzParsePost: any body is accepted within the bounds or refused with a
// JSON error; nothing panics.
func FuzzParsePost(f *testing.F) {
	for _, s := range []string{`{"session":"s","seq":1,"requests":[{"type":"hello"}]}`, `{}`, `[`, `{"seq":1e99}`,
		`{"session":"\u0000","seq":18446744073709551615,"requests":[[[[]]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, a := parsePost(body, 4, 64)
		if (p == nil) == (a == nil) {
			t.Fatalf("%q: post %v answer %v", body, p, a)
		}
		if a != nil && (a.status < 400 || !strings.HasPrefix(string(a.body), `{"error":{"code":"`)) {
			t.Fatalf("%q: answer %d %s", body, a.status, a.body)
		}
		if p != nil && (p.Session == "" || p.Seq == 0 || len(p.Requests) > 4) {
			t.Fatalf("%q: accepted %+v", body, p)
		}
		if p == nil {
			return
		}
		for _, q := range p.Requests {
			if len(q) > 64 {
				t.Fatalf("%q: request of %d bytes", body, len(q))
			}
		}
	})
}
