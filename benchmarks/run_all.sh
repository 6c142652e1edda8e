#!/usr/bin/env bash
# Every benchmark behind a figure in docs/, in the order docs/benchmarks.md reports them, then
# the docs tables. Each script writes its machine, date (UTC), commit and command into its JSON
# in benchmarks/out/. Usage (from the repository root, venv active, '.[bench,ml]' installed):
#   bash benchmarks/run_all.sh [--quick]
# --quick: 40-file speed run and 10k scaling only; the full run takes hours on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/out
mkdir -p "$OUT"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

for c in main heldout; do
  h=""; [ "$c" = heldout ] && h="--heldout"
  python benchmarks/accuracy.py $h --quiet -o "$OUT/acc_lookalike_$c.json"
  python benchmarks/accuracy.py $h --quiet --extra-args="--similar" -o "$OUT/acc_lookalike_${c}_similar.json"
  python benchmarks/accuracy.py $h --quiet --peer czkawka -o "$OUT/acc_czkawka_$c.json"
  python benchmarks/accuracy.py $h --quiet --peer imagededup -o "$OUT/acc_imagededup_$c.json"
done
python benchmarks/accuracy.py --quiet --model effnet-lite0 -o "$OUT/acc_lookalike_main_model.json"
python benchmarks/accuracy.py --quiet --hard -o "$OUT/acc_lookalike_hard.json"
python benchmarks/accuracy.py --quiet --hard --model effnet-lite0 -o "$OUT/acc_lookalike_hard_model.json"
python benchmarks/keeper.py benchmarks/data/keeper --heldout -o "$OUT/keeper.json"
python benchmarks/video.py --keep benchmarks/data/video -o "$OUT/video.json"
python benchmarks/video_decode.py -o "$OUT/video_decode.json"
python benchmarks/rules.py -o "$OUT/rules.json"
python benchmarks/embed_rate.py --device cpu -o "$OUT/embed_rate_cpu.json"
python benchmarks/ui_keys.py --groups 10000 --presses 200 > "$OUT/ui_keys.txt"
python benchmarks/serve_load.py --clients 50 --requests 20 > "$OUT/serve_load.json"
for s in 30 80; do
  python benchmarks/accuracy.py --quiet --sensitivity "$s" -o "$OUT/acc_sweep_s$s.json"
done
if [ "$quick" = 1 ]; then
  python benchmarks/speed.py --count 40 -o "$OUT/speed_40.json"
  python benchmarks/scaling.py --sizes 10000 -o "$OUT/scaling.json"
else
  python benchmarks/speed.py --count 500 --repeat 2 -o "$OUT/speed_500.json"
  python benchmarks/speed.py --count 500 --only lookalike --extra-args="--model effnet-lite0" \
    -o "$OUT/speed_500_model.json"
  python benchmarks/scaling.py --sizes 10000,20000,30000,100000 -o "$OUT/scaling.json"
  python benchmarks/scaling.py --sizes 30000,100000 --no-group -o "$OUT/scaling_index.json"
fi
python benchmarks/fill_docs.py
