#!/usr/bin/env bash
# Gate a change against its merge base measured on the same machine in the same job.
#
#   bash scripts/ab-gate.sh BASE_REF SUITE [RUNS] [-- kbench run arguments...]
#
# The base commit is checked out in a git worktree beside this one. The two trees then run the suite
# in turn, RUNS times each (base, candidate, base, candidate, ...), so drift of the machine hits both
# sides alike; each run takes its own rounds and its own seed. Each side's runs are merged into one
# result (`kbench merge`: the runs' rounds become one measurement's rounds) and the gate compares
# the two (`kbench gate`, exit 0 pass, 1 regression, 2 cannot judge). A baseline committed from
# another machine carries that machine's offset (tens of percent between lent H100s), so it is kept
# for history, not for this decision.
#
# Writes everything under ${OUT:-ab-gate}/: base/, candidate/ (runs), merged/, gate-summary.md.
set -euo pipefail
base_ref=${1:?BASE_REF (e.g. origin/main)}
suite=${2:?SUITE (e.g. suites/flashkat.toml)}
runs=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
out=$(realpath -m "${OUT:-ab-gate}")
py=${PYTHON:-python3}
here=$(git rev-parse --show-toplevel)
base_commit=$(git -C "$here" merge-base "$base_ref" HEAD)
worktree="$out/base-tree"
rm -rf "$out" && mkdir -p "$out/base" "$out/candidate" "$out/merged"
git -C "$here" worktree add --detach --force "$worktree" "$base_commit" >/dev/null
trap 'git -C "$here" worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT
echo "base $base_commit, candidate $(git -C "$here" rev-parse HEAD), $runs run(s) each, $suite"

for r in $(seq 1 "$runs"); do
  for side in base candidate; do
    tree=$([ "$side" = base ] && echo "$worktree" || echo "$here")
    echo "== run $r, $side"
    code=0
    (cd "$tree" && PYTHONPATH="$tree" "$py" -m kbench run "$suite" --seed "$r" --results "$out/$side" "$@") || code=$?
    # 1 (a claim with an error) is the gate's to judge; anything else means the run is unusable
    if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then echo "the $side run exited $code"; exit 2; fi
  done
done

suite_name=$(ls "$out/candidate")
for side in base candidate; do
  files=("$out/$side/$suite_name"/*.json)
  if [ "${#files[@]}" -gt 1 ]; then
    (cd "$here" && "$py" -m kbench merge "${files[@]}" --results "$out/merged/$side")
    merged+=("$(ls "$out/merged/$side/$suite_name"/*.json)")
  else
    merged+=("${files[0]}")
  fi
done
cd "$here" && "$py" -m kbench gate "${merged[0]}" "${merged[1]}" --summary "$out/gate-summary.md"
