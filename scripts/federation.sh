#!/usr/bin/env bash
# Runs a real federation on 127.0.0.1: one fl-coordinator and N fl-client processes over
# gRPC, MNIST from FL_DATA_DIR (default ../shared/data/mnist relative to the repo), IID
# shards. Writes the coordinator's JSON report (same schema as fl-sim) and cleans up every
# process it started on exit.
#
#   scripts/federation.sh --clients 10 --rounds 5 --report /tmp/report.json
#   scripts/federation.sh --clients 3 --rounds 2 --codec int8 --strategy fedprox:0.01
#
# Options (defaults in brackets):
#   --clients N        clients [3]
#   --rounds R         rounds [5]
#   --seed S           seed of sampling, init and partition [42]
#   --report FILE      report path [<workdir>/report.json]
#   --model M          cnn-small | cnn-fedavg [cnn-small]
#   --codec C          none | fp16 | int8 | topk:F[+int8] [none]
#   --strategy S       fedavg | fedprox:MU | ... [fedavg]
#   --fraction F --quorum Q --local-epochs E --batch-size B --lr LR --momentum M [0.9]
#   --activation A [tanh] --nesterov true|false [false] --lr-schedule S [constant]
#   (the 5-round recipe of config/sim.yaml: --activation relu --lr 0.02 --nesterov true
#    --lr-schedule cosine)
#   --attack KIND:FRAC the first ceil(FRAC*N) clients poison their updates (KIND: scale:F,
#                      sign-flip, noise:STD); research only, see fl-client --attack
#   --kill K           kill -9 clients 1..K one second after round 1 completes (dropout
#                      test); min_clients becomes N-K so the run goes on without them
#   --round-timeout SECS                     passed to the coordinator config
#   --max-examples N   examples per client (0 = full shard) [0]
#   --eval-examples N  test images for evaluation (0 = all) [0]
#   --workdir DIR      logs, database, model [a new /tmp/fl-federation.*]
#   --debug            use target/debug binaries instead of release
#   --timeout SECS     give up after SECS [1800]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=3 ROUNDS=5 SEED=42 REPORT="" MODEL=cnn-small CODEC=none STRATEGY=fedavg
FRACTION=1.0 QUORUM=1.0 EPOCHS=1 BATCH=32 LR=0.05 MOMENTUM=0.9 ACTIVATION=tanh NESTEROV=false LR_SCHEDULE=constant TIMEOUT_ROUND=300
ATTACK="" KILL=0
MAX_EXAMPLES=0 EVAL_EXAMPLES=0 WORKDIR="" PROFILE=release TIMEOUT=1800

die() { echo "federation.sh: $*" >&2; exit 2; }
need() { [ $# -ge 2 ] || die "$1 needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --clients) need "$@"; CLIENTS=$2; shift 2 ;;
    --rounds) need "$@"; ROUNDS=$2; shift 2 ;;
    --seed) need "$@"; SEED=$2; shift 2 ;;
    --report) need "$@"; REPORT=$2; shift 2 ;;
    --model) need "$@"; MODEL=$2; shift 2 ;;
    --codec) need "$@"; CODEC=$2; shift 2 ;;
    --strategy) need "$@"; STRATEGY=$2; shift 2 ;;
    --fraction) need "$@"; FRACTION=$2; shift 2 ;;
    --quorum) need "$@"; QUORUM=$2; shift 2 ;;
    --local-epochs) need "$@"; EPOCHS=$2; shift 2 ;;
    --batch-size) need "$@"; BATCH=$2; shift 2 ;;
    --lr) need "$@"; LR=$2; shift 2 ;;
    --momentum) need "$@"; MOMENTUM=$2; shift 2 ;;
    --attack) need "$@"; ATTACK=$2; shift 2 ;;
    --kill) need "$@"; KILL=$2; shift 2 ;;
    --activation) need "$@"; ACTIVATION=$2; shift 2 ;;
    --nesterov) need "$@"; NESTEROV=$2; shift 2 ;;
    --lr-schedule) need "$@"; LR_SCHEDULE=$2; shift 2 ;;
    --round-timeout) need "$@"; TIMEOUT_ROUND=$2; shift 2 ;;
    --max-examples) need "$@"; MAX_EXAMPLES=$2; shift 2 ;;
    --eval-examples) need "$@"; EVAL_EXAMPLES=$2; shift 2 ;;
    --workdir) need "$@"; WORKDIR=$2; shift 2 ;;
    --debug) PROFILE=debug; shift ;;
    --timeout) need "$@"; TIMEOUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ $CLIENTS =~ ^[0-9]+$ ]] && [ "$CLIENTS" -ge 1 ] || die "--clients must be a positive integer"
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -ge 1 ] || die "--rounds must be a positive integer"
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer"
[[ $NESTEROV =~ ^(true|false)$ ]] || die "--nesterov must be true or false"
[[ $KILL =~ ^[0-9]+$ ]] && [ "$KILL" -lt "$CLIENTS" ] || die "--kill must be 0..clients-1"
ATTACKERS=0 ATTACK_KIND=""
if [ -n "$ATTACK" ]; then
  ATTACK_KIND=${ATTACK%:*}; frac=${ATTACK##*:}
  [[ $frac =~ ^0?\.[0-9]+$|^1(\.0*)?$ ]] && [ "$ATTACK_KIND" != "$ATTACK" ] || die "--attack must be KIND:FRACTION, e.g. sign-flip:0.2"
  ATTACKERS=$(python3 -c "import math; print(math.ceil($frac * $CLIENTS - 1e-9))")
fi

export FL_DATA_DIR=${FL_DATA_DIR:-$REPO/../shared/data/mnist}
[ -d "$FL_DATA_DIR" ] || die "MNIST not found at $FL_DATA_DIR (set FL_DATA_DIR)"
BIN="${FL_BIN_DIR:-$REPO/target/$PROFILE}"   # FL_BIN_DIR: use prebuilt binaries as they are
if [ -z "${FL_BIN_DIR:-}" ] && { [ ! -x "$BIN/fl-coordinator" ] || [ ! -x "$BIN/fl-client" ] || [ -n "$(find "$REPO/crates" -newer "$BIN/fl-coordinator" -name '*.rs' -print -quit)" ]; }; then
  flag=(); [ "$PROFILE" = release ] && flag=(--release)
  (cd "$REPO" && cargo build "${flag[@]}" -p fl-coordinator -p fl-client) || die "build failed"
fi

WORKDIR=${WORKDIR:-$(mktemp -d /tmp/fl-federation.XXXXXX)}
mkdir -p "$WORKDIR/logs"
REPORT=${REPORT:-$WORKDIR/report.json}
PIDS=() CLIENT_PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port); HTTP_PORT=$(free_port)
RUN_ID="federation-$$-$(date +%s)"

