#!/usr/bin/env bash
# Issue 24's attacks (scripts/measure/abuse) against a build from before the
# fixes and this tree, side by side: BENCHMARKS.md §Abuse.
#
#   scripts/measure/abuse/run-all.sh                 # every attack, before and after (~25-35 min)
#   SMALL=1 scripts/measure/abuse/run-all.sh         # smaller counts, a quick check (~5 min)
#   ATTACKS="history" EXTRA_REF=history EXTRA_LABEL=history LABELS="" scripts/measure/abuse/run-all.sh
#
# Environment:
#   BEFORE       the commit the attacks were first measured on (default fe394d1)
#   LABELS       which of "before after" to run (default both)
#   ATTACKS      attacks to run, in order (default all: slots userrate churn presence
#                slowread headers expstring roomlist listcost history)
#   EXTRA_REF    another ref to build and attack too (e.g. a branch under way), labelled EXTRA_LABEL
#   SMALL=1      the tool's -small counts; results go to abuse-small-*.json
#
# BEFORE (and EXTRA_REF) are built in temporary `git worktree`s, removed at
# the end; AFTER is built from this tree. Each attack starts and stops its
# own nodes and redis-server on 127.0.0.1. Results: bench/results/abuse-<attack>-<label>.json,
# the table in bench/results/abuse-table.md (its rows: scripts/measure/abuse table).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT"
BEFORE=${BEFORE:-fe394d1}
LABELS=${LABELS-before after}
ATTACKS=${ATTACKS:-slots userrate churn presence slowread headers expstring roomlist listcost history}
tmp=$(mktemp -d)
trees=()
cleanup() {
	for t in "${trees[@]}"; do git worktree remove --force "$t" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# build_ref REF DIR: chatd of REF into DIR/chatd, from a temporary worktree.
build_ref() {
	local src=$tmp/src-$(basename "$2")
	git worktree add --detach "$src" "$1" >/dev/null 2>&1
	trees+=("$src")
	(cd "$src" && go build -o "$2/chatd" ./cmd/chatd)
	git worktree remove --force "$src"
	git rev-parse --short "$1^{commit}" >"$2/commit"
}

go build -o "$tmp/abuse" ./scripts/measure/abuse
labels=()
for l in $LABELS; do
	case $l in
	before) build_ref "$BEFORE" "$tmp/before" ;;
	after)
		mkdir -p "$tmp/after"
		go build -o "$tmp/after/chatd" ./cmd/chatd
		echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo +changes)" >"$tmp/after/commit"
		;;
	*) echo "run-all.sh: unknown label $l" >&2; exit 2 ;;
	esac
	labels+=("$l")
done
if [[ -n ${EXTRA_REF:-} ]]; then
	l=${EXTRA_LABEL:-extra}
	build_ref "$EXTRA_REF" "$tmp/$l"
	labels+=("$l")
fi

prefix=abuse
small=()
if [[ ${SMALL:-} == 1 ]]; then prefix=abuse-small; small=(-small); fi
mkdir -p bench/results
echo "machine: $(nproc) vCPU, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
for a in $ATTACKS; do
	for l in "${labels[@]}"; do
		timeout 900 "$tmp/abuse" "$a" -chatd "$tmp/$l/chatd" -label "$l" -commit "$(cat "$tmp/$l/commit")" "${small[@]}" \
			-out "bench/results/$prefix-$a-$l.json" || echo "run-all.sh: $a against $l failed (see the JSON's error)" >&2
	done
done
"$tmp/abuse" table bench/results/"$prefix"-*.json | tee "bench/results/$prefix-table.md"
