#!/usr/bin/env bash
# Server memory per idle joined connection, as an operator sees it.
#
#   scripts/measure/idle-rss.sh chatd N [ROOM_SIZE]     N joined chat connections (chatbench idle), ROOM_SIZE per room (default 100)
#   scripts/measure/idle-rss.sh cluster N [ROOM_SIZE]   the same on a node in cluster mode (a private redis-server)
#   scripts/measure/idle-rss.sh wsecho N                N idle WebSockets on the transport alone (holdconns)
#
# A fresh server is started on 127.0.0.1:18090; its VmRSS is read once it
# listens (the baseline), sampled every 100 ms while the clients connect
# and join (the peak), and read 10 s after the last join completed (the
# idle figure). No signal is sent and nothing forces a GC: these are the
# figures an operator reads from /proc or `ps`. Per connection: (RSS -
# baseline) / N. Afterwards, for comparison only, SIGUSR1 makes chatd run a
# full GC and return memory to the OS, and that figure is printed labelled
# as such. Extra server flags: CHATD_FLAGS; extra load flags: CHATBENCH_FLAGS
# (e.g. "-proto v2 -rooms-per-client 4": then rooms hold N*4/ROOM_SIZE
# rooms). N is bounded by the file limit (20,000 per process here: keep N <=
# 19,000). ADDR overrides the listen address (default 127.0.0.1:18090).
#
# STORM=1 is a join storm, as a node sees it after a deploy or a neighbour's
# crash: the clients join as fast as the network allows, from three local
# addresses (127.0.0.2-4: -src), with 192 handshakes in flight per address;
# the RSS is read 5, 10, 20 and 60 s after the last join (still no signal,
# no forced GC: what the server gives back, it gives back by itself).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
kind=${1:?chatd, cluster or wsecho}
n=${2:?connections}
size=${3:-100}
per=1
if [[ ${CHATBENCH_FLAGS:-} =~ -rooms-per-client[=\ ]+([0-9]+) ]]; then per=${BASH_REMATCH[1]}; fi
rooms=$(((n * per + size - 1) / size))
addr=${ADDR:-127.0.0.1:18090}
storm=${STORM:-0}
load_flags=(-duration 40s)
marks=(10)
if [[ $storm == 1 ]]; then
	load_flags=(-duration 100s -src 127.0.0.2,127.0.0.3,127.0.0.4 -dial-concurrency 576)
	marks=(5 10 20 60)
fi
out=$(mktemp -d)
srv= load= redis=
cleanup() {
	for p in $load $srv $redis; do kill "$p" 2>/dev/null || true; done
	for p in $load $srv $redis; do wait "$p" 2>/dev/null || true; done
	rm -rf "$out"
}
trap cleanup EXIT

cd "$ROOT"
go build -o "$out/chatd" ./cmd/chatd
go build -o "$out/wsecho" ./cmd/wsecho
go build -o "$out/chatbench" ./cmd/chatbench
go build -o "$out/holdconns" ./scripts/measure/holdconns

rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }

# The connection cap defaults to the file limit minus a small reserve, so N
# up to ~19,700 fits; the pending-handshake bound per address is lifted
# because one load process dials many at once from one address.
flags=(-addr "$addr" -drain-window 0 -max-pending-per-ip -1 ${CHATD_FLAGS:-})
case $kind in
chatd) "$out/chatd" "${flags[@]}" >"$out/server.log" 2>&1 & ;;
cluster)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
	redis=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
	"$out/chatd" "${flags[@]}" -redis "redis://127.0.0.1:$port" >"$out/server.log" 2>&1 &
	;;
wsecho) "$out/wsecho" -addr "$addr" >"$out/server.log" 2>&1 & ;;
*) echo "unknown kind $kind" >&2; exit 2 ;;
esac
srv=$!
for _ in $(seq 200); do grep -q "listening" "$out/server.log" && break; sleep 0.05; done
sleep 1 # start-up settles (sonic's JIT, Redis connections)
r0=$(rss "$srv")

peak=$r0
sample() { local r; r=$(rss "$srv"); ((r > peak)) && peak=$r; true; }
case $kind in
chatd | cluster)
	# shellcheck disable=SC2086
	"$out/chatbench" idle -url "ws://$addr/ws" -clients "$n" -rooms "$rooms" "${load_flags[@]}" -progress 1s ${CHATBENCH_FLAGS:-} \
		>"$out/bench.json" 2>"$out/bench.txt" &
	load=$!
	started=$(date +%s.%N)
	until grep -q "joined $n " "$out/bench.txt" 2>/dev/null; do
		kill -0 "$load" 2>/dev/null || { cat "$out/bench.txt" >&2; exit 1; }
		sample
		sleep 0.1
	done
	;;
wsecho)
	"$out/holdconns" -url "$addr" -n "$n" -hold 40s >"$out/hold.txt" &
	load=$!
	started=$(date +%s.%N)
	until grep -q "^held" "$out/hold.txt" 2>/dev/null; do
		kill -0 "$load" 2>/dev/null || exit 1
		sample
		sleep 0.1
	done
	;;
esac
joined=$(date +%s.%N)
sample
r_joined=$(rss "$srv")
# Sample every 100 ms until each mark (seconds after the last join, by the
# clock: a busy machine makes each sample slower).
declare -A at
for m in "${marks[@]}"; do
	until awk "BEGIN{exit !($(date +%s.%N) >= $joined + $m)}"; do sample; sleep 0.1; done
	at[$m]=$(rss "$srv")
	kill -0 "$load" 2>/dev/null || { echo "the load ended before the ${m} s mark" >&2; exit 1; }
done
r_idle=${at[10]}
hw=$(hwm "$srv")
((hw > peak)) && peak=$hw
per() { echo $((($1 - r0) * 1024 / n)); }
took=$(awk "BEGIN{printf \"%.1f\", $joined - $started}")
rate=$(awk "BEGIN{printf \"%.0f\", $n / ($joined - $started)}")
echo "$kind: $n connections${CHATBENCH_FLAGS:+ ($CHATBENCH_FLAGS)} in rooms of $size$([[ $storm == 1 ]] && echo ", STORM"), $took s to connect and join (~$rate joins/s)"
echo "  RSS baseline ${r0} KiB; at the last join ${r_joined} KiB ($(per "$r_joined") B/conn); 10 s later ${r_idle} KiB ($(per "$r_idle") B/conn); peak ${peak} KiB ($(per "$peak") B/conn)"
if [[ $storm == 1 ]]; then
	line="  after the last join:"
	for m in "${marks[@]}"; do line+=" ${m} s $(per "${at[$m]}") B/conn;"; done
	echo "$line"
fi
if [[ $kind != wsecho ]]; then
	before=$(grep -c "heap after GC" "$out/server.log" || true)
	kill -USR1 "$srv"
	for _ in $(seq 100); do
		[[ $(grep -c "heap after GC" "$out/server.log" || true) -gt $before ]] && break
		sleep 0.05
	done
	r_gc=$(rss "$srv")
	echo "  for comparison only, after a forced GC that returns memory to the OS (SIGUSR1): ${r_gc} KiB ($(per "$r_gc") B/conn)"
	grep "heap after GC" "$out/server.log" | tail -1
fi
