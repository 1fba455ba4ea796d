"""Kubernetes manifests: schema-valid offline, wired together, hardened."""

from __future__ import annotations

import shutil
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import REPO, run

K8S = REPO / "k8s"
K8S_VERSION = "1.30.0"
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")
WORKLOAD_KINDS = {"StatefulSet", "Deployment", "DaemonSet", "Job"}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


ALL = [(p, d) for p in MANIFESTS for d in docs(p)]


def objects(kind: str) -> list[dict]:
    return [d for _, d in ALL if d["kind"] == kind]


def pod_specs():
    for _, d in ALL:
        if d["kind"] in WORKLOAD_KINDS:
            yield d, d["spec"]["template"]["spec"]


def test_manifests_exist():
    kinds = {d["kind"] for _, d in ALL}
    assert {"Namespace", "StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert {d["metadata"]["name"] for d in objects("StatefulSet")} == {"fl-coordinator", "fl-client"}


@pytest.mark.parametrize("path,doc", ALL, ids=lambda x: x.name if isinstance(x, Path) else x["kind"])
def test_schema_valid(path, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_no_secret_objects_committed():
    assert objects("Secret") == [], "Secrets must not be committed; see secret.yaml.example"


def test_secret_refs_match_example():
    example = yaml.safe_load((K8S / "coordinator" / "secret.yaml.example").read_text())
    keys = set(example["stringData"])
    refs = []
    for _, spec in pod_specs():
        for c in spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.append(ref)
    assert refs, "the coordinator should read its secrets through secretKeyRef"
    for ref in refs:
        assert ref["name"] == example["metadata"]["name"]
        assert ref["key"] in keys, ref


def test_same_namespace_everywhere():
    ns = {d["metadata"]["name"] for d in objects("Namespace")}
    assert ns == {"fl"}
    for path, d in ALL:
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "fl", f"{path}: {d['kind']} outside namespace fl"


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = {(K8S / r).resolve() for r in kust["resources"]}
    assert listed == {p.resolve() for p in MANIFESTS}


def test_kustomize_builds():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    r = run([kubectl, "kustomize", str(K8S)])
    assert r.returncode == 0, r.stderr
    built = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert len(built) == len(ALL)


@pytest.mark.parametrize("workload", [d for d, _ in pod_specs()], ids=lambda d: d["metadata"]["name"])
def test_pods_hardened(workload):
    spec = workload["spec"]["template"]["spec"]
    psc = spec.get("securityContext", {})
    assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0
    assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    assert spec.get("automountServiceAccountToken") is False
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, c["name"]
        assert sc.get("readOnlyRootFilesystem") is True, c["name"]
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], c["name"]
        res = c.get("resources", {})
        assert {"cpu", "memory"} <= set(res.get("requests", {})), c["name"]
        assert "memory" in res.get("limits", {}), c["name"]
        assert not c["image"].endswith(":latest") and ":" in c["image"], c["image"]


def coordinator():
    (ss,) = [d for d in objects("StatefulSet") if d["metadata"]["name"] == "fl-coordinator"]
    return ss


def test_coordinator_probes_and_storage():
    ss = coordinator()
    (c,) = ss["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": 50051, "http": 8080}
    assert c["readinessProbe"]["httpGet"]["port"] in ("http", 8080)
    assert ss["spec"]["replicas"] == 1
    (claim,) = ss["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/fl"
    args = c["args"]
    assert args[args.index("--config") + 1].startswith("/etc/fl/")
    assert "--http-addr" in args and "--grpc-addr" in args
    ann = ss["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == str(ports["http"]) and ann["prometheus.io/path"] == "/metrics"


def test_client_ids_come_from_pod_names():
    (ss,) = [d for d in objects("StatefulSet") if d["metadata"]["name"] == "fl-client"]
    assert ss["spec"]["replicas"] >= 3
    (c,) = ss["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert c["args"][c["args"].index("--client-id") + 1] == "$(POD_NAME)"
    # $(VAR) only expands for variables defined earlier in the list.
    names = [e["name"] for e in c["env"]]
    assert names.index("POD_NAME") < names.index("FL_CLIENT_ID")
    coord_url = c["args"][c["args"].index("--coordinator") + 1]
    assert coord_url == "$(FL_COORDINATOR)"
    assert "fl-coordinator-grpc" in env["FL_COORDINATOR"]["value"]
    assert env["FL_COORDINATOR"]["value"].endswith(":50051")


def test_services_select_pods_and_named_ports():
    pods = {d["metadata"]["name"]: (d["spec"]["template"]["metadata"]["labels"],
                                    {p["name"] for c in spec["containers"] for p in c.get("ports", [])})
            for d, spec in pod_specs()}
    for svc in objects("Service"):
        sel = svc["spec"]["selector"]
        matches = [n for n, (labels, _) in pods.items() if sel.items() <= labels.items()]
        assert matches, f"Service {svc['metadata']['name']} selects no pod"
        for port in svc["spec"].get("ports", []):
            tp = port.get("targetPort", port["port"])
            if isinstance(tp, str):
                assert any(tp in pods[n][1] for n in matches), (svc["metadata"]["name"], tp)
    for d, _ in pod_specs():
        gov = d["spec"].get("serviceName")
        if gov:
            assert gov in {s["metadata"]["name"] for s in objects("Service")}


def test_pdbs_select_workloads():
    labels = [d["spec"]["template"]["metadata"]["labels"] for d, _ in pod_specs()]
    for pdb in objects("PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        assert any(sel.items() <= lb.items() for lb in labels), pdb["metadata"]["name"]


def test_volumes_reference_existing_objects():
    cms = {d["metadata"]["name"] for d in objects("ConfigMap")}
    pvcs = {d["metadata"]["name"] for d in objects("PersistentVolumeClaim")}
    for d, spec in pod_specs():
        vols = {v["name"] for v in spec.get("volumes", [])}
        vols |= {t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])}
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert v["configMap"]["name"] in cms
            if "persistentVolumeClaim" in v:
                assert v["persistentVolumeClaim"]["claimName"] in pvcs
        for c in spec["containers"]:
            for m in c.get("volumeMounts", []):
                assert m["name"] in vols, (d["metadata"]["name"], m["name"])


def _keys(node, prefix=""):
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(prefix + str(k))
            out |= _keys(v, f"{prefix}{k}.")
    return out


@pytest.mark.parametrize("cm_name,key,repo_file", [
    ("fl-coordinator-config", "coordinator.yaml", "config/coordinator.yaml"),
    ("fl-client-config", "client.yaml", "config/client.yaml"),
])
def test_configmap_keys_exist_in_repo_config(cm_name, key, repo_file):
    (cm,) = [d for d in objects("ConfigMap") if d["metadata"]["name"] == cm_name]
    cluster_cfg = yaml.safe_load(cm["data"][key])
    assert isinstance(cluster_cfg, dict)
    src = REPO / repo_file
    if not src.exists():
        pytest.skip(f"{repo_file} not written yet")
    unknown = _keys(cluster_cfg) - _keys(yaml.safe_load(src.read_text()) or {})
    assert not unknown, f"keys in the {cm_name} ConfigMap but not in {repo_file}: {sorted(unknown)}"
