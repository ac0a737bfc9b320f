#!/usr/bin/env bash
# A local chatd cluster: one private redis-server plus N chatd nodes on
# consecutive ports, all bound to 127.0.0.1.
#
#   scripts/cluster.sh start [N] [basePort]   N nodes (default 3) on basePort.. (default 8080)
#   scripts/cluster.sh status                 what runs, and whether each node is ready
#   scripts/cluster.sh stop                   stops exactly what start started (by pid files)
#
# Environment:
#   CLUSTER_DIR   folder for the binary, logs, pid files (default ./tmp/cluster in the repo)
#   REDIS_PORT    Redis port (default: the first free port from 6390)
#   CHATD_FLAGS   extra flags for every node, e.g. "-heartbeat-ttl 6s -log-level debug"
#
# Logs: $CLUSTER_DIR/redis.log and $CLUSTER_DIR/node-<i>.log. Redis keeps no
# data on disk (--save "" --appendonly no).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${CLUSTER_DIR:-$ROOT/tmp/cluster}

die() { echo "cluster.sh: $*" >&2; exit 1; }

# port_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p
	for ((p = $1; p < 65535; p++)); do
		if port_free "$p"; then echo "$p"; return 0; fi
	done
	return 1
}

# running PIDFILE NAME: the pid in PIDFILE is alive and is still the NAME we started.
running() {
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"
}

redis_ping() { # PORT
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'PING\r\n' >&3
		IFS= read -r -t 2 reply <&3 || true
		[[ ${reply:-} == +PONG* ]]
	) 2>/dev/null
}

ready() { # PORT
	curl -fsS -m 2 "http://127.0.0.1:$1/readyz" >/dev/null 2>&1
}

# wait_until SECONDS WHAT CMD...: retry CMD every 0.1 s.
wait_until() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

# stop_pid PIDFILE NAME: TERM, then KILL after 10 s.
stop_pid() {
	local pid
	if running "$1" "$2"; then
		pid=$(<"$1")
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_until 10 "$2 to stop" bash -c "! kill -0 $pid 2>/dev/null"; then
			echo "  $2 (pid $pid) did not stop in 10 s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "  stopped $(basename "$1" .pid) (pid $pid)"
	fi
	rm -f "$1"
}

cmd_start() {
	local n=${1:-3} base=${2:-8080} i port rport
	[[ $n =~ ^[0-9]+$ && $n -ge 1 ]] || die "N must be a positive number"
	[[ $base =~ ^[0-9]+$ ]] || die "basePort must be a number"
	command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
	mkdir -p "$DIR/bin"
	for f in "$DIR"/*.pid; do
		[[ -e $f ]] || continue
		if running "$f" chatd || running "$f" redis-server; then
			die "a cluster is already running in $DIR (scripts/cluster.sh stop first)"
		fi
		rm -f "$f"
	done
	for ((i = 0; i < n; i++)); do
		port_free $((base + i)) || die "port $((base + i)) is in use"
	done

	echo "building chatd..."
	(cd "$ROOT" && go build -o "$DIR/bin/chatd" ./cmd/chatd)

	rport=${REDIS_PORT:-$(free_port 6390)}
	port_free "$rport" || die "Redis port $rport is in use"
	redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
		>"$DIR/redis.log" 2>&1 &
	echo $! >"$DIR/redis.pid"
	wait_until 10 "redis" redis_ping "$rport" || { cmd_stop; die "redis-server did not start (see $DIR/redis.log)"; }
	echo "redis://127.0.0.1:$rport" >"$DIR/redis.url"
	echo "redis     127.0.0.1:$rport  pid $(<"$DIR/redis.pid")"

	for ((i = 1; i <= n; i++)); do
		port=$((base + i - 1))
		# shellcheck disable=SC2086 # CHATD_FLAGS is a list of flags
		"$DIR/bin/chatd" -addr "127.0.0.1:$port" -redis "redis://127.0.0.1:$rport" -node-id "node-$i" \
			${CHATD_FLAGS:-} >"$DIR/node-$i.log" 2>&1 &
		echo $! >"$DIR/node-$i.pid"
		echo "$port" >"$DIR/node-$i.port"
	done
	for ((i = 1; i <= n; i++)); do
		port=$(<"$DIR/node-$i.port")
		if ! wait_until 20 "node-$i" ready "$port"; then
			echo "node-$i did not become ready; its log:" >&2
			tail -20 "$DIR/node-$i.log" >&2
			cmd_stop
			die "start failed"
		fi
		echo "node-$i    ws://127.0.0.1:$port/ws  http://127.0.0.1:$port/  pid $(<"$DIR/node-$i.pid")"
	done
	echo "logs in $DIR; stop with: scripts/cluster.sh stop"
}

cmd_stop() {
	local f found=0
	for f in "$DIR"/node-*.pid; do
		[[ -e $f ]] || continue
		found=1
		stop_pid "$f" chatd
	done
	if [[ -e $DIR/redis.pid ]]; then
		found=1
		stop_pid "$DIR/redis.pid" redis-server
	fi
	rm -f "$DIR"/node-*.port "$DIR/redis.url"
	((found)) || echo "nothing to stop in $DIR"
}

cmd_status() {
	local f name port state any=0
	if [[ -e $DIR/redis.pid ]]; then
		any=1
		if running "$DIR/redis.pid" redis-server; then state=running; else state=dead; fi
		echo "redis     $(cat "$DIR/redis.url" 2>/dev/null)  pid $(<"$DIR/redis.pid")  $state"
	fi
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

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
	exit 2
	;;
esac
