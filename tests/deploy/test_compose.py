"""docker-compose.yml: topology, health checks, no inline secrets, wiring."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from conftest import REPO, run

COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "docker" / "compose.env.example"
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY", re.I)
INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict:
    return compose()["services"]


def env_of(svc: dict) -> dict:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_topology():
    s = services()
    for name in ("coordinator", "redis", "postgres", "prometheus", "grafana"):
        assert name in s, name
    clients = [n for n, v in s.items() if "Client.dockerfile" in str(v.get("build", ""))]
    assert len(clients) >= 3


def test_client_ids_unique_and_match_service_names():
    ids = []
    for name, svc in services().items():
        cmd = svc.get("command")
        if isinstance(cmd, list) and "--client-id" in cmd:
            cid = cmd[cmd.index("--client-id") + 1]
            assert cid == name == svc.get("hostname")
            assert cmd[cmd.index("--coordinator") + 1] == "http://coordinator:50051"
            ids.append(cid)
    assert len(ids) >= 3 and len(ids) == len(set(ids))


def test_every_service_has_a_healthcheck():
    for name, svc in services().items():
        hc = svc.get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), name


def test_coordinator_health_gates_clients():
    s = services()
    assert "/api/v1/ready" in " ".join(s["coordinator"]["healthcheck"]["test"])
    for name, svc in s.items():
        if name.startswith("client-"):
            assert svc["depends_on"]["coordinator"]["condition"] == "service_healthy"
    for dep in ("postgres", "redis"):
        assert s["coordinator"]["depends_on"][dep]["condition"] == "service_healthy"


def test_no_inline_secrets():
    for name, svc in services().items():
        for k, v in env_of(svc).items():
            if SECRETISH.search(k):
                assert re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*\}", v), \
                    f"{name}.{k} must come from a required variable (${{VAR:?...}})"
            m = re.search(r"://([^:/@]+):([^@]+)@", v)
            if m:
                assert INTERP.fullmatch(m.group(2)), f"{name}.{k} embeds a literal password"


def test_required_variables_documented():
    text = "\n".join(l for l in COMPOSE.read_text().splitlines() if not l.lstrip().startswith("#"))
    required = {m.group(1) for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text)}
    assert required, "expected required secrets"
    documented = {line.split("=", 1)[0].lstrip("# ").strip()
                  for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line}
    assert required <= documented, required - documented
    # The filled-in copy must not be committable.
    assert "compose.env" in (REPO / "docker" / ".gitignore").read_text().split()


def test_database_and_cache_wiring():
    env = env_of(services()["coordinator"])
    assert env["FL_DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["FL_DATABASE_URL"]
    assert env["FL_REDIS_URL"] == "redis://redis:6379"
    assert "FL_ADMIN_API_KEY" in env


def test_bind_mounts_exist():
    for name, svc in services().items():
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("./"):
                assert (REPO / src).exists(), f"{name}: {src}"


def test_prometheus_targets_are_compose_services():
    prom = yaml.safe_load((REPO / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    s = services()
    for job in prom["scrape_configs"]:
        for sc in job.get("static_configs", []):
            for target in sc["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    continue
                assert host in s, target
                if host == "coordinator":
                    assert port == "8080"


def test_images_pinned():
    for name, svc in services().items():
        img = svc.get("image")
        assert img, f"{name} has no image"
        if "build" not in svc:
            tag = img.rsplit(":", 1)[-1] if ":" in img.split("/")[-1] else ""
            assert tag and tag != "latest", f"{name}: pin {img}"


def test_fl_services_hardened():
    for name, svc in services().items():
        if "build" in svc:
            assert svc.get("read_only") is True, name
            assert "ALL" in svc.get("cap_drop", []), name
            assert "no-new-privileges:true" in svc.get("security_opt", []), name


def test_published_ports_bind_locally_by_default():
    for name, svc in services().items():
        for p in svc.get("ports", []):
            assert str(p).startswith("${FL_BIND:-127.0.0.1}:"), f"{name}: {p}"


def test_docker_compose_config():
    docker = shutil.which("docker")
    if docker is None or run([docker, "compose", "version"]).returncode != 0:
        pytest.skip("docker compose plugin not installed")
    env = {"POSTGRES_PASSWORD": "x", "FL_ADMIN_API_KEY": "x", "GRAFANA_ADMIN_PASSWORD": "x", "PATH": "/usr/bin:/bin"}
    r = run([docker, "compose", "-f", str(COMPOSE), "config", "-q"], env=env)
    assert r.returncode == 0, r.stderr
