#!/usr/bin/env bash
# Run the FL deployment topology as plain processes on one machine (no Docker):
# PostgreSQL and Redis on 127.0.0.1 (reused when already running), Prometheus
# with the repository's alert rules, fl-coordinator and N fl-client processes
# from target/release. Waits for training to finish (or R rounds), prints a
# summary and stops everything it started.
#
#   cargo build --release -p fl-coordinator -p fl-client
#   scripts/local-stack.sh --clients 3 --rounds 5
#
# See --help and docs/DEPLOYMENT.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

CLIENTS=3
ROUNDS=""
WORKDIR=""
KEEP_RUNNING=0
BIN_DIR="$REPO/target/release"
COORD_CONFIG="$REPO/config/coordinator.yaml"
CLIENT_CONFIG="$REPO/config/client.yaml"
DATA_DIR="${FL_DATA_DIR:-$REPO/../shared/data/mnist}"
GRPC_PORT=50051
HTTP_PORT=8080
PROM_PORT=9090
PG_PORT=5432
REDIS_PORT=6379
DB_NAME=fl_local
USE_POSTGRES=1
USE_REDIS=1
USE_PROMETHEUS=1
TIMEOUT=1800

usage() {
  cat <<USAGE
Usage: $(basename "$0") [options]

  --clients N          number of fl-client processes (default $CLIENTS)
  --rounds R           stop after R completed rounds; also sets the round count
                       in the copied coordinator config when it has such a key
                       (default: run until fl_training_state is finished)
  --workdir DIR        configs, logs, databases (default: a new /tmp/fl-local-stack.*)
  --keep-running       after training, keep everything up until Ctrl-C
  --bin-dir DIR        where fl-coordinator and fl-client are ($BIN_DIR)
  --coordinator-config FILE  (default config/coordinator.yaml)
  --client-config FILE       (default config/client.yaml)
  --data-dir DIR       MNIST directory passed as FL_DATA_DIR ($DATA_DIR)
  --grpc-port P --http-port P --prometheus-port P   (defaults $GRPC_PORT $HTTP_PORT $PROM_PORT)
  --postgres-port P --redis-port P                  (defaults $PG_PORT $REDIS_PORT)
  --db-name NAME       PostgreSQL database, recreated at start (default $DB_NAME)
  --no-postgres        use SQLite in the workdir instead of PostgreSQL
  --no-redis           keep sessions in the coordinator's memory
  --no-prometheus      do not run Prometheus
  --timeout SECS       give up waiting for training after SECS (default $TIMEOUT)
USAGE
}

die() { echo "local-stack: error: $*" >&2; exit 1; }
log() { echo "local-stack: $*"; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while [ $# -gt 0 ]; do
  case "$1" in
    --clients) need_arg "$@"; CLIENTS=$2; shift 2 ;;
    --rounds) need_arg "$@"; ROUNDS=$2; shift 2 ;;
    --workdir) need_arg "$@"; WORKDIR=$2; shift 2 ;;
    --keep-running) KEEP_RUNNING=1; shift ;;
    --bin-dir) need_arg "$@"; BIN_DIR=$2; shift 2 ;;
    --coordinator-config) need_arg "$@"; COORD_CONFIG=$2; shift 2 ;;
    --client-config) need_arg "$@"; CLIENT_CONFIG=$2; shift 2 ;;
    --data-dir) need_arg "$@"; DATA_DIR=$2; shift 2 ;;
    --grpc-port) need_arg "$@"; GRPC_PORT=$2; shift 2 ;;
    --http-port) need_arg "$@"; HTTP_PORT=$2; shift 2 ;;
    --prometheus-port) need_arg "$@"; PROM_PORT=$2; shift 2 ;;
    --postgres-port) need_arg "$@"; PG_PORT=$2; shift 2 ;;
    --redis-port) need_arg "$@"; REDIS_PORT=$2; shift 2 ;;
    --db-name) need_arg "$@"; DB_NAME=$2; shift 2 ;;
    --no-postgres) USE_POSTGRES=0; shift ;;
    --no-redis) USE_REDIS=0; shift ;;
    --no-prometheus) USE_PROMETHEUS=0; shift ;;
    --timeout) need_arg "$@"; TIMEOUT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

