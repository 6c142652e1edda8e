#!/usr/bin/env bash
# Per-node rates on a many-core box (a GPU if there is one): the figures docs/scale.md's
# projection for 10 M files is built from. The 2-core box of the other figures cannot say
# whether the scan keeps N cores busy or what a GPU does to the --model stages; this runs the
# same scripts with every core as a worker, one step after another, each under a time limit
# so a slow step costs only itself.
#
#   benchmarks/node_rates.sh OUTDIR [WORKERS]        (WORKERS: default every core)
#
# Steps (each writes OUTDIR/NAME.json, and all.log gets every step's output):
#   scale     scale.py --count $COUNT (mosaic, hash mode): first scan + unchanged rescan, floor
#   floor     floor_parallel.py --procs WORKERS: the ceiling of N floors side by side
#   camera    scale.py --design camera --count $CAMERA: 12 MP camera JPEGs
#   verify    verify_rounds.py on the 1 000 set with --model (GPU when torch sees one)
#   model     scale.py --count $MODEL_COUNT --extra-args '--model effnet-lite0'
set -u
out=${1:?usage: node_rates.sh OUTDIR [WORKERS]}
w=${2:-$(nproc)}
py=${PYTHON:-python3}
data=${DATA:-/tmp/lookalike-scale}
mkdir -p "$out"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
log=$out/all.log

step() {  # NAME LIMIT_S COMMAND...: run one step under a time limit, keep going on failure
  local name=$1 limit=$2
  shift 2
  echo "== $name $(date -u +%T) (limit ${limit}s): $*" | tee -a "$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  echo "   $name rc=$? $(date -u +%T)" | tee -a "$log"
}

{
  date -u; nproc; uname -r; "$py" -V; git rev-parse --short HEAD 2>/dev/null
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
} >>"$log" 2>&1

step scale "${SCALE_LIMIT:-130}" "$py" benchmarks/scale.py --count "${COUNT:-30000}" \
  --workers "$w" --data "$data" -o "$out/scale.json"
step floor "${FLOOR_LIMIT:-45}" sh -c "'$py' benchmarks/floor_parallel.py \
  '$data/m${COUNT:-30000}' --procs $w --rounds 2 > '$out/floor.json'"
step camera "${CAMERA_LIMIT:-100}" "$py" benchmarks/scale.py --design camera \
  --count "${CAMERA:-500}" --workers "$w" --data "$data" -o "$out/camera.json"
step make1k 60 "$py" benchmarks/scale.py --count 1000 --workers "$w" --data "$data" --make-only
step verify "${VERIFY_LIMIT:-110}" "$py" benchmarks/verify_rounds.py \
  "$data/m1000/photos" "$data/m1000/copies" --workers "$w" -o "$out/verify.json"
step model "${MODEL_LIMIT:-130}" "$py" benchmarks/scale.py --count "${MODEL_COUNT:-3000}" \
  --workers "$w" --data "$data/model" --extra-args "--model effnet-lite0" -o "$out/model.json"
echo "== done $(date -u +%T)" | tee -a "$log"
