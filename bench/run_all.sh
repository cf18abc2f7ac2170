#!/usr/bin/env bash
# Re-measure every figure of docs/BENCHMARKS.md (about 25 minutes on 2 cores).
# The machine should be otherwise idle; the load average is recorded in machine.txt.
# Results (JSON, profiles, the plot) go to bench/results/ and docs/load_latency.png.
# Usage: bash bench/run_all.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-bench/results}
mkdir -p "$OUT"
# QUICK=1: a smoke pass of the script itself (tiny durations, one run each)
if [ "${QUICK:-0}" = 1 ]; then D=3; R=1; MICRO="--quick"; PLOTS=$OUT
else D=20; R=3; MICRO="--repeat 3"; PLOTS=${PLOTS:-docs}; fi
log() { echo "+ $*" >&2; }
{ date -u; nproc; grep -m1 "model name" /proc/cpuinfo; uptime; } > "$OUT/machine.txt"

log micro
$PY -m bench.micro $MICRO --json > "$OUT/micro.json"

log "load, game mode, shipped server defaults (3 runs)"
$PY -m bench.load --players 48 --rooms 6 --duration $((D * 3 / 2)) --repeat $R --json > "$OUT/load_game_48.json"

log "load, capacity mode: server configurations (3 runs each)"
$PY -m bench.load --capacity --players 32 --rooms 4 --duration $D --repeat $R --json \
  > "$OUT/cap32_default.json"
$PY -m bench.load --capacity --players 32 --rooms 4 --duration $D --repeat $R --json \
  --server-env OPENBLAS_NUM_THREADS=1 > "$OUT/cap32_blas1.json"
$PY -m bench.load --capacity --players 32 --rooms 4 --duration $D --repeat $R --json \
  --server-env OPENBLAS_NUM_THREADS=1 --server-env DOODLE_INFERENCE_TICK_MS=0 \
  > "$OUT/cap32_blas1_tick0.json"
$PY -m bench.load --capacity --players 32 --rooms 4 --duration $D --repeat $R --json \
  --server-env OPENBLAS_NUM_THREADS=1 --no-compression > "$OUT/cap32_blas1_nodeflate.json"
$PY -m bench.load --capacity --players 32 --rooms 4 --duration $D --repeat $R --json \
  --server-env OPENBLAS_NUM_THREADS=1 --server-env DOODLE_INFERENCE_TICK_MS=0 --no-compression \
  > "$OUT/cap32_blas1_tick0_nodeflate.json"

log "load sweep (capacity mode, 2 runs per point) + plot"
$PY -m bench.load --capacity --sweep 8,16,32,64,128 --duration $D --repeat $(( R > 1 ? 2 : 1 )) \
  --plot $PLOTS/load_latency.png --title "Latency vs players, shipped server settings (2 shared cores, capacity mode)" --json > "$OUT/sweep_default.json"
$PY -m bench.load --capacity --sweep 8,16,32,64,128 --duration $D --repeat $(( R > 1 ? 2 : 1 )) \
  --server-env OPENBLAS_NUM_THREADS=1 --server-env DOODLE_INFERENCE_TICK_MS=0 --no-compression \
  --plot $PLOTS/load_latency_tuned.png --json \
  --title "OPENBLAS_NUM_THREADS=1, DOODLE_INFERENCE_TICK_MS=0, no permessage-deflate" > "$OUT/sweep_tuned.json"

log profiles
$PY -m bench.profile micro --drawings $(( D * 10 )) > "$OUT/profile_micro.txt"
$PY -m bench.load --capacity --players 64 --rooms 8 --duration $D --json \
  --py-spy "$OUT/server_64.collapsed" > "$OUT/profile_load_64.json"
$PY -m bench.profile collapsed "$OUT/server_64.collapsed" > "$OUT/profile_server_64.txt"
$PY -m bench.load --capacity --players 64 --rooms 8 --duration $D --json \
  --server-env OPENBLAS_NUM_THREADS=1 --server-env DOODLE_INFERENCE_TICK_MS=0 --no-compression \
  --py-spy "$OUT/server_64_tuned.collapsed" > "$OUT/profile_load_64_tuned.json"
$PY -m bench.profile collapsed "$OUT/server_64_tuned.collapsed" > "$OUT/profile_server_64_tuned.txt"
uptime >> "$OUT/machine.txt"
log done
