#!/usr/bin/env bash
# Per-node rates on a many-core box (a GPU if there is one): the figures docs/scale.md's
# projection for 10 M files is built from. The 2-core box of the other figures cannot say
# whether the scan keeps N cores busy or what a GPU does to the --model stages; this runs the
# same scripts with every core as a worker, one step after another. Each step runs in a
# process group of its own under a time limit, and the whole group is killed when it ends:
# a scan left running by a step that ran out of time would load every later step (seen on
# the first try: the floor ran at load 51).
#
#   benchmarks/node_rates.sh OUTDIR [WORKERS]        (WORKERS: default every core)
#   STEPS="make verify scale floor" COUNT=10000 benchmarks/node_rates.sh OUTDIR
#   STEPS="make wide wide_cvpool floor scale" COUNT=10000 WIDE_WORKERS="16 8 4" WIDE_LIMIT=60 \
#       benchmarks/node_rates.sh OUTDIR 16     (why a 16-worker scan is slow: docs/scale.md)
#
# Steps (in the order STEPS names them; each writes OUTDIR/NAME.json, all.log gets all):
#   make      the mosaic sets (scale.py --make-only): $COUNT files, and the 1 000 set
#   scale     scale.py --count $COUNT (mosaic, hash mode): first scan + unchanged rescan, floor
#   floor     floor_parallel.py --procs WORKERS: the ceiling of N floors side by side
#   camera    scale.py --design camera --count $CAMERA: 12 MP camera JPEGs
#   verify    verify_rounds.py on the 1 000 set with --model (GPU when torch sees one)
#   verify_blind   the same engine without verifying ahead (--no-ahead: rounds as barriers)
#   verify_before  the same with the code under $BEFORE_SRC (a copy of an older src/)
#   model     scale.py --count $MODEL_COUNT --extra-args '--model effnet-lite0'
#   wide      wide_scan.py: the hash-mode scan alone on the made m$COUNT set, once per worker
#             count in $WIDE_WORKERS (default WORKERS), first scan + rescan; its progress,
#             stage seconds and a sample of the tree every 2 s (processes, threads, cores
#             busy, throttling) go to OUTDIR/wide_wN.log line by line, so a killed step keeps them
#             (WIDE_WORK: its catalog and thumbnails, default $DATA/wide_run)
#   wide_cvpool   the same with this src/ but the decode workers on OpenCV's own pool (a
#             thread a core in every worker, as before 008bfb1): the one suspect of session
#             11's slow 16-worker scans that this tree can switch back (a patched copy under
#             $DATA/cvpool_src); workers: $WIDE_BEFORE_WORKERS (default WORKERS)
#   wide_before   the same with the code under $BEFORE_SRC (a copy of an older src/)
#
# OUTDIR/box.json first: cores, the cgroup's CPU quota and throttling, the disks' fsync time.
# Every step's line says when it ended, the load, and the seconds the CPU quota held it back.
# scale.py's two scans write their stderr to OUTDIR/scale_logs/ as they run (stamped).
set -u
out=${1:?usage: node_rates.sh OUTDIR [WORKERS]}
w=${2:-$(nproc)}
py=${PYTHON:-python3}
data=${DATA:-/tmp/lookalike-scale}
count=${COUNT:-10000}
mkdir -p "$out"
base=${PYTHONPATH:-}
export PYTHONPATH=$PWD/src${base:+:$base} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
log=$out/all.log
throttled() {  # seconds the cgroup's CPU quota held this box back so far ("None" without one)
  "$py" benchmarks/run_log.py --throttled 2>/dev/null || printf '?'
}

step() {  # NAME LIMIT_S COMMAND...: one step in its own process group, killed whole at the end
  local name=$1 limit=$2 pid rc killer
  shift 2
  echo "== $name $(date -u +%T) (limit ${limit}s, throttled $(throttled) s): $*" | tee -a "$log"
  setsid "$@" >>"$log" 2>&1 &
  pid=$!
  # the timer holds none of our output open: an orphaned `sleep` writing to the caller's pipe
  # kept a whole run waiting for the last step's limit after the step was done
  ( sleep "$limit" & s=$!
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    wait "$s"; kill -TERM -- "-$pid" 2>/dev/null; sleep 3; kill -KILL -- "-$pid" 2>/dev/null
  ) >/dev/null 2>&1 </dev/null &
  killer=$!
  wait "$pid"
  rc=$?
  kill "$killer" 2>/dev/null
  kill -KILL -- "-$pid" 2>/dev/null  # anything the step left behind
  echo "   $name rc=$rc $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "throttled $(throttled) s" | tee -a "$log"
}

