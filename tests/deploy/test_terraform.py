"""Terraform (infrastructure/aws): parses, every reference is declared, no secrets."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import hcl2
import pytest

from conftest import REPO, run

TF = REPO / "infrastructure" / "aws"
TF_FILES = sorted(TF.glob("*.tf"))


def unq(s: str) -> str:
    return s.strip('"') if isinstance(s, str) else s


def parsed() -> dict[Path, dict]:
    return {f: hcl2.loads(f.read_text()) for f in TF_FILES}


def blocks(kind: str) -> list[tuple[str, dict]]:
    """(name, body) of every `variable`/`output`/... block."""
    out = []
    for d in parsed().values():
        for item in d.get(kind, []):
            for name, body in item.items():
                out.append((unq(name), body))
    return out


def source() -> str:
    """All .tf text without comments (rough: # and // to end of line outside strings are rare here)."""
    text = "\n".join(f.read_text() for f in TF_FILES)
    return re.sub(r"(?m)^\s*(#|//).*$", "", text)


def test_all_files_parse():
    assert TF_FILES
    for f, d in parsed().items():
        assert isinstance(d, dict), f


def test_versions_pinned():
    d = hcl2.loads((TF / "versions.tf").read_text())
    (tf,) = d["terraform"]
    assert unq(tf["required_version"])
    providers = tf["required_providers"][0]
    for name in ("aws", "random"):
        assert re.match(r"~>\s*\d+\.\d+", unq(providers[name]["version"])), name


def test_variables_typed_and_described():
    for name, body in blocks("variable"):
        assert unq(body.get("description", "")), f"variable {name} has no description"
        assert "type" in body, f"variable {name} has no type"


def test_every_var_reference_is_declared_and_used():
    declared = {n for n, _ in blocks("variable")}
    used = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", source()))
    assert used - declared == set(), f"undeclared: {used - declared}"
    assert declared - used == set(), f"declared but unused: {declared - used}"


def test_every_local_reference_is_declared():
    declared = set()
    for d in parsed().values():
        for item in d.get("locals", []):
            declared |= {k for k in item if not k.startswith("__")}
    used = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", source()))
    assert used - declared == set()


def test_every_resource_and_data_reference_is_declared():
    res, data = set(), set()
    for d in parsed().values():
        for item in d.get("resource", []):
            for typ, named in item.items():
                res |= {(unq(typ), unq(n)) for n in named}
        for item in d.get("data", []):
            for typ, named in item.items():
                data |= {(unq(typ), unq(n)) for n in named}
    text = source()
    for typ, name in re.findall(r"(?<![\w\-./])data\.([a-z0-9_]+)\.([a-z0-9_]+)", text):
        assert (typ, name) in data, f"data.{typ}.{name}"
    text = re.sub(r"(?<![\w\-./])data\.[a-z0-9_]+\.[a-z0-9_]+", "", text)
    for typ, name in re.findall(r"(?<![\w.\"/:])((?:aws|random)_[a-z0-9_]+)\.([a-z0-9_]+)", text):
        assert (typ, name) in res, f"{typ}.{name}"


def test_outputs_described_and_secrets_not_output():
    outs = blocks("output")
    assert outs
    for name, body in outs:
        assert unq(body.get("description", "")), name
        value = str(body["value"])
        assert "random_password" not in value and "admin_api_key" not in value, name


def test_no_literal_secrets():
    for f in TF_FILES:
        for line in f.read_text().splitlines():
            m = re.match(r'\s*(password|auth_token|secret_string|api_key)\s*=\s*"(?!\$\{)', line)
            assert not m, f"{f.name}: literal secret: {line.strip()}"
    sensitive = {n: b.get("sensitive") for n, b in blocks("variable")
                 if re.search(r"password|secret|token|api_key", n)}
    assert all(sensitive.values()), f"secret-like variables must be sensitive: {sensitive}"


def test_no_secret_files_committable():
    ignore = (TF / ".gitignore").read_text().split()
    for pat in ("*.tfstate", "*.tfvars", ".terraform/"):
        assert pat in ignore


def test_instances_hardened():
    insts = []
    for d in parsed().values():
        for item in d.get("resource", []):
            insts += [b for n, b in item.get('"aws_instance"', {}).items()]
    assert len(insts) == 2
    for body in insts:
        meta = body["metadata_options"][0]
        assert unq(meta["http_tokens"]) == "required"
        assert body["root_block_device"][0]["encrypted"] is True


def test_templatefile_variables_match_placeholders():
    text = (TF / "compute.tf").read_text()
    calls = re.findall(r'templatefile\("\$\{path\.module\}/([^"]+)",\s*\{(.*?)\n\s*\}\)', text, re.S)
    assert len(calls) == 2
    for rel, body in calls:
        passed = set(re.findall(r"(?m)^\s*([a-z0-9_]+)\s*=", body))
        tpl = (TF / rel).read_text()
        used = set(re.findall(r"(?<!\$)\$\{\s*([a-z0-9_]+)\s*\}", tpl))
        assert used == passed, f"{rel}: used {sorted(used)}, passed {sorted(passed)}"
        assert "%{" not in tpl, "template directives are not expected"


def test_user_data_is_valid_shell(tmp_path):
    bash = shutil.which("bash")
    for tpl in (TF / "templates").glob("*.tftpl"):
        rendered = re.sub(r"(?<!\$)\$\{\s*[a-z0-9_]+\s*\}", "placeholder", tpl.read_text())
        rendered = rendered.replace("$${", "${")
        f = tmp_path / tpl.stem
        f.write_text(rendered)
        r = run([bash, "-n", str(f)])
        assert r.returncode == 0, f"{tpl.name}: {r.stderr}"
        sc = shutil.which("shellcheck")
        if sc:
            r = run([sc, "-S", "warning", str(f)])
            assert r.returncode == 0, f"{tpl.name}: {r.stdout}"


def test_terraform_fmt():
    tf = shutil.which("terraform")
    if tf is None:
        pytest.skip("terraform not installed")
    r = run([tf, "fmt", "-check", "-recursive", "-diff", str(TF)])
    assert r.returncode == 0, r.stdout
