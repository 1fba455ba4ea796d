#!/usr/bin/env bash
# Load test: one fl-coordinator and N lightweight clients in one process
# (`fl-client --swarm N --swarm-fake-train`: real gRPC sessions, model downloads and
# update uploads of cnn-small size; the training is replaced by a random delta). Reports,
# per N, the coordinator's peak RSS and its per-round overhead from the last needed update
# to the next global model (report field aggregation_seconds), with server-side evaluation
# off so that it measures the aggregation path only.
#   bench/swarm.sh [N ...]          # default: 50 200 1000
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FL_BIN_DIR:-target/release}
[ -x "$BIN/fl-coordinator" ] || cargo build -q --release -p fl-coordinator -p fl-client
ROUNDS=${ROUNDS:-3}
out=bench/results/swarm
mkdir -p "$out"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for n in "${@:-50 200 1000}"; do
  for N in $n; do
    w=$(mktemp -d); g=$(port)
    cat >"$w/c.yaml" <<YAML
run_id: swarm-$N
grpc: {addr: "127.0.0.1:$g"}
http: {addr: ""}
rounds: $ROUNDS
min_clients: $N
round_timeout_secs: 600
evaluation: {dataset: ""}
sessions: {heartbeat_interval_ms: 5000, missed_heartbeats: 12}
output: {dir: "$w", report: "$out/swarm_$N.json", linger_secs: 3}
YAML
    /usr/bin/time -f "%M" -o "$w/rss" "$BIN/fl-coordinator" --config "$w/c.yaml" >"$w/coord.log" 2>&1 &
    cpid=$!
    sleep 0.5
    t0=$(date +%s.%N)
    "$BIN/fl-client" --config config/client.yaml --coordinator "http://127.0.0.1:$g" --swarm "$N" \
      --swarm-fake-train --swarm-fake-delay-ms 200 >"$w/swarm.log" 2>&1 || { tail -5 "$w/swarm.log"; }
    wait $cpid || true
    t1=$(date +%s.%N)
    python3 - "$out/swarm_$N.json" "$(cat "$w/rss")" "$N" "$(echo "$t1 - $t0" | bc)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
agg = [x["aggregation_seconds"] * 1000 for x in r["rounds"]]
print(f"N={sys.argv[3]:>5}  outcome={r['outcome']}  rounds={len(r['rounds'])}  "
      f"participants/round={[len(x['participants']) for x in r['rounds']]}  "
      f"aggregation ms/round={[round(a, 1) for a in agg]} (max {max(agg):.1f})  "
      f"coordinator peak RSS={int(sys.argv[2]) / 1024:.0f} MiB  wall={float(sys.argv[4]):.1f} s")
PY
    rm -rf "$w"
  done
done
