#!/usr/bin/env bash
# End-to-end federated MNIST, ours (fl-sim) vs Flower + PyTorch (+ Opacus), in ONE script
# run on the same machine: 10 clients IID, every client every round, 5 rounds, 1 local
# epoch, cnn-small/tanh, centralised evaluation on the 10,000 test images. The two sides
# alternate ROUNDS times; the table gives medians.
#
#   bench/e2e.sh [ROUNDS=3] [dp]      # "dp" adds the DP-SGD pair (σ=1, C=1, batch 64)
#
# Needs the peer venv (never part of CI): PEER_PY=/work/bench-venv/bin/python with
# torch, opacus and "flwr[simulation]" (see bench/flower/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
WITH_DP=${2:-}
PEER_PY=${PEER_PY:-/work/bench-venv/bin/python}
export FL_DATA_DIR="${FL_DATA_DIR:-$(pwd)/../shared/data/mnist}"
export OMP_WAIT_POLICY=PASSIVE
[ -x "$PEER_PY" ] || { echo "e2e.sh: no peer python at $PEER_PY" >&2; exit 1; }
[ -x target/release/fl-sim ] || cargo build -q --release -p fl-sim -p fl-coordinator -p fl-client
out=bench/results/e2e
mkdir -p "$out"
SIM="${FL_SIM_BIN:-target/release/fl-sim} --clients 10 --rounds 5 --local-epochs 1 --model cnn-small --seed 42"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r/$ROUNDS: fl-sim" >&2
  $SIM --batch-size 32 --lr 0.05 --momentum 0.9 --report "$out/ours_fedavg_$r.json" >/dev/null
  echo "== round $r/$ROUNDS: fl-coordinator + 10 fl-client processes over gRPC" >&2
  FL_BIN_DIR=${FL_BIN_DIR:-target/release} scripts/federation.sh --clients 10 --rounds 5 --seed 42 \
    --batch-size 32 --lr 0.05 --momentum 0.9 --report "$out/grpc_fedavg_$r.json" >/dev/null 2>&1
  echo "== round $r/$ROUNDS: Flower" >&2
  (cd bench/flower && "$PEER_PY" fedavg_mnist.py --batch 32 --lr 0.05 --momentum 0.9 \
     --out "../results/e2e/flower_fedavg_$r.json" >/dev/null 2>&1)
done
if [ "$WITH_DP" = dp ]; then
  echo "== DP: fl-sim" >&2
  $SIM --dp --noise-multiplier 1.0 --epsilon 100 --max-grad-norm 1.0 --batch-size 64 --lr 0.5 --momentum 0 \
    --report "$out/ours_dp_1.json" >/dev/null
  echo "== DP: Flower + Opacus" >&2
  (cd bench/flower && "$PEER_PY" dp_fedavg_mnist.py --lr 0.1 --out "../results/e2e/flower_dp_1.json" >/dev/null 2>&1)
fi
python3 - "$out" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
def load(pat):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{pat}"))]
print("| run | ours acc | ours wall s | Flower acc | Flower wall s | speed-up |")
print("|---|---|---|---|---|---|")
for kind, ours in [("fedavg", "ours_fedavg"), ("fedavg over gRPC, 11 processes", "grpc_fedavg"), ("dp", "ours_dp")]:
    o, f = load(f"{ours}_*.json"), load(f"flower_{kind.split()[0]}_*.json")
    if not o or not f:
        continue
    oa = statistics.median(r["final_accuracy"] for r in o) * 100
    ot = statistics.median(r["total_seconds"] for r in o)
    fa = statistics.median(r["final_accuracy"] for r in f) * 100
    ft = statistics.median(r["total_seconds"] for r in f)
    eps = ""
    if kind == "dp":
        oe = max((c.get("epsilon") or 0) for c in o[0]["clients"].values())
        eps = f" (ε ours {oe:.2f}, Flower {f[0]['privacy']['max_epsilon']:.2f})"
    print(f"| {kind}{eps} (n={len(o)}/{len(f)}) | {oa:.2f} % | {ot:.1f} | {fa:.2f} % | {ft:.1f} | {ft/ot:.1f}x |")
PY
