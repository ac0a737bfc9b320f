package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// runRoomList (issue 24 item 3): with -auth required, a user whose token
// has no rooms claim is in "general" and "team-b-secret"; users whose
// tokens say rooms [] and ["general"] ask for the room list (v2 rooms and
// v1 getRoomList, on the other node). Which rooms each is shown.
func runRoomList(e *env) error {
	c, err := e.startCluster(2, authFlags...)
	if err != nil {
		return err
	}
	defer c.stop()
	owner, err := v2user(c.url(0), "", token("owner", nil), nil)
	if err != nil {
		return err
	}
	defer owner.close()
	for _, r := range []string{"general", "team-b-secret"} {
		if _, err := owner.ok(map[string]any{"type": "join", "roomId": r}, 10*time.Second); err != nil {
			return err
		}
	}
	time.Sleep(2500 * time.Millisecond) // past -room-list-refresh (2 s)
	var parts []string
	for _, k := range []struct {
		name  string
		rooms []string
	}{{"rooms []", []string{}}, {`rooms ["general"]`, []string{"general"}}, {"no rooms claim (control)", nil}} {
		extra := map[string]any{}
		if k.rooms != nil {
			extra["rooms"] = k.rooms
		}
		tok := token("viewer-"+fmt.Sprint(len(k.name)), extra)
		v2 := "error"
		if cn, err := v2user(c.url(1), "", tok, nil); err != nil {
			v2 = "hello refused: " + err.Error()
		} else {
			r, err := cn.ok(map[string]any{"type": "rooms"}, 10*time.Second)
			if err != nil {
				v2 = err.Error()
			} else {
				v2 = listed(r.raw)
			}
			cn.close()
		}
		v1 := v1RoomList(c.url(1) + "?token=" + url.QueryEscape(tok))
		e.fig(k.name+": v2 rooms", v2)
		e.fig(k.name+": v1 getRoomList", v1)
		parts = append(parts, fmt.Sprintf("%s: v2 %s, v1 %s", k.name, v2, v1))
	}
	e.res.Summary = strings.Join(parts, "; ")
	return nil
}

// listed names the rooms of a v2 rooms reply or a v1 roomList.
func listed(raw []byte) string {
	var r struct {
		Rooms []struct {
			RoomID      string `json:"roomId"`
			MemberCount int    `json:"memberCount"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "unparsed: " + err.Error()
	}
	var ids []string
	for _, x := range r.Rooms {
		ids = append(ids, fmt.Sprintf("%s (%d)", x.RoomID, x.MemberCount))
	}
	slices.Sort(ids)
	return "[" + strings.Join(ids, ", ") + "]"
}

func v1RoomList(u string) string {
	frames := make(chan []byte, 16)
	cn, err := dial(u, false, nil, func(b []byte) {
		select {
		case frames <- b:
		default:
		}
	})
	if err != nil {
		return "upgrade refused: " + err.Error()
	}
	defer cn.close()
	if err := cn.send(map[string]any{"type": "getRoomList"}); err != nil {
		return err.Error()
	}
	for end := time.After(10 * time.Second); ; {
		select {
		case b := <-frames:
			var t struct {
				Type, Code string
			}
			_ = json.Unmarshal(b, &t)
			switch t.Type {
			case "roomList":
				return listed(b)
			case "error":
				return "error " + t.Code
			}
		case <-end:
			return "no roomList in 10 s"
		}
	}
}
