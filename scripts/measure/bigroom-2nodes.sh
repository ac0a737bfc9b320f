#!/usr/bin/env bash
# Issue 22 item 3: `chatbench bigroom`, one room of 2,000 members, against two
# chatd nodes + a private redis-server (default flags unless CHATD_FLAGS),
# every member dialled at once, 20 s measured.
#
#   scripts/measure/bigroom-2nodes.sh LABEL TOTAL_RATE
#
# Environment:
#   CHATD_BIN, CHATBENCH_BIN   binaries (default: built from this tree)
#   CHATD_FLAGS                extra flags for both nodes (e.g. "-coalesce-delay 2ms")
#   PROFILE=1                  node 1 gets -admin/-pprof; a 10 s CPU profile is
#                              taken 8 s after the load starts, to bench/results/LABEL.cpu.pb.gz
#
# -wait-notices=false: a room over -notice-room-size (500) gets sampled
# joined notices, so no member sees the room full (scripts/measure/
# bigroom-default.sh says more). Results: bench/results/
# LABEL.json (chatbench's JSON line). Everything it starts is stopped on exit;
# the run is bounded by chatbench's -join-timeout (2m) and -duration.
set -euo pipefail
label=${1:?label}
rate=${2:?total rate}
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_bins
start_redis
urls=() npids=() admin=
for i in 1 2; do
	p=$(free)
	extra=()
	if [[ ${PROFILE:-} == 1 && $i == 1 ]]; then admin=$(free); extra=(-admin "127.0.0.1:$admin" -pprof); fi
	# shellcheck disable=SC2086
	"$chatd" -addr "127.0.0.1:$p" -redis "redis://127.0.0.1:$rport" -node-id "n$i" "${extra[@]}" ${CHATD_FLAGS:-} >"$out/n$i.log" 2>&1 &
	pids+=($!)
	npids+=($!)
	urls+=("ws://127.0.0.1:$p/ws")
	for _ in $(seq 200); do curl -fsS -m 1 "http://127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
done
mkdir -p bench/results
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$chatbench" bigroom -url "$(IFS=,; echo "${urls[*]}")" -clients 2000 -total-rate "$rate" -duration 20s \
	-dial-concurrency 2000 -wait-notices=false -progress 0 -json \
	-pids "${npids[0]},${npids[1]},$rpid" >"bench/results/$label.json" 2>"$out/bench.txt" &
bpid=$!
if [[ -n $admin ]]; then
	sleep 8
	curl -fsS -m 30 -o "bench/results/$label.cpu.pb.gz" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=10" || true
fi
wait "$bpid" || true
echo "$label (load $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)): $(grep -E '^ *(messages|latency|server  +total|result)' "$out/bench.txt" | tr -s ' ' | tr '\n' ';')"
