#!/usr/bin/env bash
# A million joined WebSocket connections on this box, end to end (issue 12), or any other count:
# N chatd nodes sharing one port (-reuseport) and one private redis-server, chatbench's roomcast
# workload from many load processes and source addresses, rooms of 100. Every connection joins;
# then one message per room, which every member must receive (chatbench accounts for each one:
# lost, duplicated, out of order). During a hold after the accounting, every node's /readyz and
# /metrics are read under the full load and one node is drained.
#
#   scripts/measure/million.sh [TARGET]      TARGET connections (default 1000000)
#   scripts/measure/million.sh 60000         a rehearsal
#
# Only 127.0.0.0/8 is ever bound or dialed. The run ends by itself: chatbench's own bounds (join
# timeout, drain, hold) and a watchdog (TIME_LIMIT) stop it; a trap stops everything the script
# started and restores the sysctls it raised, however it ends.
#
# Environment (defaults derive from TARGET):
#   NODES         chatd nodes (default ceil(TARGET/18000): the kernel spreads connections over the
#                 nodes' listeners at random, so ~18k per node stays clear of a node's cap, 19,740
#                 with -loops 1 and 20,000 files)
#   PROCS         chatbench processes, one source address each (default ceil(TARGET/18000))
#   ROOM_SIZE     members per room (default 100)
#   LOOPS         event loops per node (default 1: NODES nodes share 2 cores)
#   HOLD          seconds to hold every connection after the accounting (default 60: it must cover
#                 noticing the hold (progress every 2 s), the probes and a drain of up to 10 s)
#   DRAIN_ONE     1 (default): drain one node (SIGTERM) during the hold and time it; 0: don't
#   JOIN_TIMEOUT  seconds for the whole connect+join phase (default 120 + TARGET/125: on two shared
#                 cores the million's join rate fell from ~1,000/s to ~50/s as the rooms filled, and the
#                 first full run reached 871,710 in the 4,120 s that 120 + TARGET/250 allowed)
#   TIME_LIMIT    seconds after which the watchdog stops everything (default JOIN_TIMEOUT+HOLD+600)
#   OUT           output folder (default <repo>/tmp/million-TARGET)
#   CHATD_FLAGS   extra flags for every node
#   DIAL_CONCURRENCY  connections each load process has between its dial and its roomJoined at once
#                 (default 8; chatbench -dial-until-joined). Without that bound the million
#                 collapsed twice on two cores: 56 × 64 handshakes in flight timed out; then joins
#                 queued without bound, Redis requests timed out and nodes refused joins as
#                 "cluster unavailable" (BENCHMARKS.md section 8)
#   GOMAXPROCS_EACH  GOMAXPROCS of every node and load process (default 1; empty: Go's default, and
#                 chatd's own loops+2). With ~110 processes on two cores, every spare scheduler slot is
#                 one more thread to wake and put back to sleep per event: at 100,000 connections on
#                 56 + 56 processes, GOMAXPROCS=1 joined 1.4-1.7x faster (440-520 vs 307 joins/s) with
#                 29-39 % less node CPU per join (BENCHMARKS.md section 8). One process per core: keep
#                 Go's default (GOMAXPROCS_EACH=).
#   NETDEV_BACKLOG  net.core.netdev_max_backlog for the run (default 100000, raised and restored; 0:
#                 leave it). Every packet here crosses loopback, which queues it on the sending CPU's
#                 backlog (the kernel default holds 1000) until softirq work runs; with both cores
#                 saturated that queue overflowed 11.7M times per CPU in the third full run, keepalive
#                 probes and their ACKs were dropped, and the kernel counted 583,960 aborts on a
#                 timeout (TcpExtTCPAbortOnTimeout): ~260,000 connections that chatd never closed were
#                 lost (BENCHMARKS.md section 8)
#   REDIS_NICE    nice value for redis-server when run as root (default -10): one Redis shared by
#                 every node must not queue behind 100+ busy processes on two cores, as it would not
#                 on its own machine in a deployment
#
# Output in $OUT: report.txt (the figures), result.json (chatbench's result), chatbench.log,
# samples.tsv (every 2 s: RSS and CPU of nodes, load processes and Redis; kernel slab, TCP
# sockets and memory; Redis memory), node-<i>.log, redis.log, probes.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${1:-1000000}
die() { echo "million.sh: $*" >&2; exit 2; }
[[ $TARGET =~ ^[0-9]+$ && $TARGET -ge 1000 ]] || die "TARGET must be a number ≥ 1000"
PER=18000
NODES=${NODES:-$(((TARGET + PER - 1) / PER))}
PROCS=${PROCS:-$(((TARGET + PER - 1) / PER))}
ROOM_SIZE=${ROOM_SIZE:-100}
LOOPS=${LOOPS:-1}
HOLD=${HOLD:-60}
DRAIN_ONE=${DRAIN_ONE:-1}
JOIN_TIMEOUT=${JOIN_TIMEOUT:-$((120 + TARGET / 125))}
DIAL_CONCURRENCY=${DIAL_CONCURRENCY:-8}
REDIS_NICE=${REDIS_NICE:--10}
GOMAXPROCS_EACH=${GOMAXPROCS_EACH-1}
TIME_LIMIT=${TIME_LIMIT:-$((JOIN_TIMEOUT + HOLD + 600))}
OUT=${OUT:-$ROOT/tmp/million-$TARGET}
ROOMS=$(((TARGET + ROOM_SIZE - 1) / ROOM_SIZE))
RATE=$((ROOMS / 5 > 10 ? ROOMS / 5 : 10)) # the one message per room goes out over ~5 s
for v in NODES PROCS ROOM_SIZE LOOPS HOLD JOIN_TIMEOUT TIME_LIMIT DIAL_CONCURRENCY; do
	[[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v must be a positive number"
done
[[ -z $GOMAXPROCS_EACH || $GOMAXPROCS_EACH =~ ^[1-9][0-9]*$ ]] || die "GOMAXPROCS_EACH must be empty or a positive number"
((PROCS <= 250)) || die "PROCS must be at most 250 (one source address 127.0.1.x each)"
for t in go redis-server redis-cli curl jq awk; do
	command -v "$t" >/dev/null || die "$t not found"
done
EACH_ENV=() # env GOMAXPROCS=N: exec'd, so $! is still the node's or chatbench's own pid
[[ -z $GOMAXPROCS_EACH ]] || EACH_ENV=(env "GOMAXPROCS=$GOMAXPROCS_EACH")
HOST=127.0.0.1 # the only address the nodes, Redis and the probes use

mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.pid "$OUT/samples.tsv" "$OUT/result.json" "$OUT/report.txt" "$OUT/probes.txt"
REPORT=$OUT/report.txt
say() { echo "$*" | tee -a "$REPORT"; }

# --- memory guard: refuse to start what cannot fit (other work shares this box) ---------------
# Per connection, both ends: ~8.5 KB of kernel memory (two sockets), ~2-4 KB of chatd, ~1 KB of
# chatbench, ~0.6 KB of Redis; 16 KB leaves a margin.
need_mb=$((TARGET * 16 / 1024 + 1024))
avail_mb=$(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
((avail_mb > need_mb)) || die "needs ~${need_mb} MiB, only ${avail_mb} MiB available"

# --- sysctls: raise only what this run needs, print it, restore it at the end -----------------
declare -A SYSCTL_OLD=()
raise() { # NAME MIN
	local f=/proc/sys/${1//./\/} cur
	[[ -w $f ]] || { say "sysctl $1: cannot write (not root?); it is $(cat "$f" 2>/dev/null || echo '?'), need $2"; return 1; }
	cur=$(awk '{ print $1 }' "$f")
	if ((cur >= $2)); then
		say "sysctl $1 = $cur (enough; need $2)"
		return 0
	fi
	SYSCTL_OLD[$1]=$cur
	echo "$2" >"$f"
	say "sysctl $1: $cur -> $2 (raised for this run; restored at the end)"
}
restore_sysctls() {
	local k
	for k in "${!SYSCTL_OLD[@]}"; do
		echo "${SYSCTL_OLD[$k]}" >"/proc/sys/${k//./\/}" && echo "sysctl $k restored to ${SYSCTL_OLD[$k]}"
	done
}

# --- teardown ------------------------------------------------------------------------------------
NODE_PIDS=() NODE_WS=() REDIS_PID="" BENCH_PID="" SAMPLER_PID="" WATCHDOG_PID=""
stop_pids() { # SIGNAL PID...
	local sig=$1 p
	shift
	for p in "$@"; do [[ -n $p ]] && kill "-$sig" "$p" 2>/dev/null || true; done
}
alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
# stop_loop PID: a background subshell of ours and the command it is running (its sleep).
stop_loop() {
	[[ -n $1 ]] || return 0
	# shellcheck disable=SC2046 # a list of pids
	stop_pids TERM $(pgrep -P "$1" 2>/dev/null || true) "$1"
	wait "$1" 2>/dev/null || true # reaped here, so bash does not report it "Terminated"
}
cleanup() {
	local rc=$? end kids
	trap - EXIT INT TERM
	stop_loop "$WATCHDOG_PID"
	stop_loop "$SAMPLER_PID"
	if [[ -n $BENCH_PID ]] && alive "$BENCH_PID"; then
		kids=$(pgrep -P "$BENCH_PID" 2>/dev/null || true)
		stop_pids INT "$BENCH_PID" # chatbench closes its connections and stops its children
		timeout 20 tail --pid="$BENCH_PID" -f /dev/null 2>/dev/null || true
		# shellcheck disable=SC2086 # a list of pids
		stop_pids KILL "$BENCH_PID" $kids
	fi
	stop_pids TERM "${NODE_PIDS[@]}"
	end=$((SECONDS + 15))
	while alive "${NODE_PIDS[@]}" && ((SECONDS < end)); do sleep 0.2; done
	stop_pids KILL "${NODE_PIDS[@]}"
	stop_pids TERM "$REDIS_PID"
	[[ -n $REDIS_PID ]] && { timeout 10 tail --pid="$REDIS_PID" -f /dev/null 2>/dev/null || stop_pids KILL "$REDIS_PID"; }
	restore_sysctls
	echo "million.sh: everything stopped (exit $rc); output in $OUT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "million.sh $TARGET: $NODES nodes (-loops $LOOPS), $PROCS load processes, $ROOMS rooms of $ROOM_SIZE, GOMAXPROCS ${GOMAXPROCS_EACH:-default} each, netdev_max_backlog ${NETDEV_BACKLOG:-100000}, chatd flags: ${CHATD_FLAGS:-none}; $(date -u +%FT%TZ)"
used=$(awk '{ print $1 }' /proc/sys/fs/file-nr)
raise fs.file-max $((used + 2 * TARGET + 300 * (NODES + PROCS) + 100000))
NETDEV_BACKLOG=${NETDEV_BACKLOG:-100000}
((NETDEV_BACKLOG == 0)) || raise net.core.netdev_max_backlog "$NETDEV_BACKLOG"
# The kernel's own drops and aborts, counted from here (the report gives the difference).
kernel_drops() { # loopback backlog drops (all CPUs), then connections the kernel aborted on a timeout
	printf '%s %s\n' "$(awk '{ s += strtonum("0x" $2) } END { print s + 0 }' /proc/net/softnet_stat)" \
		"$(awk '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "TCPAbortOnTimeout") c = i; n = 1 } else print $c }' /proc/net/netstat)"
}
read -r DROPS0 ABORTS0 < <(kernel_drops)
# conntrack holds an entry per connection only while it tracks (it does not here unless a rule
# needs it); when it does, it must have room for all of them.
if [[ -r /proc/sys/net/netfilter/nf_conntrack_count ]] && (($(cat /proc/sys/net/netfilter/nf_conntrack_count) > 0)); then
	raise net.netfilter.nf_conntrack_max $(($(cat /proc/sys/net/netfilter/nf_conntrack_count) + TARGET * 11 / 10))
fi

# --- ports, binaries, Redis, nodes ------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
free_port() { local p; for ((p = $1; p < 65000; p++)); do port_free "$p" && { echo "$p"; return; }; done; die "no free port"; }
free_block() { # N FROM: first of N consecutive free ports
	local b=$2 i
	while ((b + $1 < 65000)); do
		for ((i = 0; i < $1; i++)); do port_free $((b + i)) || break; done
		((i == $1)) && { echo "$b"; return; }
		b=$((b + i + 1))
	done
	die "no block of $1 free ports"
}
PORT=$(free_port 9400)
ADMIN_BASE=$(free_block "$NODES" 19400)
REDIS_PORT=$(free_port 6400)

# The watchdog: however the run goes, it ends within TIME_LIMIT.
(sleep "$TIME_LIMIT" && echo "million.sh: watchdog: $TIME_LIMIT s passed, stopping" >&2 && kill -TERM $$) &
WATCHDOG_PID=$!

echo "building chatd and chatbench..."
(cd "$ROOT" && go build -o "$OUT/bin/" ./cmd/chatd ./cmd/chatbench)

mkdir -p "$OUT/redis"
# Every node subscribes to nearly every room (a room's members land on random nodes), so a join
# storm is a PUBLISH to every node: give the private instance pub/sub buffers big enough.
redis-server --port "$REDIS_PORT" --bind "$HOST" --save "" --appendonly no --dir "$OUT/redis" \
	--maxclients 50000 --client-output-buffer-limit "pubsub 1gb 512mb 120" >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
if (($(id -u) == 0)) && [[ $REDIS_NICE != 0 ]]; then
	renice -n "$REDIS_NICE" -p "$REDIS_PID" >/dev/null && say "redis-server at nice $REDIS_NICE"
fi
redis() { redis-cli -h "$HOST" -p "$REDIS_PORT" "$@"; }
end=$((SECONDS + 10))
until [[ $(redis PING 2>/dev/null) == PONG ]]; do ((SECONDS < end)) || die "redis-server did not start"; sleep 0.1; done

for ((i = 1; i <= NODES; i++)); do
	# shellcheck disable=SC2086 # CHATD_FLAGS is a list of flags
	"${EACH_ENV[@]}" "$OUT/bin/chatd" -addr "$HOST:$PORT" -reuseport -loops "$LOOPS" -redis "redis://$HOST:$REDIS_PORT" \
		-node-id "m$i" -admin "$HOST:$((ADMIN_BASE + i - 1))" -log-level warn ${CHATD_FLAGS:-} \
		>"$OUT/node-$i.log" 2>&1 &
	NODE_PIDS+=($!)
done
admin() { echo "http://$HOST:$((ADMIN_BASE + $1 - 1))"; } # node index -> admin URL
end=$((SECONDS + 60))
for ((i = 1; i <= NODES; i++)); do
	until curl -fsS -m 2 "$(admin "$i")/readyz" >/dev/null 2>&1; do
		alive "${NODE_PIDS[i - 1]}" || die "node $i exited: $(tail -5 "$OUT/node-$i.log")"
		((SECONDS < end)) || die "node $i not ready"
		sleep 0.1
	done
done
say "nodes ready on ws://$HOST:$PORT/ws (admin $HOST:$ADMIN_BASE..$((ADMIN_BASE + NODES - 1))), Redis $HOST:$REDIS_PORT"

# --- the sampler -------------------------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# proc_files SUFFIX PID...: /proc/<pid>/SUFFIX of the pids still alive.
proc_files() { local s=$1 p; shift; for p in "$@"; do [[ -r /proc/$p/$s ]] && echo "/proc/$p/$s"; done; }
rss_kb() { proc_files status "$@" | xargs -r awk '/^VmRSS/ { s += $2 } END { print s + 0 }' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
cpu_ticks() { proc_files stat "$@" | xargs -r cat 2>/dev/null | awk '{ s += $14 + $15 } END { print s + 0 }'; }
load_pids() { [[ -z $BENCH_PID ]] || { echo "$BENCH_PID"; pgrep -P "$BENCH_PID" 2>/dev/null || true; }; }
# sample: one line of samples.tsv. Every field is a number (0 when unknown), so columns never shift.
sample() {
	local lp ru
	mapfile -t lp < <(load_pids)
	ru=$(redis INFO memory 2>/dev/null | awk -F: '/^used_memory:/ { print $2 + 0 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date +%s%3N)" \
		"$(rss_kb "${NODE_PIDS[@]}")" "$(rss_kb "${lp[@]}")" "$(rss_kb "$REDIS_PID")" \
		"$(cpu_ticks "${NODE_PIDS[@]}")" "$(cpu_ticks "${lp[@]}")" "$(cpu_ticks "$REDIS_PID")" \
		"$(awk '/^Slab:/ { s = $2 } /^MemAvailable:/ { a = $2 } END { print s + 0 "\t" a + 0 }' /proc/meminfo)" \
		"$(awk '/^TCP:/ { print $3 + 0 "\t" $NF + 0 }' /proc/net/sockstat)" \
		"$(awk '/^sockets:/ { print $3 + 0 }' /proc/net/sockstat)" "${ru:-0}"
}
printf 'ms\tnodes_rss_kb\tload_rss_kb\tredis_rss_kb\tnodes_cpu_ticks\tload_cpu_ticks\tredis_cpu_ticks\tslab_kb\tmemavail_kb\ttcp_inuse\ttcp_mem_pages\tsockets_used\tredis_used_bytes\n' >"$OUT/samples.tsv"
sample >>"$OUT/samples.tsv" # the baseline: nodes up, no client

# --- the run --------------------------------------------------------------------------------------------
SRCS=$(for ((i = 1; i <= PROCS; i++)); do printf '127.0.1.%d,' "$i"; done)
"${EACH_ENV[@]}" "$OUT/bin/chatbench" roomcast -url "ws://$HOST:$PORT/ws" -clients "$TARGET" -rooms "$ROOMS" \
	-procs "$PROCS" -src "${SRCS%,}" -total-rate "$RATE" -join-timeout "${JOIN_TIMEOUT}s" \
	-dial-concurrency "$DIAL_CONCURRENCY" -dial-until-joined -connect-timeout 120s -drain 120s -hold "${HOLD}s" -progress 2s -json \
	-pids "$(IFS=,; echo "${NODE_PIDS[*]}"),$REDIS_PID" >"$OUT/result.json" 2>"$OUT/chatbench.log" &
BENCH_PID=$!
(set +e; while sleep 2; do sample; done >>"$OUT/samples.tsv") &
SAMPLER_PID=$!
say "chatbench running (pid $BENCH_PID); progress in $OUT/chatbench.log"

# --- under the full load: probe every node, drain one -----------------------------------------
until grep -q '\] hold ' "$OUT/chatbench.log" 2>/dev/null; do
	alive "$BENCH_PID" || break
	sleep 0.5
done
PROBES_OK=1
if alive "$BENCH_PID"; then
	say "hold: all joined and accounted; probing every node under the full load"
	total_ws=0 max_ms=0
	for ((i = 1; i <= NODES; i++)); do
		r=$(curl -s -o /dev/null -m 10 -w '%{http_code} %{time_total}' "$(admin "$i")/readyz" || echo "000 10")
		m=$(curl -s -m 10 -w '\n%{http_code} %{time_total}' "$(admin "$i")/metrics" || echo "000 10")
		ws=$(awk '/^chatd_websocket_connections / { print $2 + 0 }' <<<"$m")
		read -r mcode mtime < <(tail -1 <<<"$m")
		read -r rcode rtime <<<"$r"
		echo "node $i: readyz $rcode ${rtime}s, metrics $mcode ${mtime}s, websockets ${ws:-?}" >>"$OUT/probes.txt"
		[[ $rcode == 200 && $mcode == 200 ]] || PROBES_OK=0
		total_ws=$((total_ws + ${ws:-0}))
		max_ms=$(awk -v a="$max_ms" -v b="$rtime" -v c="$mtime" 'BEGIN { m = a; if (b * 1000 > m) m = b * 1000; if (c * 1000 > m) m = c * 1000; printf "%d", m }')
		NODE_WS[i]=${ws:-0}
	done
	say "probes: /readyz and /metrics of $NODES nodes: $([[ $PROBES_OK == 1 ]] && echo 'all 200' || echo 'NOT all 200'), slowest ${max_ms} ms; WebSockets by /metrics: $total_ws"
	if [[ $DRAIN_ONE == 1 ]]; then
		pid=${NODE_PIDS[NODES - 1]}
		t0=$(date +%s%3N)
		kill -TERM "$pid"
		if timeout 60 tail --pid="$pid" -f /dev/null; then
			say "drain: node $NODES (${NODE_WS[NODES]} WebSockets) drained and exited $(($(date +%s%3N) - t0)) ms after SIGTERM"
		else
			say "drain: node $NODES did NOT exit within 60 s of SIGTERM"
			PROBES_OK=0
		fi
		ok=0
		for ((i = 1; i < NODES; i++)); do curl -fsS -m 10 -o /dev/null "$(admin "$i")/readyz" && ok=$((ok + 1)); done
		say "after the drain: $ok of $((NODES - 1)) other nodes ready"
		((ok == NODES - 1)) || PROBES_OK=0
	fi
fi
wait "$BENCH_PID" && BENCH_RC=0 || BENCH_RC=$?
BENCH_PID=""
sample >>"$OUT/samples.tsv"

# --- the report ---------------------------------------------------------------------------------------
[[ -s $OUT/result.json ]] || die "chatbench produced no result (exit $BENCH_RC); see $OUT/chatbench.log"
R=$OUT/result.json
j() { jq -r "$1" "$R"; }
NODE_SET=$(IFS=,; echo "${NODE_PIDS[*]}")
joined=$(j .joined)
last_ms=$(($(j .lastJoinNs) / 1000000))
# The sample taken right after the last join, and the baseline (first) sample.
read -r -a S0 < <(awk 'NR == 2' "$OUT/samples.tsv")
read -r -a SJ < <(awk -v t="$last_ms" 'NR > 1 && $1 >= t { print; exit }' "$OUT/samples.tsv")
((${#SJ[@]} > 0)) || read -r -a SJ < <(tail -1 "$OUT/samples.tsv")
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
per() { awk -v kb="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.0f", kb * 1024 / n; else print "-" }'; }
cpus() { awk -v t="$1" -v h="$TCK" 'BEGIN { printf "%.1f", t / h }'; }
# nodes FIELD: the sum of a per-pid field of chatbench's server samples over the nodes (not Redis).
nodes() { jq --arg s "$NODE_SET" '($s | split(",") | map(tonumber)) as $n | [.server[] | select(.pid | IN($n[])) | .'"$1"'] | add // 0' "$R"; }
nodes_kb=$(nodes rssStartKB) nodes_base_kb=$(nodes rssBaselineKB) nodes_peak_kb=$(nodes rssPeakKB)
{
	echo
	echo "== $TARGET connections: $(j 'if .pass then "PASS" else "FAIL" end') =="
	echo "connect+join  joined $joined of $TARGET (connect failed $(j .connectFailed), join failed $(j .joinFailed), not dialed $(j .notDialed)) in $(j '.joinPhaseSec | . * 10 | round / 10') s ($(j '.joinsPerSec | round') joins/s); join notices $(j .userJoined)"
	echo "messages      $(j .sent) sent (one per room); expected $(j .expected) deliveries, delivered $(j .delivered), lost $(j .lost), duplicated $(j .duplicated), out of order $(j .outOfOrder); echoes $(j .echoes); latency p50 $(j '.latency.p50Ms * 100 | round / 100') ms, p99 $(j '.latency.p99Ms * 100 | round / 100') ms"
	echo "nodes RSS     all joined: $(mib "$nodes_kb") MiB total = $(per "$nodes_kb" "$joined") bytes per connection ($(per $((nodes_kb - nodes_base_kb)) "$joined") over the $(mib "$nodes_base_kb") MiB of idle nodes); peak $(mib "$nodes_peak_kb") MiB"
	echo "load RSS      all joined: $(mib "${SJ[2]}") MiB over $PROCS processes and their parent = $(per "${SJ[2]}" "$joined") bytes per connection"
	echo "kernel        Slab $(mib "${S0[7]}") -> $(mib "${SJ[7]}") MiB: $(per $((SJ[7] - S0[7])) "$joined") bytes per connection (both sockets); TCP sockets in use ${SJ[9]}, TCP buffer memory $(awk -v p="${SJ[10]}" 'BEGIN { printf "%.1f", p * 4 / 1024 }') MiB; MemAvailable $(mib "${S0[8]}") -> $(mib "${SJ[8]}") MiB"
	read -r drops aborts < <(kernel_drops)
	echo "kernel drops  loopback backlog drops $((drops - DROPS0)) (netdev_max_backlog $(cat /proc/sys/net/core/netdev_max_backlog)); connections the kernel aborted on a timeout (keepalive or retransmits) $((aborts - ABORTS0))"
	echo "Redis         used_memory $(awk -v b="${S0[12]:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') -> $(awk -v b="${SJ[12]:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MiB all joined; RSS $(mib "${SJ[3]}") MiB"
	echo "CPU (s)       connect+join: nodes $(cpus $((SJ[4] - S0[4]))), load $(cpus $((SJ[5] - S0[5]))), Redis $(cpus $((SJ[6] - S0[6]))); send+drain: nodes+Redis $(j '.serverCPUSec | . * 10 | round / 10'), load $(j '.loadCPUSec | . * 10 | round / 10')"
	echo "hold          members closed during the hold: $(j .holdDisconnects) (the drained node held ${NODE_WS[NODES]:-0}); lost otherwise: $(j .disconnects); close codes $(jq -c .closeCodes "$R")"
	echo "command       scripts/measure/million.sh $TARGET (NODES=$NODES PROCS=$PROCS LOOPS=$LOOPS ROOM_SIZE=$ROOM_SIZE GOMAXPROCS_EACH=${GOMAXPROCS_EACH} NETDEV_BACKLOG=$NETDEV_BACKLOG CHATD_FLAGS='${CHATD_FLAGS:-}')"
} | tee -a "$REPORT"
# The drain must have closed exactly the drained node's members, all during the hold.
if [[ $DRAIN_ONE == 1 && $(j .holdDisconnects) != "${NODE_WS[NODES]:-x}" ]]; then
	say "drain: the hold saw $(j .holdDisconnects) members closed, but the drained node held ${NODE_WS[NODES]:-?} (hold too short? raise HOLD)"
	PROBES_OK=0
fi
[[ $BENCH_RC == 0 && $PROBES_OK == 1 ]] || exit 1
