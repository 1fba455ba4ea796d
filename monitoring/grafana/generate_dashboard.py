#!/usr/bin/env python3
"""Generate dashboards/fl.json, the Grafana dashboard for the FL coordinator.

The JSON is generated so the panels stay consistent (datasource, instance
filter, units) and so tests can check every query against the metric contract.
Run `python3 monitoring/grafana/generate_dashboard.py` after editing, or with
`--check` to fail when the committed JSON is stale (tests/deploy does this).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards" / "fl.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
INST = 'instance=~"$instance"'
CLIENT = 'instance=~"$instance",client_id=~"$client_id"'
RI = "$__rate_interval"

_next_id = 0


def _id() -> int:
    global _next_id
    _next_id += 1
    return _next_id


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict:
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
    if instant:
        t.update({"instant": True, "range": False})
    return t


def targets(*pairs: tuple[str, str]) -> list[dict]:
    return [target(e, l, chr(ord("A") + i)) for i, (e, l) in enumerate(pairs)]


def row(title: str, y: int) -> dict:
    return {"type": "row", "id": _id(), "title": title, "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}}


def stat(title: str, expr: str, x: int, y: int, unit: str = "short", w: int = 4,
         mappings: list | None = None, thresholds: list | None = None) -> dict:
    return {
        "type": "stat", "id": _id(), "title": title, "datasource": DS,
        "gridPos": {"h": 4, "w": w, "x": x, "y": y},
        "targets": [target(expr, "{{instance}}")],
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value", "graphMode": "area", "textMode": "auto"},
        "fieldConfig": {"defaults": {
            "unit": unit,
            "mappings": mappings or [],
            "thresholds": {"mode": "absolute",
                           "steps": thresholds or [{"color": "green", "value": None}]},
        }, "overrides": []},
    }


def timeseries(title: str, tgts: list[dict], x: int, y: int, w: int = 12, h: int = 8,
               unit: str = "short", thresholds: list | None = None, desc: str = "") -> dict:
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False}
    if thresholds:
        custom["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries", "id": _id(), "title": title, "description": desc, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "targets": tgts,
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
        "fieldConfig": {"defaults": {
            "unit": unit, "custom": custom,
            "thresholds": {"mode": "absolute",
                           "steps": thresholds or [{"color": "green", "value": None}]},
        }, "overrides": []},
    }


def quantiles(metric: str) -> list[dict]:
    pairs = [(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{INST}}}[{RI}])))",
              f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)]
    pairs.append((f"sum(rate({metric}_sum{{{INST}}}[{RI}])) / sum(rate({metric}_count{{{INST}}}[{RI}]))",
                  "mean"))
    return targets(*pairs)


BUDGET_STEPS = [{"color": "green", "value": None}, {"color": "orange", "value": 0.8},
                {"color": "red", "value": 1}]
STATE_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "idle", "color": "blue", "index": 0},
    "1": {"text": "running", "color": "green", "index": 1},
    "2": {"text": "paused", "color": "orange", "index": 2},
    "3": {"text": "finished", "color": "purple", "index": 3}}}]


def panels() -> list[dict]:
    p: list[dict] = []
    y = 0
    p.append(row("Training progress", y)); y += 1
    p += [
        stat("Current round", f"fl_current_round{{{INST}}}", 0, y),
        stat("Training state", f"fl_training_state{{{INST}}}", 4, y, mappings=STATE_MAPPINGS),
        stat("Rounds completed", f"fl_rounds_completed_total{{{INST}}}", 8, y),
        stat("Since last completed round",
             f"time() - fl_last_round_completed_timestamp_seconds{{{INST}}}", 12, y, unit="s",
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 600},
                         {"color": "red", "value": 900}]),
        stat("Clients connected", f"fl_clients_connected{{{INST}}}", 16, y),
        stat("Max epsilon spent (any client)", f"fl_epsilon_spent_max{{{INST}}}", 20, y),
    ]
    y += 4
    p += [
        timeseries("Global accuracy", targets((f"fl_global_accuracy{{{INST}}}", "{{instance}}")),
                   0, y, unit="percentunit"),
        timeseries("Global loss", targets((f"fl_global_loss{{{INST}}}", "{{instance}}")), 12, y),
    ]
    y += 8
    p.append(row("Privacy budget", y)); y += 1
    p += [
        timeseries("Budget used per client (spent / budget)",
                   targets((f"fl_client_budget_fraction{{{CLIENT}}}", "{{client_id}}")),
                   0, y, unit="percentunit", thresholds=BUDGET_STEPS,
                   desc="Alerts fire at 80% (FLPrivacyBudgetHigh) and 100% (FLPrivacyBudgetExhausted)."),
        timeseries("Epsilon spent and budget per client",
                   targets((f"fl_client_epsilon_spent{{{CLIENT}}}", "spent {{client_id}}"),
                           (f"fl_client_epsilon_budget{{{CLIENT}}}", "budget {{client_id}}")),
                   12, y),
    ]
    y += 8
    p += [
        timeseries("Remaining epsilon per client",
                   targets((f"fl_privacy_budget_remaining{{{CLIENT}}}", "{{client_id}}")), 0, y),
        timeseries("Clients with >= 80% of budget used",
                   targets((f"count(fl_client_budget_fraction{{{INST}}} >= 0.8) or vector(0)", ">= 80%"),
                           (f"count(fl_client_budget_fraction{{{INST}}} >= 1) or vector(0)", "exhausted")),
                   12, y),
    ]
    y += 8
    p.append(row("Clients and updates", y)); y += 1
    p += [
        timeseries("Clients connected / registered",
                   targets((f"fl_clients_connected{{{INST}}}", "connected"),
                           (f"fl_clients_registered{{{INST}}}", "registered")), 0, y, w=8),
        timeseries("Client dropouts per minute",
                   targets((f"sum(rate(fl_client_dropouts_total{{{INST}}}[{RI}])) * 60", "dropouts/min")),
                   8, y, w=8),
        timeseries("Updates per second (rejected by reason)",
                   targets((f"sum(rate(fl_updates_accepted_total{{{INST}}}[{RI}]))", "accepted"),
                           (f"sum by (reason) (rate(fl_updates_rejected_total{{{INST}}}[{RI}]))",
                            "rejected: {{reason}}")), 16, y, w=8, unit="ops"),
    ]
    y += 8
    p.append(row("Latency", y)); y += 1
    p += [
        timeseries("Round duration", quantiles("fl_round_duration_seconds"), 0, y, unit="s"),
        timeseries("Aggregation latency", quantiles("fl_aggregation_seconds"), 12, y, unit="s"),
    ]
    y += 8
    p.append(row("Network", y)); y += 1
    p += [
        timeseries("Bytes per second",
                   targets((f"sum(rate(fl_bytes_received_total{{{INST}}}[{RI}]))", "received"),
                           (f"sum(rate(fl_bytes_sent_total{{{INST}}}[{RI}]))", "sent")),
                   0, y, unit="Bps"),
        timeseries("Bytes per completed round (1h window)",
                   targets((f"sum(increase(fl_bytes_received_total{{{INST}}}[1h])) / "
                            f"clamp_min(sum(increase(fl_rounds_completed_total{{{INST}}}[1h])), 1)",
                            "received/round"),
                           (f"sum(increase(fl_bytes_sent_total{{{INST}}}[1h])) / "
                            f"clamp_min(sum(increase(fl_rounds_completed_total{{{INST}}}[1h])), 1)",
                            "sent/round")),
                   12, y, unit="bytes"),
    ]
    y += 8
    p.append(row("Coordinator process", y)); y += 1
    p += [
        timeseries("Resident memory",
                   targets((f"process_resident_memory_bytes{{job=\"fl-coordinator\",{INST}}}",
                            "{{instance}}")), 0, y, unit="bytes"),
        timeseries("CPU (cores)",
                   targets((f"rate(process_cpu_seconds_total{{job=\"fl-coordinator\",{INST}}}[{RI}])",
                            "{{instance}}")), 12, y),
    ]
    return p


def templating() -> dict:
    def query_var(name: str, label: str, query: str) -> dict:
        return {"type": "query", "name": name, "label": label, "datasource": DS,
                "definition": query, "query": {"query": query, "refId": f"{name}-var"},
                "refresh": 2, "multi": True, "includeAll": True, "allValue": ".*",
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "sort": 1, "hide": 0, "options": []}

    return {"list": [
        {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
         "current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
         "hide": 0, "options": [], "refresh": 1},
        query_var("instance", "Coordinator", "label_values(fl_current_round, instance)"),
        query_var("client_id", "Client",
                  'label_values(fl_client_budget_fraction{instance=~"$instance"}, client_id)'),
    ]}


def dashboard() -> dict:
    global _next_id
    _next_id = 0
    return {
        "uid": "fl-coordinator",
        "title": "Federated learning: coordinator",
        "description": "Training progress, privacy budgets, clients, latency and throughput of fl-coordinator.",
        "tags": ["federated-learning", "fl"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": templating(),
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if dashboards/fl.json is stale")
    args = ap.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
