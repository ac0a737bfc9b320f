#!/usr/bin/env bash
# joinpairs before/after script-announced joins and leaves: two nodes on one redis-server, and two
# nodes on a Redis Cluster (3 masters + 3 replicas, scripts/redis-cluster.sh); default flags.
# before = OLD (the node published joined/left after the script's reply), after = this tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/jpc}; mkdir -p "$out"
old=${OLD:-09ae6e2}
rm -rf "$out/old" && git worktree add -q -f "$out/old" "$old"
(cd "$out/old" && go build -o "$out/chatd-before" ./cmd/chatd)
go build -o "$out/chatd-after" ./cmd/chatd
go build -o "$out/joinpairs" ./scripts/measure/joinpairs
waitport() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.05; done; echo "port $1 never served" >&2; exit 1; }
for round in 1 2; do
for build in before after; do
  bin=$out/chatd-$build
  redis-server --port 18739 --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 & rp=$!
  for _ in $(seq 100); do redis-cli -p 18739 ping >/dev/null 2>&1 && break; sleep 0.05; done
  $bin -addr 127.0.0.1:18732 -redis redis://127.0.0.1:18739 >"$out/$build-a.log" 2>&1 & pa=$!
  $bin -addr 127.0.0.1:18733 -redis redis://127.0.0.1:18739 >"$out/$build-b.log" 2>&1 & pb=$!
  waitport 18732; waitport 18733
  for proto in v1 v2; do echo -n "$build two nodes + Redis: "; "$out/joinpairs" -ports 18732,18733 -pairs 200 -proto $proto; done
  kill $pa $pb; wait $pa $pb 2>/dev/null || true
  kill $rp; wait $rp 2>/dev/null || true
  root=.; [ $build = before ] && root=$out/old
  rm -rf "$out/cluster-$build-$round"
  CLUSTER_DIR=$out/cluster-$build-$round "$root/scripts/redis-cluster.sh" start 2 18741 >"$out/cluster-$build-$round.log" 2>&1
  for proto in v1 v2; do echo -n "$build two nodes + Redis Cluster: "; "$out/joinpairs" -ports 18741,18742 -pairs 200 -proto $proto; done
  CLUSTER_DIR=$out/cluster-$build-$round "$root/scripts/redis-cluster.sh" stop >/dev/null
done
done
git worktree remove --force "$out/old"