cat >"$WORKDIR/coordinator.yaml" <<YAML
run_id: $RUN_ID
grpc: {addr: "127.0.0.1:$GRPC_PORT"}
http: {addr: "127.0.0.1:$HTTP_PORT"}
rounds: $ROUNDS
fraction: $FRACTION
min_clients: $((CLIENTS - KILL))
quorum: $QUORUM
round_timeout_secs: $TIMEOUT_ROUND
seed: $SEED
model: $MODEL
activation: $ACTIVATION
strategy: "$STRATEGY"
local_epochs: $EPOCHS
batch_size: $BATCH
lr: $LR
momentum: $MOMENTUM
nesterov: $NESTEROV
lr_schedule: "$LR_SCHEDULE"
codec: "$CODEC"
evaluation: {dataset: mnist, max_examples: $EVAL_EXAMPLES}
output: {dir: "$WORKDIR", report: "$REPORT", model: "$WORKDIR/model.safetensors", linger_secs: 2}
YAML
cat >"$WORKDIR/client.yaml" <<YAML
coordinator: "http://127.0.0.1:$GRPC_PORT"
model: $MODEL
activation: $ACTIVATION
seed: $SEED
threads: 1
data: {dataset: mnist, partition: iid, num_partitions: $CLIENTS, max_examples: $MAX_EXAMPLES}
backoff: {initial_ms: 100, max_ms: 2000, give_up_secs: 60}
YAML

START=$(date +%s.%N)
"$BIN/fl-coordinator" --config "$WORKDIR/coordinator.yaml" >"$WORKDIR/logs/coordinator.log" 2>&1 &
COORD=$!; PIDS+=("$COORD")
for i in $(seq 1 "$CLIENTS"); do
  id=$(printf 'client-%03d' "$i")
  extra=()
  [ "$i" -le "$ATTACKERS" ] && extra=(--attack "$ATTACK_KIND")
  "$BIN/fl-client" --config "$WORKDIR/client.yaml" --client-id "$id" "${extra[@]}" >"$WORKDIR/logs/$id.log" 2>&1 &
  PIDS+=("$!"); CLIENT_PIDS+=("$!")
done
if [ "$KILL" -gt 0 ]; then
  (
    until grep -q "round completed" "$WORKDIR/logs/coordinator.log" 2>/dev/null; do sleep 0.2; done
    sleep 1
    for i in $(seq 0 $((KILL - 1))); do kill -9 "${CLIENT_PIDS[$i]}" 2>/dev/null || true; done
    echo "federation.sh: killed -9 clients 1..$KILL after round 1" >&2
  ) &
fi
echo "federation.sh: coordinator pid $COORD on 127.0.0.1:$GRPC_PORT (http $HTTP_PORT), $CLIENTS clients, logs in $WORKDIR/logs" >&2

rc=0
if ! timeout "$TIMEOUT" tail --pid="$COORD" -f /dev/null; then
  echo "federation.sh: timed out after $TIMEOUT s" >&2; rc=124
fi
wait "$COORD" || rc=$?
END=$(date +%s.%N)
grep -E "round completed|run finished" "$WORKDIR/logs/coordinator.log" >&2 || true
[ -f "$REPORT" ] || { tail -n 20 "$WORKDIR/logs/coordinator.log" >&2; die "no report written"; }
echo "federation.sh: wall $(echo "$END - $START" | bc) s, report $REPORT" >&2
exit "$rc"
