#!/usr/bin/env bash
# The project's one test command (README, .ci/run): starts the services the
# tests need when they are not running, then runs every test suite.
#   scripts/test.sh            # everything
#   FL_SKIP_DEPLOY=1 scripts/test.sh   # skip the deployment-artefact checks
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# MNIST for the tests: ../shared/data/mnist beside the repository (CI has it there).
export FL_DATA_DIR="${FL_DATA_DIR:-$root/../shared/data/mnist}"
export FL_NO_DOWNLOAD=1
export FL_TEST_DATABASE_URL="${FL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export FL_TEST_REDIS_URL="${FL_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

start_services() {
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
  fi
}

install_chromium() {
  # The dashboard test drives a real headless Chromium (Debian package).
  if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the dashboard test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: chromium could not be installed"
  fi
  if command -v chromium >/dev/null; then export FL_REQUIRE_CHROMIUM=1; fi
}

start_services
install_chromium
[ -f "$FL_DATA_DIR/train-images-idx3-ubyte.gz" ] || echo "warning: MNIST not found at $FL_DATA_DIR"

echo "== cargo test (workspace)"
cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/fl-cargo-test.log
echo "== benchmarks: build only (dev profile, reuses the test build)"
cargo build --workspace --benches --profile dev -q

if [ -z "${FL_SKIP_DEPLOY:-}" ]; then
  echo "== deployment artefacts"
  # tests/deploy/test_live_stack.py runs scripts/local-stack.sh with the dev-profile
  # fl-coordinator and fl-client that `cargo test --workspace` built into target/debug.
  FL_STACK_BIN_DIR="$root/target/debug" FL_REQUIRE_LIVE_STACK=1 bash tests/deploy/run.sh
fi
