#!/usr/bin/env bash
# The GPU runs whose result files are committed: a thin wrapper over scripts/gpu_evidence.py, which
# runs scripts/gpu-plan.toml's stages in priority order within a time budget (docs/gpu-evidence.md).
#
#   OUT=/some/dir bash scripts/gpu-evidence.sh --budget 540     # on the GPU host
#   bash scripts/gpu-evidence.sh --plan --budget 540            # dry run: estimates and checks, any machine
exec "${PYTHON:-python3}" "$(dirname "$0")/gpu_evidence.py" "$@"
