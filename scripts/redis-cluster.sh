#!/usr/bin/env bash
# A local chatd cluster on Redis Cluster: 3 masters + 3 replicas (private
# redis-server processes in cluster mode) plus N chatd nodes started with
# -redis-cluster, everything bound to 127.0.0.1.
#
#   scripts/redis-cluster.sh start [N] [basePort]   N chatd nodes (default 2) on basePort.. (default 8080)
#   scripts/redis-cluster.sh status                 what runs, the cluster's state, whether each node is ready
#   scripts/redis-cluster.sh stop                   stops exactly what start started (by pid files)
#   scripts/redis-cluster.sh kill-master-of ROOM    kill -9 the master that owns a room (watch the failover)
#
# Environment:
#   CLUSTER_DIR   folder for the binary, data, logs, pid files (default ./tmp/redis-cluster in the repo)
#   MASTERS       Redis masters (default 3); REPLICAS replicas per master (default 1)
#   REDIS_BASE    first Redis port to try (default 7000; the first free ones from there are used)
#   NODE_TIMEOUT  cluster-node-timeout in ms (default 2000): a dead master is failed over after this
#   CHATD_FLAGS   extra flags for every chatd node, e.g. "-log-level debug"
#
# Redis keeps no data on disk (--save "" --appendonly no); each redis-server
# has its own folder under $CLUSTER_DIR/redis-<port> (nodes.conf, redis.log).
# Logs of the chatd nodes: $CLUSTER_DIR/node-<i>.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${CLUSTER_DIR:-$ROOT/tmp/redis-cluster}
MASTERS=${MASTERS:-3}
REPLICAS=${REPLICAS:-1}
NODE_TIMEOUT=${NODE_TIMEOUT:-2000}

die() { echo "redis-cluster.sh: $*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running PIDFILE NAME: the pid in PIDFILE is alive and is still the NAME we started.
running() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

redis_ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
cluster_ok() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q 'cluster_state:ok'; }
ready() { curl -fsS -m 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; }

