#!/usr/bin/env bash
# Accuracy at a given per-client ε: record-level DP-SGD on 10 IID MNIST clients with the
# scattering linear model (Tramer & Boneh 2021), one recipe for every ε, RUNS runs each
# (the noise comes from the OS CSPRNG, so runs differ; report the median).
#   bench/dp_curve.sh [RUNS] [EPS ...]      # default: 3 runs of ε = 0.5 1 2 3 5 8
# Writes bench/results/dp_curve/scatter_eps<E>_run<k>.json; release build of fl-sim
# (FL_SIM_BIN overrides); MNIST from FL_DATA_DIR (default ../shared/data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
export FL_DATA_DIR="${FL_DATA_DIR:-$(pwd)/../shared/data/mnist}"
BIN="${FL_SIM_BIN:-target/release/fl-sim}"
[ -x "$BIN" ] || cargo build --release -p fl-sim
runs=${1:-3}; shift || true
eps=("$@"); [ ${#eps[@]} -gt 0 ] || eps=(0.5 1 2 3 5 8)
out=bench/results/dp_curve
mkdir -p "$out"
RECIPE="--model scatter-linear --clients 10 --rounds 20 --local-epochs 1 --batch-size 512 --lr 32 --momentum 0 --max-grad-norm 0.1 --delta 1e-5 --accountant rdp"
for e in "${eps[@]}"; do
  for k in $(seq 1 "$runs"); do
    f="$out/scatter_eps${e}_run${k}.json"
    # shellcheck disable=SC2086
    "$BIN" $RECIPE --dp --epsilon "$e" --report "$f" > /dev/null
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"ε≤{sys.argv[2]}: {100*r['final_accuracy']:.2f} % (spent {r['rounds'][-1]['epsilon']:.3f}) in {r['total_seconds']:.1f} s\")" "$f" "$e"
  done
done
