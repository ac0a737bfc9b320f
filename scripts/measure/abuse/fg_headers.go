package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const upgradeHead = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

// runHeaders (issue 24 item 6): upgrades with two Host headers, and with two
// Origin headers (the first allowed, the second not): the status of each.
func runHeaders(e *env) error {
	c, err := e.startCluster(1)
	if err != nil {
		return err
	}
	defer c.stop()
	addr := c.nodes[0].addr
	cases := []struct{ name, head string }{
		{"one Host (control)", "Host: " + addr + "\r\n"},
		{"two Host headers", "Host: " + addr + "\r\nHost: evil.example\r\n"},
		{"two Origin headers (allowed, then foreign)", "Host: " + addr + "\r\nOrigin: http://" + addr + "\r\nOrigin: http://evil.example\r\n"},
		{"two Origin headers (foreign, then allowed)", "Host: " + addr + "\r\nOrigin: http://evil.example\r\nOrigin: http://" + addr + "\r\n"},
	}
	var parts []string
	for _, k := range cases {
		st, err := rawRequest(addr, upgradeHead+k.head+"\r\n")
		v := fmt.Sprint(st)
		if err != nil {
			v = "error: " + err.Error()
		}
		e.fig(k.name, v)
		parts = append(parts, k.name+": "+v)
	}
	e.res.Summary = strings.Join(parts, "; ")
	return nil
}

// runExpString (issue 24 item 6): a token whose exp is a string of digits,
// in the upgrade URL and in v2 hello; a numeric exp as the control.
func runExpString(e *env) error {
	c, err := e.startCluster(1, authFlags...)
	if err != nil {
		return err
	}
	defer c.stop()
	var parts []string
	for _, k := range []struct {
		name string
		exp  any
	}{{"numeric exp (control)", nil}, {`exp "9999999999" (a string)`, "9999999999"}} {
		var extra map[string]any
		if k.exp != nil {
			extra = map[string]any{"exp": k.exp}
		}
		tok := token("exp-user", extra)
		inURL := "accepted"
		cn, err := dial(c.url(0)+"?token="+url.QueryEscape(tok), true, http.Header{}, nil)
		if err != nil {
			inURL = "refused: " + err.Error()
		} else {
			if r, err := cn.ok(map[string]any{"type": "hello"}, 10e9); err != nil {
				inURL = fmt.Sprintf("upgrade 101, hello refused: %v %s", err, r.Code)
			}
			cn.close()
		}
		inHello := "accepted"
		if cn, err := v2user(c.url(0), "", tok, nil); err != nil {
			inHello = "refused: " + err.Error()
		} else {
			cn.close()
		}
		e.fig(k.name+": in the URL", inURL)
		e.fig(k.name+": in hello", inHello)
		parts = append(parts, fmt.Sprintf("%s: URL %s, hello %s", k.name, inURL, inHello))
	}
	e.res.Summary = strings.Join(parts, "; ")
	return nil
}
