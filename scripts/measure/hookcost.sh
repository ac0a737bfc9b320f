#!/usr/bin/env bash
# Issue 21's hook costs: the same v2 load on one chatd node with no hook,
# then each hook alone (connect, join, publish), then all three, against a
# local backend (scripts/measure/hookbackend) that answers every call with
# {} after HOOK_DELAY (default 1ms).
#
#   scripts/measure/hookcost.sh [LABEL_PREFIX]           (default hookcost)
#
# Load (a W-like v2 fan-out): chatbench fanout -proto v2, CLIENTS (200)
# clients in ROOMS (10) rooms, RATE (5) msg/s per client, DURATION (20s)
# measured after a 5 s warm-up; CPU is chatd's and the backend's (-pids).
# CHATD_FLAGS adds chatd flags (e.g. "-hello-timeout -1"), MODES picks the
# modes (default "none connect join publish all").
# BENCH_FLAGS adds chatbench flags, e.g. "-dial-concurrency 16 -dial-until-joined":
# the connect hook allows -hook-max-per-room (16) calls per client address
# at once and refuses more at once (overload), and chatbench's clients all
# come from 127.0.0.1 (64 dials in flight by default).
# Results: bench/results/<prefix>-<mode>.json (chatbench's JSON line) and
# <prefix>-<mode>.backend.json (the backend's call counts). Each run is a
# fresh chatd; everything started is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prefix=${1:-hookcost}
out=$(mktemp -d)
pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'stop; rm -rf "$out"' EXIT
cd "$ROOT"
go build -o "$out/" ./cmd/chatd ./cmd/chatbench ./scripts/measure/hookbackend
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret=hookcost-secret-0123456789
mkdir -p bench/results

for mode in ${MODES:-none connect join publish all}; do
	bport=$(free)
	"$out/hookbackend" -addr "127.0.0.1:$bport" -delay "${HOOK_DELAY:-1ms}" -secret "$secret" 2>"$out/backend.log" &
	pids+=($!)
	bpid=$!
	for _ in $(seq 100); do curl -fsS -m 1 "http://127.0.0.1:$bport/stats" >/dev/null 2>&1 && break; sleep 0.05; done
	hooks=()
	b=http://127.0.0.1:$bport
	case $mode in
	none) ;;
	connect | join | publish) hooks=(-hook-"$mode" "$b/$mode") ;;
	all) hooks=(-hook-connect "$b/connect" -hook-join "$b/join" -hook-publish "$b/publish") ;;
	esac
	((${#hooks[@]})) && hooks+=(-hook-secret "$secret")
	port=$(free)
	# shellcheck disable=SC2086 # CHATD_FLAGS is a list of flags
	"$out/chatd" -addr "127.0.0.1:$port" "${hooks[@]}" ${CHATD_FLAGS:-} >"$out/chatd.log" 2>&1 &
	pids+=($!)
	cpid=$!
	for _ in $(seq 200); do curl -fsS -m 1 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
	echo "== $mode: load before $(cut -d' ' -f1-3 /proc/loadavg)"
	"$out/chatbench" fanout -proto v2 -url "ws://127.0.0.1:$port/ws" -clients "${CLIENTS:-200}" -rooms "${ROOMS:-10}" \
		-rate "${RATE:-5}" -duration "${DURATION:-20s}" -warmup 5s -progress 0 -json -pids "$cpid,$bpid" ${BENCH_FLAGS:-} \
		>"bench/results/$prefix-$mode.json" 2>"$out/bench.txt" || true
	grep -E '^ *(connect|joined|messages|latency|server|result)' "$out/bench.txt" || tail -5 "$out/bench.txt"
	curl -fsS -m 5 "http://127.0.0.1:$bport/stats" | tee "bench/results/$prefix-$mode.backend.json"
	curl -fsS -m 5 "http://127.0.0.1:$port/metrics" | grep -E '^chatd_hook_(calls|failures)_total' || true
	stop
done
