#!/usr/bin/env bash
# GPU-sized workloads of issue #13 §3 in one call (< 8 minutes on one H100/H200): VMC 10x10, 16x16, 20x20 at
# alpha = 4 with 2^12, 2^14, 2^16 samples (and the same VMC on 2 CPU cores, for the GPU / CPU ratio),
# NetKet as it runs on a GPU when a NetKet interpreter is available, network ensembles of 1e7 and 1e8
# members, path-integral chains, and the holographic ensemble at 100 members.
#
#   benchmarks/gpu.sh                 # on a GPU machine (uses .venv/bin/python, else python3)
#   benchmarks/gpu.sh --cpu           # small sizes on the CPU: keeps the script working (CI-free check)
#   NETKET_PYTHON=/path/to/python benchmarks/gpu.sh   # NetKet with a CUDA jax, for the fair comparison
#
# Everything after the options is passed to benchmarks/gpu_workloads.py (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
extra=()
if [[ -n "${NETKET_PYTHON:-}" ]]; then extra+=(--netket-python "$NETKET_PYTHON"); fi
if [[ " $* " == *" --cpu "* ]]; then
  exec "$PY" benchmarks/gpu_workloads.py "${extra[@]}" "$@"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec "$PY" benchmarks/gpu_workloads.py --cpu-baseline "${extra[@]}" "$@"
