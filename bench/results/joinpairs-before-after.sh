#!/usr/bin/env bash
# joinpairs before/after: one node (default flags) and two nodes + one redis-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/jp}; mkdir -p "$out"
old=${OLD:-21eb327}
rm -rf $out/old && git worktree add -q -f $out/old "$old"
(cd $out/old && go build -o $out/chatd-before ./cmd/chatd)
git worktree remove --force $out/old
go build -o $out/chatd-after ./cmd/chatd
go build -o $out/joinpairs ./scripts/measure/joinpairs
waitport() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.05; done; echo "port $1 never served" >&2; exit 1; }
for round in 1 2; do
for build in before after; do
  bin=$out/chatd-$build
  $bin -addr 127.0.0.1:18731 >$out/$build-one.log 2>&1 & p=$!
  waitport 18731
  for proto in v1 v2; do echo -n "$build one node: "; $out/joinpairs -ports 18731 -pairs 200 -proto $proto; done
  kill $p; wait $p 2>/dev/null || true
  redis-server --port 18739 --bind 127.0.0.1 --save "" --appendonly no --dir $out >$out/redis.log 2>&1 & rp=$!
  for _ in $(seq 100); do redis-cli -p 18739 ping >/dev/null 2>&1 && break; sleep 0.05; done
  $bin -addr 127.0.0.1:18732 -redis redis://127.0.0.1:18739 >$out/$build-a.log 2>&1 & pa=$!
  $bin -addr 127.0.0.1:18733 -redis redis://127.0.0.1:18739 >$out/$build-b.log 2>&1 & pb=$!
  waitport 18732; waitport 18733
  for proto in v1 v2; do echo -n "$build two nodes + Redis: "; $out/joinpairs -ports 18732,18733 -pairs 200 -proto $proto; done
  kill $pa $pb; wait $pa $pb 2>/dev/null || true
  kill $rp; wait $rp 2>/dev/null || true
done
done
