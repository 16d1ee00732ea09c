#!/usr/bin/env bash
# The GPU runs whose result files are committed under results/, stage by stage, so each commit's
# evidence says exactly what produced it. Usage (on a GPU host, from the repository root):
#
#   OUT=/some/dir bash scripts/gpu-evidence.sh flashkat repeat cuda-check kernels
#
# Stages write their result files under $OUT/res/<suite>/ and their logs under $OUT/.
# Every timing takes rounds (5 per kernel timing, 3 per train step), so a stage takes several times
# what it did before schema 2; the limits below are guesses until a GPU run measures them (the
# KAT-S batch-1024 cases alone are about 21 train steps of some 24 s each with KAT's kernels).
# On a host whose copy of the tree has no .git, set KBENCH_GIT_COMMIT (and KBENCH_GIT_DIRTY=0) so
# the results name the commit they measured.
set -uo pipefail
OUT=${OUT:?set OUT to a folder for logs and result files}
mkdir -p "$OUT/res"
export PYTHONUNBUFFERED=1 KBENCH_REQUIRE_GPU=1
PY=${PYTHON:-python3}

stage() {  # name, time limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date -u +%H:%M:%S))"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "   exit $? after $SECONDS s"
}

for s in "$@"; do
  case $s in
    flashkat)    # the flagship: every claim of suites/flashkat.toml, through nox on this interpreter
      stage flashkat 1500 "$PY" -m nox --no-venv -s reproduce-flashkat -- --results "$OUT/res" ;;
    flashkat-b128)  # the same without the paper's batch-1024 cases (a short device budget)
      stage flashkat-b128 540 "$PY" -m kbench run suites/flashkat.toml --results "$OUT/res" --only flops-parity \
        backward-dominates-kernel backward-share-of-step backward-kernel-speedup coefficient-rounding-error ;;
    repeat)      # the same kernel timing twice, back to back, then merged: run-to-run spread in the verdict
      stage repeat1 120 "$PY" -m kbench run suites/grkan-kernels.toml --only faster-than-flashkat --seed 1 --results "$OUT/rep"
      stage repeat2 120 "$PY" -m kbench run suites/grkan-kernels.toml --only faster-than-flashkat --seed 2 --results "$OUT/rep"
      stage merge 60 "$PY" -m kbench merge "$OUT"/rep/grkan-kernels/*.json --results "$OUT/res" ;;
    cuda-check)  # build the CUDA extension and check it, quickly
      stage cuda-check 140 "$PY" -m kbench run suites/grkan-kernels.toml --quick --no-write \
        --only cuda-fp32-error cuda-half-precision-error cuda-deterministic-bits kat-cuda-2024-vs-kat-triton ;;
    kernels)     # kbench's kernels against the floor, FlashKAT, KAT, torch.compile
      stage kernels 400 "$PY" -m kbench run suites/grkan-kernels.toml --results "$OUT/res" ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
grep -h -A40 "┏" "$OUT"/*.log | grep -v "^│ *│" | cut -c1-150
