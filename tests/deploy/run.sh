#!/usr/bin/env bash
# Validate the deployment and monitoring artefacts offline (package registries only):
#   bash tests/deploy/run.sh [pytest args...]
# Creates/reuses a venv outside the repository (FL_DEPLOY_VENV, default
# ~/.cache/fl-deploy-venv), installs tests/deploy/requirements.txt, makes sure
# promtool/prometheus are available (Debian's prometheus package, unpacked into
# the venv so no daemon is started), then runs pytest on tests/deploy.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${FL_DEPLOY_VENV:-$HOME/.cache/fl-deploy-venv}
REQ="$REPO/tests/deploy/requirements.txt"

if [ ! -x "$VENV/bin/python" ]; then
  echo "run.sh: creating venv $VENV"
  python3 -m venv "$VENV"
fi
# Reinstall only when requirements.txt changed.
stamp="$VENV/.fl-deploy-requirements"
if ! cmp -s "$REQ" "$stamp"; then
  echo "run.sh: installing $(grep -cv '^\s*\(#\|$\)' "$REQ") packages into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$stamp"
fi
export PATH="$VENV/bin:$VENV/prometheus/usr/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the work tree

if ! command -v promtool >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "run.sh: promtool missing; install Debian's prometheus package" >&2; exit 1; }
  echo "run.sh: fetching Debian's prometheus package for promtool"
  apt-get update -qq
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); then
    # Unpack instead of installing: no service is started, nothing else changes.
    mkdir -p "$VENV/prometheus"
    dpkg-deb -x "$tmp"/prometheus_*.deb "$VENV/prometheus"
  else
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  rm -rf "$tmp"
fi

cd "$REPO"
# -rs: list the reason of every skipped test (e.g. the live stack without binaries).
exec "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider tests/deploy "$@"
