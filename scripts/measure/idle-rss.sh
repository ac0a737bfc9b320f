#!/usr/bin/env bash
# Server memory per idle connection, measured on a fresh process after a GC.
#
#   scripts/measure/idle-rss.sh chatd N [rooms]   N joined chat connections (chatbench idle), N/rooms per room
#   scripts/measure/idle-rss.sh wsecho N          N idle WebSockets on the transport alone (holdconns)
#
# The server is started fresh on 127.0.0.1:18090, sent SIGUSR1 (full GC and
# memory returned to the OS) before and after the connections are up, and
# VmRSS is read each time: (after - before) / N. N is bounded by the file
# limit (20,000 per process here: keep N <= 19,000).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kind=${1:?chatd or wsecho}
n=${2:?connections}
rooms=${3:-$((n / 10))}
addr=127.0.0.1:18090
out=$(mktemp -d)
trap 'kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; rm -rf "$out"' EXIT

cd "$ROOT"
go build -o "$out/chatd" ./cmd/chatd
go build -o "$out/wsecho" ./cmd/wsecho
go build -o "$out/chatbench" ./cmd/chatbench
go build -o "$out/holdconns" ./scripts/measure/holdconns

rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
gc_rss() { # PID LOG: SIGUSR1, wait for the heap line, print VmRSS in KiB
	local before
	before=$(grep -c "heap after GC" "$2" || true)
	kill -USR1 "$1"
	for _ in $(seq 100); do
		[[ $(grep -c "heap after GC" "$2" || true) -gt $before ]] && break
		sleep 0.05
	done
	rss "$1"
}

case $kind in
# N may exceed the safe default connection cap (file limit - listen backlog -
# 256): chatbench dials at most 256 at a time, so the backlog stays short.
# Those 256 come from one address: over -max-pending-per-ip's default (64).
chatd) "$out/chatd" -addr "$addr" -drain-window 0 -max-tcp-conns $((n + 100)) -max-pending-per-ip -1 >"$out/server.log" 2>&1 & ;;
wsecho) "$out/wsecho" -addr "$addr" -max-tcp-conns $((n + 100)) >"$out/server.log" 2>&1 & ;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac
srv=$!
for _ in $(seq 100); do grep -q "listening" "$out/server.log" && break; sleep 0.05; done
r0=$(gc_rss "$srv" "$out/server.log")

case $kind in
chatd)
	"$out/chatbench" idle -url "ws://$addr/ws" -clients "$n" -rooms "$rooms" -duration 20s -progress 1s \
		>"$out/bench.json" 2>"$out/bench.txt" &
	load=$!
	until grep -q "joined $n " "$out/bench.txt" 2>/dev/null; do
		kill -0 "$load" 2>/dev/null || { cat "$out/bench.txt" >&2; exit 1; }
		sleep 0.2
	done
	sleep 2 # the join notices settle
	;;
wsecho)
	"$out/holdconns" -url "$addr" -n "$n" -hold 15s >"$out/hold.txt" &
	load=$!
	until grep -q "^held" "$out/hold.txt" 2>/dev/null; do
		kill -0 "$load" 2>/dev/null || exit 1
		sleep 0.2
	done
	;;
esac
r1=$(gc_rss "$srv" "$out/server.log")
grep "heap after GC" "$out/server.log" | tail -1
echo "$kind: $n connections: RSS ${r0} KiB before, ${r1} KiB after: $(((r1 - r0) * 1024 / n)) bytes per connection"
wait "$load" || true
