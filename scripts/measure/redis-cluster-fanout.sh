#!/usr/bin/env bash
# chatbench fanout on 2 chatd nodes, on one Redis and on a 3-master Redis
# Cluster, side by side (BENCHMARKS.md, "Redis Cluster"). Each rate runs on
# both setups in turn (single, cluster, single, cluster, ...), so that the
# load of a shared machine falls on both alike; /proc/loadavg is recorded
# before each run.
#
#   scripts/measure/redis-cluster-fanout.sh [rate ...]     (default: 2 5 10)
#
# Environment: CLIENTS (1000), ROOMS (100), DURATION (20s), OUT (bench/results),
# REPLICAS (0: replicas per master of the cluster), REPEAT (1: rounds over all).
# Results: $OUT/rediscluster-fanout-<setup>-<clients>c-<rooms>r-<rate>-run<N>.json,
# one chatbench JSON line each, plus a .load file with the load average before it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
CLIENTS=${CLIENTS:-1000}
ROOMS=${ROOMS:-100}
DURATION=${DURATION:-20s}
OUT=${OUT:-bench/results}
if [[ $# -gt 0 ]]; then RATES=("$@"); else RATES=(2 5 10); fi
WORK=$(mktemp -d /tmp/rcbench.XXXXXX)
cleanup() { # stop whatever a failed step left running, then drop the folder
	CLUSTER_DIR=$WORK/single scripts/cluster.sh stop >/dev/null 2>&1 || true
	CLUSTER_DIR=$WORK/cluster scripts/redis-cluster.sh stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"
go build -o "$WORK/bin/" ./cmd/chatd ./cmd/chatbench

pids_of() { # DIR: the chatd and redis pids of a started setup, comma-separated
	cat "$1"/node-*.pid "$1"/redis*.pid 2>/dev/null | paste -sd, -
}

run() { # SETUP RATE ROUND
	local setup=$1 rate=$2 dir="$WORK/$1" base name
	if [[ $setup == single ]]; then
		base=18180
		CLUSTER_DIR=$dir scripts/cluster.sh start 2 $base >/dev/null
	else
		base=18190
		CLUSTER_DIR=$dir MASTERS=3 REPLICAS=${REPLICAS:-0} REDIS_BASE=17100 scripts/redis-cluster.sh start 2 $base >/dev/null
	fi
	name="$OUT/rediscluster-fanout-$setup-${CLIENTS}c-${ROOMS}r-$rate-run$3"
	cat /proc/loadavg >"$name.load"
	echo "== $setup, rate $rate (load $(cut -d' ' -f1-3 /proc/loadavg)); pids $(pids_of "$dir")"
	"$WORK/bin/chatbench" fanout -url "ws://127.0.0.1:$base/ws,ws://127.0.0.1:$((base + 1))/ws" \
		-clients "$CLIENTS" -rooms "$ROOMS" -rate "$rate" -duration "$DURATION" -warmup 5s \
		-pids "$(pids_of "$dir")" -progress 0 -json >"$name.json" || echo "(chatbench reports FAIL: see $name.json)"
	if [[ $setup == single ]]; then
		CLUSTER_DIR=$dir scripts/cluster.sh stop >/dev/null
	else
		CLUSTER_DIR=$dir scripts/redis-cluster.sh stop >/dev/null
	fi
}

for ((round = 1; round <= ${REPEAT:-1}; round++)); do
	for rate in "${RATES[@]}"; do
		run single "$rate" "$round"
		run cluster "$rate" "$round"
	done
done
