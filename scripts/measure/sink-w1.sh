#!/usr/bin/env bash
# The message sink at W1: `chatbench fanout` (1000 clients / 10 rooms / 2
# nodes + a private redis-server on 127.0.0.1, RATE msg/s per client) with
# -sink-url pointed at a null backend (scripts/measure/sinkcount), sampling
# each node's chatd_sink_lag_seconds and chatd_sink_backlog every second.
# After the load it waits for the backlog to drain and compares what the
# backend got with what Redis stored.
#
#   scripts/measure/sink-w1.sh LABEL RATE [chatbench flags...]
#
# Environment: CHATD_FLAGS (extra flags for both nodes), CLIENTS, ROOMS,
# DURATION, WARMUP (default 1000, 10, 30s, 5s), NOSINK=1 (the same run
# without the sink, for the baseline).
#
# The chatbench JSON goes to bench/results/LABEL.json; a summary to stdout.
set -euo pipefail
label=${1:?label}
rate=${2:?rate per client}
shift 2
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_bins
go build -o "$out/sinkcount" ./scripts/measure/sinkcount
sport=$(free)
"$out/sinkcount" -addr "127.0.0.1:$sport" >"$out/sinkcount.log" 2>&1 &
pids+=($!)
spid=$!
start_redis
sinkflags=(-sink-url "http://127.0.0.1:$sport/sink" -hook-secret sink-measure-secret-0123)
[[ ${NOSINK:-} == 1 ]] && sinkflags=()
urls=() npids=() ports=()
for i in 1 2; do
	p=$(free)
	# shellcheck disable=SC2086
	"$chatd" -addr "127.0.0.1:$p" -redis "redis://127.0.0.1:$rport" -node-id "n$i" "${sinkflags[@]}" ${CHATD_FLAGS:-} >"$out/n$i.log" 2>&1 &
	pids+=($!)
	npids+=($!)
	ports+=("$p")
	urls+=("ws://127.0.0.1:$p/ws")
	for _ in $(seq 200); do curl -fsS -m 1 "http://127.0.0.1:$p/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
done
metric() { # metric NAME: the sum over both nodes, and the max
	for p in "${ports[@]}"; do
		curl -fsS -m 2 "http://127.0.0.1:$p/metrics" 2>/dev/null |
			awk -v n="$1" '{k=$1; sub(/\{.*/, "", k)} k==n {s+=$2} END {print s+0}'
	done | awk '{s+=$1; if ($1>m) m=$1} END {print s+0, m+0}'
}
# Sample the lag and backlog every second while the load runs.
(
	while true; do
		read -r _ lag < <(metric chatd_sink_lag_seconds)
		read -r backlog _ < <(metric chatd_sink_backlog)
		echo "$lag $backlog"
		sleep 1
	done
) >"$out/samples" &
sampler=$!
pids+=($sampler)
mkdir -p bench/results
"$chatbench" fanout -url "$(IFS=,; echo "${urls[*]}")" -clients "${CLIENTS:-1000}" -rooms "${ROOMS:-10}" -rate "$rate" \
	-duration "${DURATION:-30s}" -warmup "${WARMUP:-5s}" -progress 0 -json \
	-pids "${npids[0]},${npids[1]},$rpid" "$@" >"bench/results/$label.json" 2>"$out/bench.txt" || true
kill "$sampler" 2>/dev/null || true
summary=$(grep -E '^ *(messages|latency|server  +total|result)' "$out/bench.txt" | tr -s ' ' | tr '\n' ';')
echo "$label (load $(cut -d' ' -f1-3 /proc/loadavg)): $summary"
if [[ ${NOSINK:-} == 1 ]]; then exit 0; fi
# Drain: wait until no node has a backlog (at most 120 s).
t0=$(date +%s.%N)
for _ in $(seq 1200); do
	read -r backlog _ < <(metric chatd_sink_backlog)
	[[ $backlog == 0 ]] && break
	sleep 0.1
done
drain=$(python3 -c "print(round($(date +%s.%N)-$t0,1))")
read -r stored _ < <(metric chatd_redis_stored_total)
read -r dropped _ < <(metric chatd_sink_dropped_total)
read -r posts _ < <(metric chatd_sink_posts_total)
python3 - "$out/samples" <<PY
import sys
rows=[l.split() for l in open(sys.argv[1]) if len(l.split())==2]
lags=sorted(float(r[0]) for r in rows); bl=sorted(float(r[1]) for r in rows)
q=lambda a,p: a[min(len(a)-1,int(p*len(a)))] if a else 0
print(f"sink: lag (max over nodes, 1 s samples) p50 {q(lags,.5):.3f} s, p99 {q(lags,.99):.3f} s, max {lags[-1] if lags else 0:.3f} s; "
      f"backlog (sum) p50 {q(bl,.5):.0f}, max {bl[-1] if bl else 0:.0f}; drained {float('$drain'):.1f} s after the load")
PY
echo "stored (redis_stored_total) $stored; sink POSTs (ok and failed) $posts; dropped $dropped; backend: $(curl -fsS "http://127.0.0.1:$sport/stats")"
echo "sinkcount CPU: $(ps -o times= -p "$spid") s"