is_uint "$CLIENTS" && [ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le 999 ] || die "--clients must be 1..999"
[ -z "$ROUNDS" ] || { is_uint "$ROUNDS" && [ "$ROUNDS" -ge 1 ]; } || die "--rounds must be a positive integer"
is_uint "$TIMEOUT" || die "--timeout must be a number of seconds"
for p in "$GRPC_PORT" "$HTTP_PORT" "$PROM_PORT" "$PG_PORT" "$REDIS_PORT"; do
  is_uint "$p" && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port: $p"
done
[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] || die "--db-name must be a plain lowercase identifier"

for b in fl-coordinator fl-client; do
  [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b not found: build with 'cargo build --release -p fl-coordinator -p fl-client'"
done
[ -f "$COORD_CONFIG" ] || die "coordinator config not found: $COORD_CONFIG"
[ -f "$CLIENT_CONFIG" ] || die "client config not found: $CLIENT_CONFIG"
command -v curl >/dev/null || die "curl is required"
DATA_DIR=$(realpath -m "$DATA_DIR")
[ -d "$DATA_DIR" ] || log "warning: data dir $DATA_DIR does not exist (FL_DATA_DIR)"

if [ -z "$WORKDIR" ]; then
  WORKDIR=$(mktemp -d /tmp/fl-local-stack.XXXXXX)
else
  mkdir -p "$WORKDIR"
fi
WORKDIR=$(cd "$WORKDIR" && pwd)
mkdir -p "$WORKDIR/logs" "$WORKDIR/data"

# ---- cleanup: stop exactly what this script started, newest first ------------
PIDS=()          # background processes started here
NAMES=()
STARTED_PG=0
STARTED_REDIS=0

# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    if kill -0 "${PIDS[i]}" 2>/dev/null; then
      log "stopping ${NAMES[i]} (pid ${PIDS[i]})"
      kill -TERM "${PIDS[i]}" 2>/dev/null || true
    fi
  done
  local deadline=$((SECONDS + 10))
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    while kill -0 "${PIDS[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "${PIDS[i]}" 2>/dev/null; then
      log "killing ${NAMES[i]} (pid ${PIDS[i]})"
      kill -KILL "${PIDS[i]}" 2>/dev/null || true
    fi
  done
  if [ "$STARTED_REDIS" = 1 ]; then
    log "stopping the Redis server started here"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [ "$STARTED_PG" = 1 ]; then
    log "stopping the PostgreSQL cluster started here"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main stop >/dev/null 2>&1 || true
  fi
  log "workdir kept: $WORKDIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_bg() { # NAME LOGFILE CMD...
  local name=$1 logfile=$2
  shift 2
  "$@" >"$logfile" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  log "started $name (pid $!), log $logfile"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # URL PID NAME SECONDS
  local url=$1 pid=$2 name=$3 deadline=$((SECONDS + $4))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up; see its log in $WORKDIR/logs"
    [ $SECONDS -lt "$deadline" ] || die "$name not ready at $url after $4 s"
    sleep 0.5
  done
}

for p in "$GRPC_PORT" "$HTTP_PORT"; do
  port_in_use "$p" && die "port $p on 127.0.0.1 is already in use (see --grpc-port/--http-port)"
done
if [ "$USE_PROMETHEUS" = 1 ] && port_in_use "$PROM_PORT"; then
  die "port $PROM_PORT is in use (use --prometheus-port or --no-prometheus)"
fi