wait_until() { # SECONDS CMD...: retry CMD every 0.1 s
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

stop_pid() { # PIDFILE NAME: TERM, then KILL after 10 s
	local pid
	if running "$1" "$2"; then
		pid=$(<"$1")
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_until 10 bash -c "! kill -0 $pid 2>/dev/null"; then
			echo "  $2 (pid $pid) did not stop in 10 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "  stopped $(basename "$1" .pid) (pid $pid)"
	fi
	rm -f "$1"
}

redis_ports() { cat "$DIR/redis.ports" 2>/dev/null || true; }

cmd_start() {
	local n=${1:-2} base=${2:-8080} i port p seeds=() total
	[[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || die "N must be a positive number"
	[[ $base =~ ^[0-9]+$ ]] || die "basePort must be a number"
	command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
	command -v redis-cli >/dev/null || die "redis-cli not found (apt-get install redis-tools)"
	mkdir -p "$DIR/bin"
	for f in "$DIR"/*.pid; do
		[[ -e $f ]] || continue
		if running "$f" chatd || running "$f" redis-server; then
			die "a cluster is already running in $DIR (scripts/redis-cluster.sh stop first)"
		fi
		rm -f "$f"
	done
	for ((i = 0; i < n; i++)); do
		port_free $((base + i)) || die "port $((base + i)) is in use"
	done

	echo "building chatd..."
	(cd "$ROOT" && go build -o "$DIR/bin/chatd" ./cmd/chatd)

	total=$((MASTERS * (1 + REPLICAS)))
	: >"$DIR/redis.ports"
	p=${REDIS_BASE:-7000}
	for ((i = 0; i < total; i++)); do
		# A cluster node also listens on port+10000 (the cluster bus).
		until port_free "$p" && port_free $((p + 10000)); do p=$((p + 1)); done
		mkdir -p "$DIR/redis-$p"
		rm -f "$DIR/redis-$p/nodes.conf" # a cluster of an earlier start: this one is new
		(cd "$DIR/redis-$p" && exec redis-server --port "$p" --bind 127.0.0.1 --protected-mode no \
			--save "" --appendonly no --dir "$DIR/redis-$p" \
			--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT" \
			--cluster-require-full-coverage no >"$DIR/redis-$p/redis.log" 2>&1) &
		echo $! >"$DIR/redis-$p.pid"
		echo "$p" >>"$DIR/redis.ports"
		seeds+=("127.0.0.1:$p")
		p=$((p + 1))
	done
	for p in $(redis_ports); do
		wait_until 10 redis_ping "$p" || { cmd_stop; die "redis-server on $p did not start (see $DIR/redis-$p/redis.log)"; }
	done
	redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$REPLICAS" --cluster-yes >"$DIR/create.log" 2>&1 ||
		{ cat "$DIR/create.log" >&2; cmd_stop; die "redis-cli --cluster create failed"; }
	for p in $(redis_ports); do
		wait_until 20 cluster_ok "$p" || { cmd_stop; die "the cluster did not become ok (see $DIR/create.log)"; }
	done
	(IFS=,; echo "${seeds[*]}") >"$DIR/redis.seeds"
	echo "redis cluster: $MASTERS masters + $((MASTERS * REPLICAS)) replicas on $(tr '\n' ' ' <"$DIR/redis.ports")"

	for ((i = 1; i <= n; i++)); do
		port=$((base + i - 1))
		# shellcheck disable=SC2086 # CHATD_FLAGS is a list of flags
		"$DIR/bin/chatd" -addr "127.0.0.1:$port" -redis-cluster "$(<"$DIR/redis.seeds")" -node-id "node-$i" \
			${CHATD_FLAGS:-} >"$DIR/node-$i.log" 2>&1 &
		echo $! >"$DIR/node-$i.pid"
		echo "$port" >"$DIR/node-$i.port"
	done
	for ((i = 1; i <= n; i++)); do
		port=$(<"$DIR/node-$i.port")
		if ! wait_until 20 ready "$port"; then
			echo "node-$i did not become ready; its log:" >&2
			tail -20 "$DIR/node-$i.log" >&2
			cmd_stop
			die "start failed"
		fi
		echo "node-$i    ws://127.0.0.1:$port/ws  http://127.0.0.1:$port/  pid $(<"$DIR/node-$i.pid")"
	done
	echo "logs in $DIR; stop with: scripts/redis-cluster.sh stop"
}

cmd_stop() {
	local f found=0
	for f in "$DIR"/node-*.pid; do
		[[ -e $f ]] || continue
		found=1
		stop_pid "$f" chatd
	done
	for f in "$DIR"/redis-*.pid; do
		[[ -e $f ]] || continue
		found=1
		stop_pid "$f" redis-server
	done
	rm -f "$DIR"/node-*.port "$DIR/redis.seeds" "$DIR/redis.ports"
	((found)) || echo "nothing to stop in $DIR"
}

cmd_status() {
	local f name port state any=0 p
	for f in "$DIR"/redis-*.pid; do
		[[ -e $f ]] || continue
		any=1
		p=$(basename "$f" .pid)
		p=${p#redis-}
		if running "$f" redis-server; then
			state=$(redis-cli -h 127.0.0.1 -p "$p" role 2>/dev/null | head -1)
		else
			state=dead
		fi
		echo "redis     127.0.0.1:$p  pid $(<"$f")  $state"
	done
	for f in "$DIR"/node-*.pid; do
		[[ -e $f ]] || continue
		any=1
		name=$(basename "$f" .pid)
		port=$(cat "$DIR/$name.port" 2>/dev/null || echo "?")
		if ! running "$f" chatd; then
			state=dead
		elif ready "$port"; then
			state=ready
		else
			state="running, not ready"
		fi
		echo "$name    127.0.0.1:$port  pid $(<"$f")  $state"
	done
	((any)) || echo "no cluster in $DIR"
}

# kill-master-of ROOM: SIGKILL the master that serves the room's slot.
cmd_kill_master_of() {
	local room=${1:?room id} p slot addr
	for p in $(redis_ports); do
		redis_ping "$p" || continue
		slot=$(redis-cli -h 127.0.0.1 -p "$p" cluster keyslot "room:{$room}")
		# CLUSTER NODES: id addr@bus flags master ping pong epoch link slot...
		addr=$(redis-cli -h 127.0.0.1 -p "$p" cluster nodes | awk -v s="$slot" '
			$3 ~ /master/ && $3 !~ /fail/ {
				for (i = 9; i <= NF; i++) {
					n = split($i, r, "-"); lo = r[1] + 0; hi = (n == 2 ? r[2] : r[1]) + 0
					if (lo <= s + 0 && s + 0 <= hi) { sub(/@.*/, "", $2); sub(/.*:/, "", $2); print $2; exit }
				}
			}')
		[[ -n $addr ]] || die "no master for slot $slot"
		running "$DIR/redis-$addr.pid" redis-server || die "the master of slot $slot (port $addr) is not ours"
		kill -KILL "$(<"$DIR/redis-$addr.pid")"
		echo "killed the master of room $room (slot $slot): 127.0.0.1:$addr; a replica takes over in about $((NODE_TIMEOUT / 1000 + 1)) s"
		return 0
	done
	die "no Redis of ours answers"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill-master-of) shift; cmd_kill_master_of "$@" ;;
*)
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
	exit 2
	;;
esac
