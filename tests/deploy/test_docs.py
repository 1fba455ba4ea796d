"""docs/DEPLOYMENT.md points at files that exist."""

from __future__ import annotations

import re

from conftest import REPO

DOC = REPO / "docs" / "DEPLOYMENT.md"
OWNED_ELSEWHERE = {"docs/SECURITY.md", "config/coordinator.yaml", "config/client.yaml"}


def test_links_resolve():
    text = DOC.read_text()
    assert "(SECURITY.md)" in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if target.startswith("http"):
            continue
        path = (DOC.parent / target).resolve()
        rel = path.relative_to(REPO).as_posix()
        assert path.exists() or rel in OWNED_ELSEWHERE, target


def test_mentioned_repo_paths_exist():
    text = DOC.read_text()
    prefixes = ("docker/", "k8s/", "monitoring/", "infrastructure/", "scripts/", "tests/deploy/")
    for path in set(re.findall(r"`([\w./-]+)`", text)):
        if path.startswith(prefixes) and "*" not in path and "<" not in path:
            assert (REPO / path).exists(), path
