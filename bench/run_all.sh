#!/usr/bin/env bash
# Re-measure the figures of docs/BENCHMARKS.md (about 13 minutes on 2 cores).
# The machine should be otherwise idle; the load average is recorded in machine.txt.
# Results (JSON, profiles) go to OUT_DIR, the sweep plot to PLOTS (docs).
# Usage: bash bench/run_all.sh [OUT_DIR]
#   OLD_SWEEP=path/to/sweep.json: a sweep of another server (e.g. an older commit's, with its
#   own bench) to plot beside this one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-bench/results}
mkdir -p "$OUT"
# QUICK=1: a smoke pass of the script itself (tiny durations, small player counts)
if [ "${QUICK:-0}" = 1 ]; then D=3; MICRO="--quick"; PLOTS=$OUT; SWEEP=8,16; PROF=16; PROFR=2; CAP=32; CAPR=4
else D=20; MICRO="--repeat 3"; PLOTS=${PLOTS:-docs}; SWEEP=16,64,128,256; PROF=256; PROFR=32; CAP=1000; CAPR=125; fi
COMPARE=()
if [ -n "${OLD_SWEEP:-}" ]; then COMPARE=(--compare "$OLD_SWEEP"); fi
log() { echo "+ $*" >&2; }
{ date -u; nproc; grep -m1 "model name" /proc/cpuinfo; uptime; } > "$OUT/machine.txt"

log micro
$PY -m bench.micro $MICRO --json > "$OUT/micro.json"

log "load, game mode"
$PY -m bench.load --players 48 --rooms 6 --duration $D --json > "$OUT/load_game_48.json"

log "load, capacity mode, $PROF players / $PROFR rooms, with a py-spy profile of the server"
$PY -m bench.load --capacity --players $PROF --rooms $PROFR --duration $D --json \
  --py-spy "$OUT/server_256.collapsed" > "$OUT/cap256.json"
$PY -m bench.profile collapsed "$OUT/server_256.collapsed" > "$OUT/profile_server_256.txt"

log "load sweep (capacity mode, 8 players per room) + plot"
$PY -m bench.load --capacity --sweep $SWEEP --room-size 8 --duration $D --label "this server" \
  "${COMPARE[@]}" --plot "$PLOTS/load_latency.png" --json > "$OUT/sweep.json"

log "capacity: $CAP players / $CAPR rooms, one server process"
$PY -m bench.load --capacity --players $CAP --rooms $CAPR --duration $D --json > "$OUT/cap1000.json"

log "capacity: $CAP players / $CAPR rooms, two server processes (one Redis) behind Debian's nginx"
$PY -m bench.load --capacity --processes 2 --players $CAP --rooms $CAPR --duration $D --json \
  > "$OUT/cap1000_p2.json"
uptime >> "$OUT/machine.txt"
log done
