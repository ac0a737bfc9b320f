// Command hookbackend is a stand-in for an application's backend behind
// chatd's hooks (README: Hooks and sink), for measuring what a hook costs:
// it answers every call to /connect, /join and /publish with {} (allowed,
// unchanged) after sleeping -delay (the backend's own work, simulated), and
// counts the calls per hook. It listens on loopback only; GET /stats prints
// the counts and the mean time it held a call.
//
//	go run ./scripts/measure/hookbackend -addr 127.0.0.1:18500 -delay 1ms -secret <chatd's -hook-secret>
package main

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

type counter struct{ calls, nanos atomic.Int64 }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	delay := flag.Duration("delay", time.Millisecond, "how long each call is held before its answer")
	secret := flag.String("secret", "", "the expected Bearer secret (empty: not checked)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("hookbackend: listen %s: %v", *addr, err)
	}
	hooks := map[string]*counter{"connect": {}, "join": {}, "publish": {}}
	mux := http.NewServeMux()
	for name, c := range hooks {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			if *secret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+*secret)) != 1 {
				http.Error(w, "bad secret", http.StatusUnauthorized)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			time.Sleep(*delay)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
			c.calls.Add(1)
			c.nanos.Add(int64(time.Since(start)))
		})
	}
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]map[string]float64{}
		for name, c := range hooks {
			n := c.calls.Load()
			mean := 0.0
			if n > 0 {
				mean = float64(c.nanos.Load()) / float64(n) / 1e6
			}
			out[name] = map[string]float64{"calls": float64(n), "meanHeldMs": mean}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	fmt.Fprintf(os.Stderr, "hookbackend listening addr=%s delay=%s\n", ln.Addr(), *delay)
	log.Fatal(http.Serve(ln, mux))
}
