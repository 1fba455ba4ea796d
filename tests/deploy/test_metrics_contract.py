"""The metric-contract checker itself (used offline and against a live coordinator)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import DEPLOY_TESTS
from metrics_contract import (check_exposition, grafana_query_metric_names, load_contract,
                              parse_exposition, promql_metric_names)


def good_exposition(contract, skip=(), openmetrics=False) -> str:
    """A /metrics text that satisfies the contract, built from the contract itself."""
    lines = []
    for m in contract.values():
        if m.name in skip:
            continue
        labels = ",".join(f'{lbl}="x"' for lbl in sorted(m.labels))
        type_name = m.name.removesuffix("_total") if openmetrics and m.type == "counter" else m.name
        lines.append(f"# HELP {type_name} test")
        lines.append(f"# TYPE {type_name} {m.type}")
        if m.type == "histogram":
            for le in ("0.5", "+Inf"):
                lb = ",".join(filter(None, [labels, f'le="{le}"']))
                lines.append(f"{m.name}_bucket{{{lb}}} 1")
            lines.append(f"{m.name}_sum{{{labels}}} 0.2" if labels else f"{m.name}_sum 0.2")
            lines.append(f"{m.name}_count{{{labels}}} 1" if labels else f"{m.name}_count 1")
        else:
            lines.append(f"{m.name}{{{labels}}} 1" if labels else f"{m.name} 1")
    if openmetrics:
        lines.append("# EOF")
    return "\n".join(lines) + "\n"


def test_contract_file_parses(contract):
    assert "fl_client_budget_fraction" in contract
    assert contract["fl_round_duration_seconds"].type == "histogram"
    assert contract["fl_updates_rejected_total"].labels == {"reason"}
    assert contract["process_cpu_seconds_total"].optional


def test_contract_names_follow_prometheus_conventions(contract):
    for m in contract.values():
        if m.type == "counter":
            assert m.name.endswith("_total"), m.name
        else:
            assert not m.name.endswith("_total"), m.name


def test_malformed_contract_is_rejected(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("fl_x summary -\n")
    with pytest.raises(ValueError):
        load_contract(f)


@pytest.mark.parametrize("openmetrics", [False, True])
def test_complete_exposition_passes(contract, openmetrics):
    rep = check_exposition(good_exposition(contract, openmetrics=openmetrics), contract)
    assert rep.ok, rep.lines()


def test_missing_metric_is_reported(contract):
    rep = check_exposition(good_exposition(contract, skip={"fl_global_loss"}), contract)
    assert rep.missing == ["fl_global_loss"]


def test_optional_metric_may_be_absent(contract):
    rep = check_exposition(good_exposition(contract, skip={"process_cpu_seconds_total"}), contract)
    assert rep.ok, rep.lines()


def test_unobserved_labelled_metrics(contract):
    text = good_exposition(contract, skip={"fl_client_epsilon_spent", "fl_updates_rejected_total"})
    assert set(check_exposition(text, contract).missing) == {"fl_client_epsilon_spent",
                                                             "fl_updates_rejected_total"}
    assert check_exposition(text, contract, require_labelled=False).ok


def test_declared_but_unobserved_metric_counts_as_present(contract):
    text = good_exposition(contract, skip={"fl_updates_rejected_total"})
    text += "# TYPE fl_updates_rejected_total counter\n"
    assert check_exposition(text, contract).ok


def test_histogram_exported_as_summary_is_reported(contract):
    text = good_exposition(contract, skip={"fl_aggregation_seconds"})
    text += ("# TYPE fl_aggregation_seconds summary\n"
             'fl_aggregation_seconds{quantile="0.5"} 0.1\n'
             "fl_aggregation_seconds_sum 1\nfl_aggregation_seconds_count 3\n")
    rep = check_exposition(text, contract)
    assert any("fl_aggregation_seconds" in w for w in rep.wrong_type), rep.lines()


def test_wrong_type_is_reported(contract):
    text = good_exposition(contract).replace("# TYPE fl_current_round gauge",
                                             "# TYPE fl_current_round counter")
    assert check_exposition(text, contract).wrong_type


def test_wrong_labels_are_reported(contract):
    text = good_exposition(contract).replace('fl_client_budget_fraction{client_id="x"}',
                                             'fl_client_budget_fraction{client="x"}')
    rep = check_exposition(text, contract)
    assert any(w.startswith("fl_client_budget_fraction") for w in rep.wrong_labels), rep.lines()


def test_metric_outside_contract_is_reported(contract):
    text = good_exposition(contract) + 'fl_new_thing{a="b"} 1\n'
    assert check_exposition(text, contract).not_in_contract == ["fl_new_thing"]


def test_label_values_with_escapes_parse():
    exp = parse_exposition('m{a="x\\"}{,",b="y"} 1\n')
    assert exp.samples["m"] == [frozenset({"a", "b"})]


def test_garbage_exposition_raises():
    with pytest.raises(ValueError):
        parse_exposition("{oops} 1\n")


def test_cli_reads_a_file(tmp_path, contract):
    f = tmp_path / "metrics.txt"
    f.write_text(good_exposition(contract))
    ok = subprocess.run([sys.executable, str(DEPLOY_TESTS / "metrics_contract.py"), "--file", str(f)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    f.write_text(good_exposition(contract, skip={"fl_current_round"}))
    bad = subprocess.run([sys.executable, str(DEPLOY_TESTS / "metrics_contract.py"), "--file", str(f)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "missing: fl_current_round" in bad.stdout


@pytest.mark.parametrize("expr,names", [
    ("fl_a", {"fl_a"}),
    ('rate(fl_a_total{job="x",l=~"a|b"}[5m])', {"fl_a_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(fl_h_bucket[$__rate_interval])))", {"fl_h_bucket"}),
    ("sum(fl_a) by (instance) / on(instance) group_left(client_id) fl_b", {"fl_a", "fl_b"}),
    ("fl_a > 1e9 and fl_b offset 5m unless fl_c @ end()", {"fl_a", "fl_b", "fl_c"}),
    ('count(fl_a{x="sum(fake_metric)"}) or vector(0)', {"fl_a"}),
    ("time() - fl_ts > 900", {"fl_ts"}),
])
def test_promql_metric_names(expr, names):
    assert promql_metric_names(expr) == names


def test_grafana_variable_queries():
    assert grafana_query_metric_names("label_values(fl_a{x=~\"$y\"}, client_id)") == {"fl_a"}
    assert grafana_query_metric_names("label_values(instance)") == set()
    assert grafana_query_metric_names("query_result(max(fl_b))") == {"fl_b"}
