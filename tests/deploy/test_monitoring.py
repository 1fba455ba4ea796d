"""Prometheus config, alert rules and their unit tests, Grafana dashboard."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import REPO, require_tool, run
from metrics_contract import grafana_query_metric_names, promql_metric_names, unknown_names

PROM = REPO / "monitoring" / "prometheus"
GRAFANA = REPO / "monitoring" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "fl.json"
REQUIRED_ALERTS = {"FLPrivacyBudgetHigh", "FLPrivacyBudgetExhausted", "FLRoundStalled",
                   "FLClientDropRateHigh", "FLUpdateRejectionSpike"}


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for p in dashboard()["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


# ---- promtool ----------------------------------------------------------------------

def test_promtool_check_config():
    r = run([require_tool("promtool"), "check", "config", str(PROM / "prometheus.yml")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_check_rules():
    r = run([require_tool("promtool"), "check", "rules", str(PROM / "alerts.yml")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_test_rules():
    r = run([require_tool("promtool"), "test", "rules", str(PROM / "alerts_test.yml")])
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


# ---- alert rules -------------------------------------------------------------------

def test_required_alerts_exist():
    names = {r["alert"] for r in alert_rules()}
    assert REQUIRED_ALERTS <= names, REQUIRED_ALERTS - names


def test_alert_names_unique():
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_and_annotations(rule):
    assert rule.get("labels", {}).get("severity") in {"warning", "critical"}
    assert {"summary", "description"} <= set(rule.get("annotations", {}))


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_metrics_in_contract(rule, contract):
    names = promql_metric_names(rule["expr"])
    assert names, f"no metric found in {rule['expr']!r}"
    assert not unknown_names(names, contract), unknown_names(names, contract)


def test_budget_alert_thresholds():
    by_name = {r["alert"]: r["expr"] for r in alert_rules()}
    assert re.search(r"fl_client_budget_fraction\s*>=\s*0\.8\b", by_name["FLPrivacyBudgetHigh"])
    assert re.search(r"fl_client_budget_fraction\s*>=\s*1\b", by_name["FLPrivacyBudgetExhausted"])
    assert "fl_training_state == 1" in by_name["FLRoundStalled"]


def test_every_alert_has_firing_and_quiet_unit_tests():
    doc = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    assert doc["rule_files"] == ["alerts.yml"]
    firing, quiet = set(), set()
    for t in doc["tests"]:
        for case in t.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - firing == set(), f"alerts never tested firing: {names - firing}"
    assert names - quiet == set(), f"alerts never tested quiet: {names - quiet}"


# ---- Grafana -------------------------------------------------------------------------

def test_dashboard_matches_generator():
    r = run(["python3", str(GRAFANA / "generate_dashboard.py"), "--check"])
    assert r.returncode == 0, r.stderr


def test_dashboard_structure():
    d = dashboard()
    assert d["uid"] and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['title']!r} overlaps another"
                cells.add((x, y))
        if p["type"] != "row":
            assert p.get("targets"), f"panel {p['title']!r} has no query"


def test_dashboard_covers_required_sections():
    titles = " | ".join(p["title"].lower() for p in dashboard()["panels"])
    for word in ("round", "accuracy", "loss", "budget", "clients connected", "duration",
                 "aggregation", "bytes", "memory", "cpu"):
        assert word in titles, f"no panel about {word!r}"


def test_dashboard_metrics_in_contract(contract):
    for title, expr in dashboard_exprs():
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert not unknown_names(names, contract), (title, unknown_names(names, contract))
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            names = grafana_query_metric_names(var["query"]["query"])
            assert names and not unknown_names(names, contract), var["name"]


def test_every_contract_metric_is_on_the_dashboard(contract):
    shown = set()
    for _, expr in dashboard_exprs():
        shown |= promql_metric_names(expr)
    from metrics_contract import resolve
    covered = {resolve(n, contract).name for n in shown if resolve(n, contract)}
    assert set(contract) - covered == set()


def test_dashboard_queries_are_valid_promql(tmp_path):
    """promtool parses every dashboard query (as a recording rule)."""
    subst = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
    rules = []
    for i, (_, expr) in enumerate(dashboard_exprs()):
        for k, v in subst.items():
            expr = expr.replace(k, v)
        expr = re.sub(r"\$\{?(\w+)\}?", ".*", expr)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    f = tmp_path / "dashboard_rules.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = run([require_tool("promtool"), "check", "rules", str(f)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_grafana_provisioning():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (src,) = ds["datasources"]
    assert src["type"] == "prometheus" and src["url"].startswith("http://prometheus:9090")
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "fl.yml").read_text())
    (p,) = prov["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{p['options']['path']}:ro" in mounts
