#!/usr/bin/env bash
# Local training throughput, ours (fl-kernels) vs PyTorch / Opacus, in ONE script run on
# the same machine: the two sides alternate ROUNDS times and the table gives the median
# of each figure, so a load change hits both sides alike.
#
#   bench/throughput.sh [ROUNDS=3] [ARCH=cnn-small] [ACT=tanh]
#
# Needs a peer venv (never part of CI): PEER_PY=/work/bench-venv/bin/python, created with
#   python3 -m venv /work/bench-venv && /work/bench-venv/bin/pip install torch opacus
# Threads are matched: both sides use THREADS (default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
ARCH=${2:-cnn-small}
ACT=${3:-tanh}
REPS=${REPS:-30}
THREADS=${THREADS:-$(nproc)}
PEER_PY=${PEER_PY:-/work/bench-venv/bin/python}
[ -x "$PEER_PY" ] || { echo "throughput.sh: no peer python at $PEER_PY (see the header)" >&2; exit 1; }
cargo build -q --release -p fl-kernels --example throughput
OURS=target/release/examples/throughput
out=$(mktemp -d)
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r/$ROUNDS" >&2
  RAYON_NUM_THREADS=$THREADS "$OURS" --arch "$ARCH" --act "$ACT" --reps "$REPS" --batches 64,256 --eval-batch 1000 \
    | tee -a "$out/ours.txt" >&2
  OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$THREADS "$PEER_PY" bench/kernels/torch_throughput.py \
    --arch "$ARCH" --act "$ACT" --reps "$REPS" --batches 64,256 --eval-batch 1000 --threads "$THREADS" \
    | tee -a "$out/peer.txt" >&2
done
python3 - "$out/ours.txt" "$out/peer.txt" "$ARCH" "$ACT" "$ROUNDS" <<'PY'
import re, statistics, sys
def parse(path):
    d = {}
    for line in open(path):
        m = re.match(r"(\S+)\s+b=(\d+)\s+(\d+) samples/s", line)
        if m:
            d.setdefault((m.group(1), int(m.group(2))), []).append(float(m.group(3)))
    return {k: statistics.median(v) for k, v in d.items()}
ours, peer = parse(sys.argv[1]), parse(sys.argv[2])
print(f"\n{sys.argv[3]} {sys.argv[4]}, samples/s, median of {sys.argv[5]} alternating rounds\n")
print("| mode | ours | PyTorch / Opacus | ratio |\n|---|---|---|---|")
rows = [("train", 64, "train"), ("train", 256, "train"),
        ("dp", 64, "dp_private"), ("dp", 256, "dp_private"),
        ("dp", 64, "dp_gsm"), ("dp", 256, "dp_gsm"), ("eval", 1000, "eval")]
for mode, b, pm in rows:
    o, p = ours.get((mode, b)), peer.get((pm, b))
    if o and p:
        print(f"| {mode} b={b} vs {pm} | {o:,.0f} | {p:,.0f} | {o/p:.2f}x |")
PY
