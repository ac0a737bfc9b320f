// Command sinkcount is a null backend for measuring chatd's message sink:
// it answers every sink POST 204 at once, after decoding it, and counts
// the messages, the distinct (roomId, epoch, offset) among them, and the
// delay from each message's storedAt to its arrival. GET /stats prints the
// counts as JSON. For measurements only (it keeps one key per message).
//
//	go run ./scripts/measure/sinkcount -addr 127.0.0.1:9100
//	chatd -sink-url http://127.0.0.1:9100/sink -hook-secret 0123456789abcdef ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"slices"
	"sync"
	"time"
)

type stats struct {
	mu       sync.Mutex
	posts    int
	messages int
	seen     map[string]struct{}
	delays   []float64 // ms, storedAt to arrival
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "listen address")
	flag.Parse()
	st := &stats{seen: map[string]struct{}{}}
	http.HandleFunc("POST /sink", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Messages []struct {
				RoomID   string `json:"roomId"`
				Epoch    string `json:"epoch"`
				Offset   uint64 `json:"offset"`
				StoredAt string `json:"storedAt"`
			} `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		now := time.Now()
		st.mu.Lock()
		st.posts++
		for _, m := range b.Messages {
			st.messages++
			k := fmt.Sprintf("%s/%s/%d", m.RoomID, m.Epoch, m.Offset)
			st.seen[k] = struct{}{}
			if t, err := time.Parse("2006-01-02T15:04:05.000Z", m.StoredAt); err == nil {
				st.delays = append(st.delays, float64(now.Sub(t).Microseconds())/1000)
			}
		}
		st.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		d := slices.Clone(st.delays)
		out := map[string]any{"posts": st.posts, "messages": st.messages, "distinct": len(st.seen)}
		st.mu.Unlock()
		slices.Sort(d)
		q := func(p float64) float64 {
			if len(d) == 0 {
				return 0
			}
			return d[min(len(d)-1, int(p*float64(len(d))))]
		}
		out["delay_ms_p50"], out["delay_ms_p99"], out["delay_ms_max"] = q(0.5), q(0.99), q(1)
		_ = json.NewEncoder(w).Encode(out)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
