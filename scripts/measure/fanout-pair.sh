#!/usr/bin/env bash
# One `chatbench fanout` run against a fresh 2-node cluster (a private
# redis-server and two chatd nodes on 127.0.0.1), for side-by-side figures:
# before/after a change, v1/v2, history on/off.
#
#   scripts/measure/fanout-pair.sh LABEL RATE [chatbench flags...]
#
# Environment:
#   CHATD_BIN       the chatd binary to run (default: built from this tree)
#   CHATBENCH_BIN   the chatbench binary (default: built from this tree)
#   CHATD_FLAGS     extra flags for both nodes (e.g. "-history-size -1")
#   CLIENTS, ROOMS, DURATION, WARMUP   (default 1000, 10, 30s, 5s)
#
# The JSON result goes to bench/results/LABEL.json, Redis' INFO commandstats
# and cpu after the run to bench/results/LABEL.redis.txt; the summary line to
# stdout. Everything it starts is stopped on exit.
set -euo pipefail
label=${1:?label}
rate=${2:?rate per client}
shift 2
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_bins
start_redis
urls=() npids=()
for i in 1 2; do
	p=$(free)
	# shellcheck disable=SC2086
	"$chatd" -addr "127.0.0.1:$p" -redis "redis://127.0.0.1:$rport" -node-id "n$i" ${CHATD_FLAGS:-} >"$out/n$i.log" 2>&1 &
	pids+=($!)
	npids+=($!)
	urls+=("ws://127.0.0.1:$p/ws")
	for _ in $(seq 200); do curl -fsS -m 1 "http://127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
done
mkdir -p bench/results
load0=$(cut -d' ' -f1-3 /proc/loadavg)
"$chatbench" fanout -url "$(IFS=,; echo "${urls[*]}")" -clients "${CLIENTS:-1000}" -rooms "${ROOMS:-10}" -rate "$rate" \
	-duration "${DURATION:-30s}" -warmup "${WARMUP:-5s}" -progress 0 -json \
	-pids "${npids[0]},${npids[1]},$rpid" "$@" >"bench/results/$label.json" 2>"$out/bench.txt" || true
redis-cli -p "$rport" info commandstats >"bench/results/$label.redis.txt" 2>&1 || true
redis-cli -p "$rport" info cpu >>"bench/results/$label.redis.txt" 2>&1 || true
echo "$label (load $load0 -> $(cut -d' ' -f1-3 /proc/loadavg)): $(grep -E '^ *(messages|latency|server  +total|result)' "$out/bench.txt" | tr -s ' ' | tr '\n' ';')"
