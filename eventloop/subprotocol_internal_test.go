package eventloop

import (
	"slices"
	"testing"
)

func TestProtocols(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []HeaderField
		want    []string
	}{
		{"none", []HeaderField{{"Host", "x"}}, nil},
		{"one", []HeaderField{{"Sec-WebSocket-Protocol", "chatd.v2"}}, []string{"chatd.v2"}},
		{"list", []HeaderField{{"sec-websocket-protocol", "a, chatd.v2 ,b"}}, []string{"a", "chatd.v2", "b"}},
		{"several lines", []HeaderField{{"Sec-WebSocket-Protocol", "a"}, {"Origin", "o"},
			{"SEC-WEBSOCKET-PROTOCOL", "b,\tc"}}, []string{"a", "b", "c"}},
		{"empty items", []HeaderField{{"Sec-WebSocket-Protocol", ", ,a,,"}, {"Sec-WebSocket-Protocol", ""}}, []string{"a"}},
	} {
		r := &Request{Header: tc.headers}
		if got := r.Protocols(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Protocols() = %q, want %q", tc.name, got, tc.want)
		}
		for _, p := range tc.want {
			if !r.offered(p) {
				t.Errorf("%s: %q not offered", tc.name, p)
			}
		}
	}
	r := &Request{Header: []HeaderField{{"Sec-WebSocket-Protocol", "a b, Chatd.v2, x\"y"}}}
	for _, p := range []string{"a", "b", "a b", "chatd.v2", "x\"y", ""} {
		if r.offered(p) {
			t.Errorf("%q counts as offered (not offered, or not a token)", p)
		}
	}
	if resp := string(switchingProtocols("dGhlIHNhbXBsZSBub25jZQ==", "chatd.v2")); resp !=
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chatd.v2\r\n\r\n" {
		t.Fatalf("101: %q", resp)
	}
}