# ---- PostgreSQL ------------------------------------------------------------------
PG_VERSION=""
if [ "$USE_POSTGRES" = 1 ]; then
  if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
    die "PostgreSQL client tools missing (apt-get install postgresql-client) or use --no-postgres"
  fi
  if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "reusing PostgreSQL on 127.0.0.1:$PG_PORT"
  else
    command -v pg_ctlcluster >/dev/null || die "no PostgreSQL on 127.0.0.1:$PG_PORT and no pg_ctlcluster to start one (use --no-postgres)"
    PG_VERSION=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [ -n "$PG_VERSION" ] || die "no PostgreSQL cluster configured under /etc/postgresql"
    log "starting PostgreSQL $PG_VERSION"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start
    STARTED_PG=1
    for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.5; done
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || die "PostgreSQL did not become ready"
  fi
  PSQL=(env PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" \
    || die "could not (re)create database $DB_NAME as user postgres"
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
else
  DATABASE_URL="sqlite://$WORKDIR/data/fl.db?mode=rwc"
fi

# ---- Redis -------------------------------------------------------------------------
REDIS_URL=""
if [ "$USE_REDIS" = 1 ]; then
  command -v redis-cli >/dev/null || die "redis-cli missing (apt-get install redis-tools) or use --no-redis"
  if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; then
    log "reusing Redis on 127.0.0.1:$REDIS_PORT"
  else
    command -v redis-server >/dev/null || die "no Redis on 127.0.0.1:$REDIS_PORT and no redis-server (use --no-redis)"
    log "starting Redis on 127.0.0.1:$REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
      --dir "$WORKDIR/data" --logfile "$WORKDIR/logs/redis.log"
    STARTED_REDIS=1
    for _ in $(seq 1 40); do [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.25; done
  fi
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi

# ---- Prometheus --------------------------------------------------------------------
if [ "$USE_PROMETHEUS" = 1 ]; then
  if ! command -v prometheus >/dev/null; then
    [ "$(id -u)" = 0 ] || die "prometheus not installed; run 'apt-get install prometheus' as root or use --no-prometheus"
    log "installing Debian's prometheus package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  mkdir -p "$WORKDIR/prometheus/data"
  cp "$REPO/monitoring/prometheus/alerts.yml" "$WORKDIR/prometheus/alerts.yml"
  cat >"$WORKDIR/prometheus/prometheus.yml" <<PROM
# Generated by scripts/local-stack.sh from monitoring/prometheus/prometheus.yml.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
  external_labels:
    deployment: fl-local-stack
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: fl-coordinator
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$HTTP_PORT"]
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:$PROM_PORT"]
PROM
  if command -v promtool >/dev/null; then
    promtool check config "$WORKDIR/prometheus/prometheus.yml" >/dev/null || die "generated Prometheus config is invalid"
  fi
  start_bg prometheus "$WORKDIR/logs/prometheus.log" prometheus \
    --config.file="$WORKDIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$WORKDIR/prometheus/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT"
  PROM_PID=${PIDS[-1]}
  wait_http "http://127.0.0.1:$PROM_PORT/-/ready" "$PROM_PID" prometheus 60
fi

# ---- coordinator ---------------------------------------------------------------------
cp "$COORD_CONFIG" "$WORKDIR/coordinator.yaml"
cp "$CLIENT_CONFIG" "$WORKDIR/client.yaml"
if [ -n "$ROUNDS" ]; then
  # Set the round count only where the config already has one (never invent keys).
  if command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$WORKDIR/coordinator.yaml" "$ROUNDS" <<'PY' || log "warning: could not set rounds in the config; stopping after $ROUNDS rounds anyway"
import sys, yaml
path, rounds = sys.argv[1], int(sys.argv[2])
cfg = yaml.safe_load(open(path)) or {}
for keys in (("rounds",), ("num_rounds",), ("training", "rounds"), ("training", "num_rounds"),
             ("server", "rounds"), ("server", "num_rounds")):
    node = cfg
    for k in keys[:-1]:
        node = node.get(k) if isinstance(node, dict) else None
    if isinstance(node, dict) and keys[-1] in node:
        node[keys[-1]] = rounds
        yaml.safe_dump(cfg, open(path, "w"), sort_keys=False)
        print(f"local-stack: set {'.'.join(keys)} = {rounds} in {path}")
        break
else:
    print(f"local-stack: no rounds key in {path}; stopping after {rounds} rounds anyway")
PY
  else
    log "python3 with PyYAML not found: rounds stay as configured; stopping after $ROUNDS rounds anyway"
  fi
fi

ADMIN_KEY=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$ADMIN_KEY" >"$WORKDIR/admin-api-key")

coord_env=(env)   # env's options must precede its NAME=VALUE arguments
if [ -n "$REDIS_URL" ]; then coord_env+=(FL_REDIS_URL="$REDIS_URL"); else coord_env+=(-u FL_REDIS_URL); fi
coord_env+=(FL_DATABASE_URL="$DATABASE_URL" FL_ADMIN_API_KEY="$ADMIN_KEY"
  FL_DATA_DIR="$DATA_DIR" RUST_LOG="${RUST_LOG:-info}")
start_bg coordinator "$WORKDIR/logs/coordinator.log" "${coord_env[@]}" \
  "$BIN_DIR/fl-coordinator" --config "$WORKDIR/coordinator.yaml" \
  --grpc-addr "127.0.0.1:$GRPC_PORT" --http-addr "127.0.0.1:$HTTP_PORT"
COORD_PID=${PIDS[-1]}
wait_http "http://127.0.0.1:$HTTP_PORT/api/v1/ready" "$COORD_PID" coordinator 120
log "coordinator ready: http://127.0.0.1:$HTTP_PORT (admin key in $WORKDIR/admin-api-key)"

# ---- clients ---------------------------------------------------------------------------
CLIENT_PIDS=()
for i in $(seq 1 "$CLIENTS"); do
  id=$(printf 'client-%03d' "$i")
  start_bg "$id" "$WORKDIR/logs/$id.log" env FL_DATA_DIR="$DATA_DIR" RUST_LOG="${RUST_LOG:-info}" \
    "$BIN_DIR/fl-client" --config "$WORKDIR/client.yaml" --client-id "$id" \
    --coordinator "http://127.0.0.1:$GRPC_PORT"
  CLIENT_PIDS+=("${PIDS[-1]}")
done

# ---- wait for training ----------------------------------------------------------------
metric() { # NAME: value of an unlabelled sample in the last scrape, or empty
  awk -v n="$1" '$1 == n { print $2; exit }' "$WORKDIR/metrics.txt"
}
scrape() { curl -fsS --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" -o "$WORKDIR/metrics.txt.tmp" 2>/dev/null \
  && mv "$WORKDIR/metrics.txt.tmp" "$WORKDIR/metrics.txt"; }

log "waiting for training (${ROUNDS:+$ROUNDS rounds, }timeout ${TIMEOUT}s)"
deadline=$((SECONDS + TIMEOUT))
last=""
declare -A REPORTED=()
status=1
while :; do
  kill -0 "$COORD_PID" 2>/dev/null || { tail -n 20 "$WORKDIR/logs/coordinator.log" >&2; die "coordinator exited"; }
  for j in "${!CLIENT_PIDS[@]}"; do
    pid=${CLIENT_PIDS[j]}
    if [ -z "${REPORTED[$pid]:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
      REPORTED[$pid]=1
      rc=0; wait "$pid" || rc=$?
      log "$(printf 'client-%03d' $((j + 1))) exited with status $rc"
    fi
  done
  if scrape; then
    done_rounds=$(metric fl_rounds_completed_total); state=$(metric fl_training_state)
    acc=$(metric fl_global_accuracy); now="rounds=${done_rounds:-?} state=${state:-?} accuracy=${acc:-?}"
    [ "$now" = "$last" ] || { log "$now"; last=$now; }
    if [ -n "$ROUNDS" ] && [ -n "$done_rounds" ] && awk -v a="$done_rounds" -v b="$ROUNDS" 'BEGIN { exit !(a >= b) }'; then
      status=0; break
    fi
    if [ -n "$state" ] && awk -v s="$state" 'BEGIN { exit !(s == 3) }'; then status=0; break; fi
  fi
  [ $SECONDS -lt $deadline ] || { log "timed out after ${TIMEOUT}s"; break; }
  sleep 2
done

# ---- summary -----------------------------------------------------------------------------
if [ -f "$WORKDIR/metrics.txt" ]; then
  log "final: rounds=$(metric fl_rounds_completed_total) accuracy=$(metric fl_global_accuracy) loss=$(metric fl_global_loss) max_epsilon=$(metric fl_epsilon_spent_max)"
  if command -v python3 >/dev/null; then
    python3 "$REPO/tests/deploy/metrics_contract.py" --file "$WORKDIR/metrics.txt" \
      | sed 's/^/local-stack: /' || true
  fi
fi
if [ "$USE_PROMETHEUS" = 1 ]; then
  firing=$(curl -fsS --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/alerts" 2>/dev/null \
    | grep -o '"alertname":"[A-Za-z]*"' | sort -u | cut -d'"' -f4 | tr '\n' ' ' || true)
  log "Prometheus alerts (pending or firing): ${firing:-none}"
fi

if [ "$KEEP_RUNNING" = 1 ]; then
  log "keeping the stack up; Ctrl-C to stop"
  log "  coordinator  http://127.0.0.1:$HTTP_PORT  (gRPC 127.0.0.1:$GRPC_PORT)"
  [ "$USE_PROMETHEUS" = 0 ] || log "  prometheus   http://127.0.0.1:$PROM_PORT"
  wait "$COORD_PID" || true
fi
exit "$status"
