#!/usr/bin/env bash
# kill -9 and resume, N times in a row, on SQLite and on PostgreSQL + Redis: each iteration
# runs the real-process test (crates/fl-coordinator/tests/binaries.rs: a coordinator
# binary with two clients is SIGKILLed after round 1 plus a random 0-1500 ms, restarted
# with the same config, and must finish rounds 1, 2, 3 exactly once). Stops at the first
# failure.
#   bench/kill_resume_loop.sh [N=10]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
export FL_DATA_DIR="${FL_DATA_DIR:-$(pwd)/../shared/data/mnist}"
cargo test -q -p fl-coordinator --test binaries --no-run 2>/dev/null
pass=0
for i in $(seq 1 "$N"); do
  delay=$((RANDOM % 1500))
  t0=$(date +%s.%N)
  if FL_KILL_DELAY_MS=$delay cargo test -q -p fl-coordinator --test binaries kill_and_resume >/tmp/kill_resume_$i.log 2>&1; then
    pass=$((pass + 1))
    printf 'iteration %2d: kill at round 1 + %4d ms: sqlite and postgres+redis resumed ok (%.1f s)\n' \
      "$i" "$delay" "$(echo "$(date +%s.%N) - $t0" | bc)"
  else
    echo "iteration $i (delay $delay ms) FAILED; log: /tmp/kill_resume_$i.log" >&2
    tail -n 30 "/tmp/kill_resume_$i.log" >&2
    break
  fi
done
echo "kill -9 / resume: $pass of $N iterations passed in a row"
[ "$pass" -eq "$N" ]