{
  date -u; nproc; uname -r; "$py" -V; git rev-parse --short HEAD 2>/dev/null
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
} >>"$log" 2>&1
"$py" benchmarks/run_log.py "$data" "$out" >"$out/box.json" 2>>"$log"
cat "$out/box.json" >>"$log"

verify() {  # SRC NAME [ARGS...]
  local src=$1 name=$2
  shift 2
  step "$name" "${VERIFY_LIMIT:-110}" env PYTHONPATH="$src${base:+:$base}" "$py" \
    benchmarks/verify_rounds.py "$data/m1000/photos" "$data/m1000/copies" --workers "$w" \
    -o "$out/$name.json" "$@"
}

wide() {  # SRC NAME WORKERS...: the scan alone, once per worker count (wide_scan.py)
  local src=$1 name=$2 n
  shift 2
  for n in "$@"; do
    step "${name}_w$n" "${WIDE_LIMIT:-100}" env PYTHONPATH="$src${base:+:$base}" "$py" \
      benchmarks/wide_scan.py "$data/m$count" --workers "$n" --work "${WIDE_WORK:-$data/wide_run}" \
      --log "$out/${name}_w$n.log" -o "$out/${name}_w$n.json" --rescan
  done
}

for s in ${STEPS:-make scale floor camera verify model}; do
  case $s in
    make)
      step make "${MAKE_LIMIT:-90}" sh -c "'$py' benchmarks/scale.py --count $count --workers $w \
        --data '$data' --make-only && '$py' benchmarks/scale.py --count 1000 --workers $w \
        --data '$data' --make-only" ;;
    scale)
      step scale "${SCALE_LIMIT:-120}" "$py" benchmarks/scale.py --count "$count" \
        --workers "$w" --data "$data" --log-dir "$out/scale_logs" -o "$out/scale.json" ;;
    floor)
      step floor "${FLOOR_LIMIT:-45}" sh -c "'$py' benchmarks/floor_parallel.py \
        '$data/m$count' --procs $w --rounds 2 > '$out/floor.json'" ;;
    camera)
      step camera "${CAMERA_LIMIT:-120}" "$py" benchmarks/scale.py --design camera \
        --count "${CAMERA:-500}" --workers "$w" --data "$data" -o "$out/camera.json" ;;
    wide) wide "$PWD/src" wide ${WIDE_WORKERS:-$w} ;;
    wide_cvpool)
      rm -rf "$data/cvpool_src" && cp -r src "$data/cvpool_src"
      sed -i 's/^    cv2.setNumThreads(1)$/    pass  # node_rates wide_cvpool: OpenCV default/' \
        "$data/cvpool_src/lookalike/engine/pool.py"
      grep -q "wide_cvpool" "$data/cvpool_src/lookalike/engine/pool.py" \
        || echo "wide_cvpool: pool.py's cv2.setNumThreads(1) line not found" | tee -a "$log"
      wide "$data/cvpool_src" wide_cvpool ${WIDE_BEFORE_WORKERS:-$w} ;;
    wide_before)
      wide "${BEFORE_SRC:?BEFORE_SRC: a copy of the older src/}" wide_before \
        ${WIDE_BEFORE_WORKERS:-$w} ;;
    verify) verify "$PWD/src" verify ;;
    verify_blind) verify "$PWD/src" verify_blind --no-ahead ;;
    verify_before) verify "${BEFORE_SRC:?BEFORE_SRC: a copy of the older src/}" verify_before ;;
    model)
      step model "${MODEL_LIMIT:-180}" "$py" benchmarks/scale.py --count "${MODEL_COUNT:-3000}" \
        --workers "$w" --data "$data/model" --extra-args "--model effnet-lite0" \
        -o "$out/model.json" ;;
    *) echo "unknown step $s" | tee -a "$log" ;;
  esac
done
echo "== done $(date -u +%T)" | tee -a "$log"
