#!/usr/bin/env bash
# Issue 10 item 6 in one call: every benchmark, the GPU tests and the full studies on a CUDA device,
# each step under its own time limit and all of them under one deadline, with a log.
#
#   bash benchmarks/gpu_figures.sh [DEVICE] [DEADLINE_SECONDS]
#
# DEVICE defaults to cuda, DEADLINE_SECONDS to 540 (a device session's command may run 600 s).
# Runs from the repository root without installing (PYTHONPATH=src; the sweeps' Dask is not
# needed). The log goes to $OUT (the device tool's folder) or ./gpu_figures, the device study's
# files to $DEVICES_OUT (default /tmp/memprop_gpu_devices: too many files to bring back). The steps
# run cheapest first, so a short deadline still brings back the EP throughput and the tests;
# a step cut off by the deadline says so in the log, and the next steps are skipped.
set -u
DEV=${1:-cuda}
DEADLINE=${2:-540}
DEST=${OUT:-gpu_figures}
DEVICES_OUT=${DEVICES_OUT:-/tmp/memprop_gpu_devices}
mkdir -p "$DEST"
LOG="$DEST/gpu_figures.log"
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
START=$(date +%s)

step() {  # step NAME LIMIT_SECONDS COMMAND...
    local name=$1 limit=$2
    shift 2
    local left=$((DEADLINE - ($(date +%s) - START)))
    if ((left < 15)); then
        echo "== $name: skipped (deadline)" | tee -a "$LOG"
        return
    fi
    ((limit > left)) && limit=$left
    echo "== $name (limit ${limit} s): $*" | tee -a "$LOG"
    local t0=$(date +%s)
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc, $(($(date +%s) - t0)) s" | tee -a "$LOG"
}

{
    echo "gpu_figures: $(date -u +%FT%TZ), device $DEV, deadline $DEADLINE s"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'); import os; print('cpu cores', os.cpu_count())"
} 2>&1 | tee "$LOG"

step "gpu tests" 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_runtime.py tests/test_device_placement.py
step "ep_throughput" 120 "$PY" benchmarks/ep_throughput.py --batch 20 500 --repeats 3 --torch-device "$DEV" --json
step "ep_flat_loop" 120 "$PY" benchmarks/ep_flat_loop.py --batch 20 500 --repeats 3 --torch-device "$DEV"
step "solvers" 60 "$PY" benchmarks/solvers.py --torch-device "$DEV"
step "crossbar_program" 60 "$PY" benchmarks/crossbar_program.py --rounds 2 --torch-device "$DEV"
step "training_stacks" 120 "$PY" benchmarks/training_stacks.py --torch-device "$DEV"
step "reconstruction (full)" 300 "$PY" benchmarks/reconstruction_time.py --workers 4 --torch-device "$DEV"
step "devices (full)" 600 "$PY" -m memprop reproduce devices --workers 4 --quiet --torch-device "$DEV" \
    --out "$DEVICES_OUT"
echo "gpu_figures: done in $(($(date +%s) - START)) s" | tee -a "$LOG"
