# Shared set-up of the measurement scripts that start their own cluster on
# 127.0.0.1 (fanout-pair.sh, bigroom-2nodes.sh, sink-w1.sh): source it after
# `set -euo pipefail`. It makes a scratch directory ($out), stops every pid
# added to the pids array on exit, builds the binaries, picks free ports and
# starts a private redis-server.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$out"
}
trap cleanup EXIT
cd "$ROOT"

# build_bins sets chatd and chatbench: $CHATD_BIN and $CHATBENCH_BIN, or built from this tree.
build_bins() {
	chatd=${CHATD_BIN:-}
	if [[ -z $chatd ]]; then go build -o "$out/chatd" ./cmd/chatd; chatd=$out/chatd; fi
	chatbench=${CHATBENCH_BIN:-}
	if [[ -z $chatbench ]]; then go build -o "$out/chatbench" ./cmd/chatbench; chatbench=$out/chatbench; fi
}

# free prints a free TCP port on 127.0.0.1.
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_redis starts a private redis-server without persistence; sets rport and rpid.
start_redis() {
	rport=$(free)
	redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
	pids+=($!)
	rpid=$!
	for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
}
