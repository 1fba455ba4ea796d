#!/usr/bin/env bash
# Runs one fl-sim setting at several seeds and prints each seed's best accuracy within the
# run, the median and the minimum, so that a recipe is judged across seeds, not at one.
#
#   bench/seeds.sh NAME "FLAGS" [SEED ...]     (default seeds: 42 1 2 3 4 5 6 7 8)
#   bench/seeds.sh cnn_small_recipe "--config config/sim.yaml"
#
# Reports go to bench/results/seeds/NAME-SEED.json; the summary line is appended to
# bench/results/seeds/summary.txt. Needs MNIST ($FL_DATA_DIR or ../shared/data/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
flags=$2
shift 2
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(42 1 2 3 4 5 6 7 8)
BIN="${FL_SIM_BIN:-target/release/fl-sim}"
[ -x "$BIN" ] || cargo build --release -p fl-sim
export FL_DATA_DIR="${FL_DATA_DIR:-../shared/data/mnist}"
out=bench/results/seeds
mkdir -p "$out"
accs=()
for s in "${seeds[@]}"; do
  # shellcheck disable=SC2086 # FLAGS is a list of words on purpose
  "$BIN" $flags --seed "$s" --report "$out/$name-$s.json" > /dev/null
  accs+=("$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.2f' % (100*max(x['accuracy'] for x in r['rounds'])))" "$out/$name-$s.json")")
  echo "seed $s: ${accs[-1]} %"
done
summary=$(printf '%s\n' "${accs[@]}" | sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "median %.2f %%, min %.2f %%, max %.2f %%", m, a[1], a[NR]}')
line="$name | $flags | seeds ${seeds[*]} | ${accs[*]} | $summary"
echo "$line" | tee -a "$out/summary.txt"
