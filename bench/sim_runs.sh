#!/usr/bin/env bash
# Runs the fl-sim acceptance measurements and writes one JSON report each to
# bench/results/. Release build; MNIST from FL_DATA_DIR (default ../shared/data/mnist).
#   bench/sim_runs.sh [name ...]     # default: all runs below
set -euo pipefail
cd "$(dirname "$0")/.."
export FL_DATA_DIR="${FL_DATA_DIR:-$(pwd)/../shared/data/mnist}"
BIN="${FL_SIM_BIN:-target/release/fl-sim}"
[ -x "$BIN" ] || cargo build --release -p fl-sim
out=bench/results
mkdir -p "$out"

run() { # name, flags...
  local name=$1; shift
  echo "== $name: fl-sim $*"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" "$BIN" --report "$out/$name.json" "$@" 2>&1 | tail -n 25
}

declare -A RUNS=(
  [fedavg_cnn_small]="--clients 10 --rounds 5 --local-epochs 1 --model cnn-small"
  [fedavg_cnn_small_b64]="--clients 10 --rounds 5 --batch-size 64 --lr 0.05 --momentum 0 --model cnn-small"
  [fedavg_cnn_fedavg]="--clients 10 --rounds 10 --model cnn-fedavg --activation relu --lr 0.05 --momentum 0.9"
  [dp_eps1]="--clients 10 --rounds 20 --dp --epsilon 1 --batch-size 256 --lr 2.0 --momentum 0 --max-grad-norm 1.0"
  [dp_eps3]="--clients 10 --rounds 20 --dp --epsilon 3 --batch-size 256 --lr 2.0 --momentum 0 --max-grad-norm 1.0"
  [dp_eps8]="--clients 10 --rounds 20 --dp --epsilon 8 --batch-size 256 --lr 2.0 --momentum 0 --max-grad-norm 1.0"
  [dp_sigma1_5r]="--clients 10 --rounds 5 --dp --noise-multiplier 1.0 --epsilon 100 --batch-size 64 --lr 0.5 --momentum 0"
  [fashion_dirichlet]="--clients 10 --rounds 20 --dataset fashion-mnist --partition dirichlet:0.5"
  [attack_scale_fedavg]="--clients 10 --rounds 10 --attack scale:100:0.2 --strategy fedavg"
  [attack_scale_trimmed]="--clients 10 --rounds 10 --attack scale:100:0.2 --strategy trimmed-mean:0.2"
  [attack_signflip_fedavg]="--clients 10 --rounds 10 --attack sign-flip:0.2 --strategy fedavg"
  [attack_signflip_krum]="--clients 10 --rounds 10 --attack sign-flip:0.2 --strategy multi-krum:2"
  [attack_noise_fedavg]="--clients 10 --rounds 10 --attack noise:1.0:0.2 --strategy fedavg"
  [attack_noise_median]="--clients 10 --rounds 10 --attack noise:1.0:0.2 --strategy median"
  [codec_none]="--clients 10 --rounds 10 --codec none"
  [codec_int8]="--clients 10 --rounds 10 --codec int8"
  [codec_topk_int8]="--clients 10 --rounds 10 --codec topk:0.01+int8"
  [user_dp_1000]="--clients 1000 --rounds 30 --fraction 0.1 --user-dp --user-clip 0.5 --user-noise-multiplier 1.0 --batch-size 10 --local-epochs 1 --lr 0.1 --momentum 0.5"
  [user_dp_1000_adaptive]="--clients 1000 --rounds 30 --fraction 0.1 --user-dp --user-clip 0.5 --user-adaptive-clip 0.5 --user-noise-multiplier 1.0 --batch-size 10 --local-epochs 1 --lr 0.1 --momentum 0.5"
  [shards_cnn_small]="--clients 100 --rounds 100 --fraction 0.1 --partition shards:2 --local-epochs 5 --batch-size 10 --lr 0.05 --momentum 0"
  [shards_cnn_fedavg]="--clients 100 --rounds 20 --fraction 0.1 --partition shards:2 --local-epochs 5 --batch-size 10 --lr 0.05 --momentum 0 --model cnn-fedavg --activation relu"
)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(fedavg_cnn_small fedavg_cnn_small_b64 dp_eps1 dp_eps3 dp_eps8 dp_sigma1_5r codec_none codec_int8 codec_topk_int8 attack_scale_fedavg attack_scale_trimmed attack_signflip_fedavg attack_signflip_krum attack_noise_fedavg attack_noise_median fashion_dirichlet user_dp_1000 user_dp_1000_adaptive shards_cnn_small fedavg_cnn_fedavg shards_cnn_fedavg)
for n in "${names[@]}"; do
  # shellcheck disable=SC2086
  run "$n" ${RUNS[$n]}
done
