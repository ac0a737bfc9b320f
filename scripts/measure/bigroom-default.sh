#!/usr/bin/env bash
# Issue 19's one-room figure: `chatbench bigroom` with 2,000 members in one
# room, 40 msg/s in total (80k deliveries/s), 20 s measured, every member
# dialled at once (-dial-concurrency 2000), against chatd with its DEFAULT
# flags: one node alone, then two nodes + a private redis-server.
#
#   scripts/measure/bigroom-default.sh [LABEL_PREFIX]      (default bigroom-2000-default)
#
# Results: bench/results/<prefix>-1node.json and <prefix>-2nodes.json (one
# chatbench JSON line each) and <prefix>-<setup>.handshakes.txt (each node's
# handshake/refusal counters from /metrics after the run). Everything it
# starts is stopped on exit; every run is bounded by chatbench's own
# -join-timeout (2m) and -duration.
#
# -wait-notices=false: with default flags a room of more than
# -notice-room-size (500) members gets sampled joined/left notices (2/s per
# node), so no member ever sees "the room full" and chatbench's settle phase
# would wait its whole -settle-timeout (5 min) before sending. Members start
# sending once all have joined instead.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${1:-bigroom-2000-default}
out=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'cleanup; rm -rf "$out"' EXIT
cd "$ROOT"
go build -o "$out/" ./cmd/chatd ./cmd/chatbench
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p bench/results

run() { # SETUP NODES
	local setup=$1 nodes=$2 rflag=() rpid= urls=() npids=() ports=()
	if ((nodes > 1)); then
		local rport
		rport=$(free)
		redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
		pids+=($!)
		rpid=$!
		for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
		rflag=(-redis "redis://127.0.0.1:$rport")
	fi
	for ((i = 1; i <= nodes; i++)); do
		local p
		p=$(free)
		"$out/chatd" -addr "127.0.0.1:$p" "${rflag[@]}" -node-id "n$i" >"$out/n$i.log" 2>&1 &
		pids+=($!)
		npids+=($!)
		ports+=("$p")
		urls+=("ws://127.0.0.1:$p/ws")
		for _ in $(seq 200); do curl -fsS -m 1 "http://127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
	done
	local pidlist
	pidlist=$(IFS=,; echo "${npids[*]}${rpid:+,$rpid}")
	echo "== $setup: load before $(cut -d' ' -f1-3 /proc/loadavg)"
	"$out/chatbench" bigroom -url "$(IFS=,; echo "${urls[*]}")" -clients 2000 -total-rate 40 -duration 20s \
		-dial-concurrency 2000 -wait-notices=false -progress 0 -json -pids "$pidlist" >"bench/results/$prefix-$setup.json" 2>"$out/bench-$setup.txt" || true
	cat "$out/bench-$setup.txt"
	{
		echo "# $setup, load after $(cut -d' ' -f1-3 /proc/loadavg)"
		for p in "${ports[@]}"; do
			echo "## node :$p"
			curl -fsS -m 5 "http://127.0.0.1:$p/metrics" | grep -E '^chatd_(handshakes_total|tcp_accepted_total|conns_per_ip_refusals_total|origin_refusals_total|websocket_connections_total|slow_consumer_closes_total|outbound_budget_closes_total|presence_notices_dropped_total)' || true
		done
	} | tee "bench/results/$prefix-$setup.handshakes.txt"
	cleanup
}
run 1node 1
run 2nodes 2
