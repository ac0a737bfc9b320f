#!/usr/bin/env bash
# What a join costs on two nodes + one redis-server before/after script-announced joins: a join storm
# of 6,000 v1 clients in rooms of 100 (chatbench idle, as fast as the network allows), default flags;
# the join phase's rate and latency from chatbench, and the CPU seconds each process used over the
# whole run (connect, join, hold 2 s, disconnect) from /proc/<pid>/stat.
# before = OLD (the node published joined/left after the script's reply), after = this tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/jcc}; mkdir -p "$out"
old=${OLD:-09ae6e2}
rm -rf "$out/old" && git worktree add -q -f "$out/old" "$old"
(cd "$out/old" && go build -o "$out/chatd-before" ./cmd/chatd)
git worktree remove --force "$out/old"
go build -o "$out/chatd-after" ./cmd/chatd
go build -o "$out/chatbench" ./cmd/chatbench
waitport() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return; sleep 0.05; done; echo "port $1 never served" >&2; exit 1; }
cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }
for round in 1 2 3; do
for build in before after; do
  bin=$out/chatd-$build
  redis-server --port 18739 --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 & rp=$!
  for _ in $(seq 100); do redis-cli -p 18739 ping >/dev/null 2>&1 && break; sleep 0.05; done
  $bin -addr 127.0.0.1:18732 -redis redis://127.0.0.1:18739 >"$out/$build-a.log" 2>&1 & pa=$!
  $bin -addr 127.0.0.1:18733 -redis redis://127.0.0.1:18739 >"$out/$build-b.log" 2>&1 & pb=$!
  waitport 18732; waitport 18733
  c0="$(cpu $pa) $(cpu $pb) $(cpu $rp)"
  "$out/chatbench" idle -url ws://127.0.0.1:18732/ws,ws://127.0.0.1:18733/ws -clients 6000 -rooms 60 -duration 2s \
    -progress 0 >"$out/$build-$round.txt" 2>&1
  c1="$(cpu $pa) $(cpu $pb) $(cpu $rp)"
  echo "$build round $round: $(grep -E 'join phase' "$out/$build-$round.txt" | sed 's/^ *//'); $(grep -E '^notices' "$out/$build-$round.txt" | sed 's/ *(at least.*),/,/')"
  echo "$build round $round: CPU s (node A, node B, redis) $(python3 -c "a='$c0'.split();b='$c1'.split();print(' '.join('%.2f'%(float(y)-float(x)) for x,y in zip(a,b)))")"
  kill $pa $pb; wait $pa $pb 2>/dev/null || true
  kill $rp; wait $rp 2>/dev/null || true
done
done
