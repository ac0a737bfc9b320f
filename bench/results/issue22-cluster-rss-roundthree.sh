#!/usr/bin/env bash
# Alternating before/after cluster-node RSS per extra room (issue 22 item 2).
set -u
out=/work/tmp/clusterpairs.txt
: > "$out"
run() { # build rooms
	local dir=/work/tmp/$1
	echo "=== $1, $2 room(s) per client, $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)" >> "$out"
	(cd "$dir" && CHATD_FLAGS="-addr-room-create-burst 2000" CHATBENCH_FLAGS="-proto v2 -rooms-per-client $2 -connect-timeout 60s -join-timeout 10m" \
		scripts/measure/idle-rss.sh cluster 18000) >> "$out" 2>&1
}
for pair in 1 2; do
	if [[ $pair == 1 ]]; then order="after before"; else order="before after"; fi
	for b in $order; do run "$b" 4; run "$b" 1; done
done
echo "=== done $(date -u +%H:%M:%S)" >> "$out"
