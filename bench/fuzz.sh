#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time, one after the other (see docs/FUZZING.md).
#
#   bench/fuzz.sh                      # 60 s per target
#   FUZZ_SECONDS=600 bench/fuzz.sh     # 10 min per target
#   bench/fuzz.sh codec_decode         # only the named targets
#
# FUZZ_FEATURES="sim coordinator" adds SimConfig / CoordinatorConfig to config_parse (builds burn,
# tonic, sqlx with sanitizers: slow). The toolchain is stable, so RUSTC_BOOTSTRAP=1 unlocks the
# nightly-only sanitizer flags cargo-fuzz passes. Corpora grow in fuzz/corpus/<target> (ignored by
# git), seeded from fuzz/seeds/<target>; crashes land in fuzz/artifacts/<target>. Exits non-zero if
# any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
JOBS="${FUZZ_JOBS:-1}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
features=()
if [ -n "${FUZZ_FEATURES:-}" ]; then
    features=(--features "$FUZZ_FEATURES")
fi

# One process per target by default (libFuzzer's -jobs/-workers would redirect output to fuzz-N.log).
par=()
if [ "$JOBS" -gt 1 ]; then
    par=(-jobs="$JOBS" -workers="$JOBS")
fi

status=0
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log="fuzz/artifacts/$t.log"
    echo "== $t: ${SECONDS_PER_TARGET}s"
    # -a: debug assertions and overflow checks on, as in the crates' own tests.
    set +e
    cargo fuzz run -a -O "${features[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" "${par[@]}" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units|^SUMMARY|panicked at' "$log" || true
    echo "   corpus: $(find "fuzz/corpus/$t" -type f | wc -l) files"
    if [ "$rc" -ne 0 ]; then
        echo "!! $t: exit $rc, see $log and fuzz/artifacts/$t/"
        status=1
    fi
done
exit "$status"
