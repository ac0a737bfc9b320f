// Command chatbench is chatd's load generator: it drives a chat server (one or more nodes) with
// WebSocket clients speaking the wire protocol and reports exact delivery accounting, latency
// percentiles and the servers' CPU and memory cost. All the work is in package bench; see
// bench/README.md for workloads, flags and output.
//
//	chatbench fanout -url ws://127.0.0.1:8080/ws -clients 1000 -rooms 10 -rate 2 -pids $(pidof chatd)
package main

import (
	"os"

	"github.com/chatd/chatd/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
