"""scripts/local-stack.sh end to end, with stand-in binaries (tests/deploy/stubs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DEPLOY_TESTS, REPO, run

SCRIPT = REPO / "scripts" / "local-stack.sh"
STUBS = DEPLOY_TESTS / "stubs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def services_up(cmd: list[str], expect: str) -> bool:
    exe = shutil.which(cmd[0])
    if exe is None:
        return False
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    return r.returncode == 0 and expect in r.stdout


@pytest.fixture
def stack_args(tmp_path):
    (tmp_path / "coordinator.yaml").write_text("training:\n  rounds: 10\n")
    (tmp_path / "client.yaml").write_text("{}\n")
    args = ["--bin-dir", str(STUBS), "--workdir", str(tmp_path / "wd"),
            "--coordinator-config", str(tmp_path / "coordinator.yaml"),
            "--client-config", str(tmp_path / "client.yaml"),
            "--grpc-port", str(free_port()), "--http-port", str(free_port()),
            "--prometheus-port", str(free_port()), "--timeout", "60"]
    if shutil.which("prometheus") is None:
        args.append("--no-prometheus")
    return args, tmp_path / "wd"


def started_pids(wd: Path) -> list[int]:
    return [json.loads(f.read_text())["pid"] for f in wd.glob("stub-*.json")]


@pytest.mark.parametrize("tool", ["scripts/local-stack.sh", "tests/deploy/run.sh"])
def test_shell_scripts_lint(tool):
    assert run(["bash", "-n", tool]).returncode == 0
    sc = shutil.which("shellcheck")
    if sc is None:
        pytest.skip("shellcheck not installed")
    r = run([sc, tool])
    assert r.returncode == 0, r.stdout


def test_help_and_bad_arguments():
    r = run(["bash", str(SCRIPT), "--help"])
    assert r.returncode == 0 and "--clients N" in r.stdout and "--keep-running" in r.stdout
    for bad in (["--clients", "0"], ["--rounds", "x"], ["--bogus"], ["--workdir"], ["--http-port", "70000"]):
        r = run(["bash", str(SCRIPT), *bad])
        assert r.returncode != 0 and "error" in r.stderr, bad


def test_missing_binaries_are_reported(tmp_path):
    r = run(["bash", str(SCRIPT), "--bin-dir", str(tmp_path)])
    assert r.returncode == 1 and "cargo build --release" in r.stderr


def test_runs_rounds_and_cleans_up(stack_args):
    args, wd = stack_args
    r = run(["bash", str(SCRIPT), *args, "--clients", "4", "--rounds", "3",
             "--no-postgres", "--no-redis"], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "set training.rounds = 3" in r.stdout
    assert "metrics contract: OK" in r.stdout
    coord = json.loads((wd / "stub-coordinator.json").read_text())
    assert coord["rounds"] == 3
    assert coord["env"]["FL_DATABASE_URL"] == f"sqlite://{wd}/data/fl.db?mode=rwc"
    assert coord["env"]["FL_REDIS_URL"] is None
    clients = [json.loads(f.read_text()) for f in sorted(wd.glob("stub-client-*.json"))]
    assert [c["client_id"] for c in clients] == [f"client-00{i}" for i in range(1, 5)]
    grpc_port = args[args.index("--grpc-port") + 1]
    assert {c["coordinator"] for c in clients} == {f"http://127.0.0.1:{grpc_port}"}
    assert (wd / "admin-api-key").stat().st_mode & 0o077 == 0
    if "--no-prometheus" not in args:
        assert "Prometheus alerts (pending or firing): none" in r.stdout
    time.sleep(0.2)
    assert not [p for p in started_pids(wd) if pid_alive(p)], "processes left running"


def test_reuses_local_postgres_and_redis(stack_args):
    if not (services_up(["pg_isready", "-h", "127.0.0.1", "-p", "5432"], "accepting")
            and services_up(["redis-cli", "-h", "127.0.0.1", "ping"], "PONG")):
        pytest.skip("no PostgreSQL/Redis on 127.0.0.1")
    args, wd = stack_args
    db = f"fl_deploy_test_{os.getpid()}"
    try:
        r = run(["bash", str(SCRIPT), *args, "--clients", "2", "--rounds", "2", "--db-name", db,
                 "--no-prometheus"], timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "reusing PostgreSQL" in r.stdout and "reusing Redis" in r.stdout
        env = json.loads((wd / "stub-coordinator.json").read_text())["env"]
        assert env["FL_DATABASE_URL"] == f"postgres://postgres@127.0.0.1:5432/{db}"
        assert env["FL_REDIS_URL"] == "redis://127.0.0.1:6379"
        exists = run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAtc",
                      f"SELECT 1 FROM pg_database WHERE datname = '{db}'"])
        assert exists.stdout.strip() == "1"
    finally:
        run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"DROP DATABASE IF EXISTS {db}"])


def test_keep_running_stops_on_interrupt(stack_args):
    args, wd = stack_args
    p = subprocess.Popen(["bash", str(SCRIPT), *args, "--clients", "2", "--rounds", "1",
                          "--no-postgres", "--no-redis", "--keep-running"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    deadline = time.time() + 60
    try:
        for line in p.stdout:
            out.append(line)
            if "keeping the stack up" in line or time.time() > deadline:
                break
        assert any("keeping the stack up" in line for line in out), "".join(out)
        time.sleep(0.5)
        pids = started_pids(wd)
        assert len(pids) == 3 and all(pid_alive(x) for x in pids)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, "".join(out) + rest
    time.sleep(0.2)
    assert not [x for x in pids if pid_alive(x)], "processes left running"


def test_coordinator_crash_fails_fast(tmp_path, stack_args):
    args, _ = stack_args
    bad = tmp_path / "bin"
    bad.mkdir()
    (bad / "fl-coordinator").write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    shutil.copy(STUBS / "fl-client", bad / "fl-client")
    (bad / "fl-coordinator").chmod(0o755)
    args = list(args)
    args[args.index("--bin-dir") + 1] = str(bad)
    r = run(["bash", str(SCRIPT), *args, "--no-postgres", "--no-redis", "--no-prometheus"], timeout=60)
    assert r.returncode == 1 and "coordinator exited during start-up" in r.stderr
