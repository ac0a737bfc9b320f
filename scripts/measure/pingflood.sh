#!/usr/bin/env bash
# Server memory under the ping flood of issue 15: one non-reading raw client
# on 127.0.0.1 writing pings for 1 s (scripts/measure/pingflood).
#
#   scripts/measure/pingflood.sh [CHATD_BINARY]
#   CHATD_FLAGS="-ping-rate -1" PINGFLOOD_FLAGS=-split scripts/measure/pingflood.sh   # the outbound limit alone
#
# Without an argument chatd is built from this tree; CHATD_FLAGS adds flags
# to chatd, PINGFLOOD_FLAGS to the attacker (see its -split). The server starts fresh
# on 127.0.0.1:18091; VmRSS is read before the flood, right after it, and
# 3 s after the attacker left, and VmHWM (peak RSS) at the end. The attacker
# then times a fresh client's upgrade and first pong. /proc/loadavg is
# printed too: other work on the box skews the figures.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=18091
out=$(mktemp -d)
srv=
trap '[[ -n $srv ]] && { kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; }; rm -rf "$out"' EXIT

cd "$ROOT"
bin=${1:-}
if [[ -z $bin ]]; then
	go build -o "$out/chatd" ./cmd/chatd
	bin=$out/chatd
fi
go build -o "$out/pingflood" ./scripts/measure/pingflood

kib() { awk -v k="$2" '$1==k":"{print $2}' "/proc/$1/status"; }
# shellcheck disable=SC2086 # CHATD_FLAGS is a list of flags
"$bin" -addr "127.0.0.1:$port" -drain-window 0 ${CHATD_FLAGS:-} >"$out/server.log" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q "listening" "$out/server.log" && break; sleep 0.05; done
sleep 0.5
echo "loadavg: $(cat /proc/loadavg)"
echo "rss before:          $(kib "$srv" VmRSS) KiB"
# shellcheck disable=SC2086
"$out/pingflood" -port "$port" -for 1s ${PINGFLOOD_FLAGS:-} &
atk=$!
sleep 1.05
echo "rss after the flood: $(kib "$srv" VmRSS) KiB"
wait "$atk"
sleep 3
echo "rss 3 s later:       $(kib "$srv" VmRSS) KiB"
echo "peak rss (VmHWM):    $(kib "$srv" VmHWM) KiB"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^chatd_(slow_consumer_closes_total|ping_abuse_closes_total|bytes_out_total|bytes_in_total) ' || true
echo "loadavg: $(cat /proc/loadavg)"
