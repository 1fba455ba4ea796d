#!/usr/bin/env python3
"""The coordinator's metric contract (metrics_contract.txt) and checks against it.

Two uses:
* offline: `promql_metric_names` pulls metric names out of PromQL (alert rules,
  dashboard queries) so tests can check that each one is in the contract;
* live: `check_exposition` takes the text of a coordinator's GET /metrics and
  reports what is missing, mistyped, mislabelled or not in the contract.
  From the shell: `python3 tests/deploy/metrics_contract.py --url http://127.0.0.1:8080/metrics`
  (or `--file metrics.txt`); exit status 1 when the check fails.

Standard library only, so it runs without the deploy venv.
"""

from __future__ import annotations

import argparse
import re
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CONTRACT_FILE = Path(__file__).resolve().parent / "metrics_contract.txt"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Series that Prometheus itself writes for every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                        "scrape_samples_post_metric_relabeling", "scrape_series_added"}
TYPES = {"counter", "gauge", "histogram"}


@dataclass(frozen=True)
class Metric:
    """One contract line."""

    name: str
    type: str
    labels: frozenset[str]
    optional: bool

    def sample_names(self) -> set[str]:
        """Names the metric's samples carry in the exposition format."""
        if self.type == "histogram":
            return {self.name + s for s in HISTOGRAM_SUFFIXES}
        return {self.name}


def load_contract(path: Path = CONTRACT_FILE) -> dict[str, Metric]:
    """Parse metrics_contract.txt; raises ValueError on a malformed line."""
    out: dict[str, Metric] = {}
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (3, 4) or parts[1] not in TYPES or (len(parts) == 4 and parts[3] != "optional"):
            raise ValueError(f"{path}:{n}: expected 'NAME TYPE LABELS [optional]', got {raw!r}")
        name, typ, labels = parts[:3]
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", name) or name in out:
            raise ValueError(f"{path}:{n}: bad or duplicate metric name {name!r}")
        lbls = frozenset() if labels == "-" else frozenset(labels.split(","))
        out[name] = Metric(name, typ, lbls, len(parts) == 4)
    return out


def resolve(name: str, contract: dict[str, Metric]) -> Metric | None:
    """The contract metric a series name belongs to (histogram suffixes included)."""
    if name in contract:
        return contract[name]
    for suf in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suf)
        if base != name and base in contract and contract[base].type == "histogram":
            return contract[base]
    return None


# ---------------------------------------------------------------- PromQL ------

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "bool", "offset", "inf", "nan", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_TOKEN = re.compile(r"\$\{?\w+\}?|[0-9][0-9A-Za-z_.]*|\.[0-9]+|[a-zA-Z_:][a-zA-Z0-9_:]*|\S")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names that a PromQL expression selects.

    Strings, label matchers ({...}), ranges ([...]), grouping label lists
    (by (...), on (...)), numbers, durations, Grafana variables ($x) and
    function names (an identifier followed by '(') are not metric names.
    """
    s = _STRING.sub('""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = _GROUPING.sub(r"\1 ", s)
    toks = _TOKEN.findall(s)
    names = set()
    for i, t in enumerate(toks):
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", t) or t.lower() in _KEYWORDS:
            continue
        nxt = toks[i + 1].lower() if i + 1 < len(toks) else ""
        if nxt in ("(", "by", "without"):
            continue  # function call or aggregation: sum by (le) (...)
        names.add(t)
    return names


def grafana_query_metric_names(query: str) -> set[str]:
    """Metric names in a Grafana Prometheus variable query (label_values(...) etc.)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*", query)
    if m:
        return promql_metric_names(m.group(1))
    if re.fullmatch(r"\s*label_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*", query):
        return set()  # label_values(label): no metric
    if re.fullmatch(r"\s*(?:metrics|label_names)\(.*\)\s*", query):
        return set()  # a name regex or nothing: no selector to check
    m = re.fullmatch(r"\s*query_result\((.*)\)\s*", query)
    return promql_metric_names(m.group(1) if m else query)


def unknown_names(names: set[str], contract: dict[str, Metric]) -> set[str]:
    """Names neither in the contract nor written by Prometheus itself."""
    return {n for n in names if resolve(n, contract) is None and n not in PROMETHEUS_SYNTHETIC}


# ------------------------------------------------------------ exposition ------

@dataclass
class Exposition:
    """What a /metrics text declares: TYPE lines and the label names of each sample."""

    types: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[frozenset[str]]] = field(default_factory=dict)


def _label_names(block: str, lineno: int) -> frozenset[str]:
    names, i = [], 0
    while i < len(block):
        m = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"').match(block, i)
        if not m:
            if block[i:].strip(" ,") == "":
                break
            raise ValueError(f"line {lineno}: bad label set {{{block}}}")
        names.append(m.group(1))
        i = m.end()
        while i < len(block) and block[i] != '"':
            i += 2 if block[i] == "\\" else 1
        if i >= len(block):
            raise ValueError(f"line {lineno}: unterminated label value")
        i += 1
        while i < len(block) and block[i] in " ,":
            i += 1
    return frozenset(names)


def parse_exposition(text: str) -> Exposition:
    """Parse Prometheus text format 0.0.4 or OpenMetrics; raises ValueError when malformed."""
    exp = Exposition()
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                exp.types[parts[2]] = parts[3]
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m:
            raise ValueError(f"line {n}: not a sample: {line!r}")
        labels = _label_names(m.group(3) or "", n)
        exp.samples.setdefault(m.group(1), []).append(labels)
    return exp


@dataclass
class Report:
    """Outcome of check_exposition; `ok` when every list is empty."""

    missing: list[str] = field(default_factory=list)
    wrong_type: list[str] = field(default_factory=list)
    wrong_labels: list[str] = field(default_factory=list)
    not_in_contract: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_type or self.wrong_labels or self.not_in_contract)

    def lines(self) -> list[str]:
        out = []
        for title, items in (("missing", self.missing), ("wrong type", self.wrong_type),
                             ("wrong labels", self.wrong_labels),
                             ("not in contract", self.not_in_contract)):
            out += [f"{title}: {i}" for i in items]
        return out


def _declared_type(m: Metric, exp: Exposition) -> str | None:
    if m.name in exp.types:
        return exp.types[m.name]
    # OpenMetrics declares counters without the _total suffix.
    if m.type == "counter" and m.name.endswith("_total"):
        return exp.types.get(m.name.removesuffix("_total"))
    return None


def check_exposition(text: str, contract: dict[str, Metric] | None = None, *,
                     require_labelled: bool = True, fl_prefix: str = "fl_") -> Report:
    """Check a /metrics text against the contract.

    require_labelled=False lets metrics with labels (client_id, reason) be absent:
    they only appear once a client registers or an update is rejected.
    Every metric whose name starts with fl_prefix must be in the contract.
    """
    contract = contract if contract is not None else load_contract()
    exp = parse_exposition(text)
    rep = Report()
    for m in contract.values():
        present = [s for s in m.sample_names() if s in exp.samples]
        declared = _declared_type(m, exp)
        if not present and declared is None:
            if not m.optional and (require_labelled or not m.labels):
                rep.missing.append(m.name)
            continue
        if declared is not None and declared != m.type:
            rep.wrong_type.append(f"{m.name}: declared {declared}, contract {m.type}")
        if m.type == "histogram" and exp.samples and not (m.name + "_bucket") in exp.samples \
                and present:
            rep.wrong_type.append(f"{m.name}: no {m.name}_bucket samples (exported as a summary?)")
        for s in present:
            allowed = m.labels | ({"le"} if s.endswith("_bucket") else set())
            for lbls in exp.samples[s]:
                if lbls != allowed:
                    rep.wrong_labels.append(
                        f"{s}: labels {sorted(lbls)}, contract {sorted(allowed)}")
                    break
    for s in sorted(exp.samples):
        if s.startswith(fl_prefix) and resolve(s, contract) is None:
            rep.not_in_contract.append(s)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Check a coordinator's /metrics against the contract.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="e.g. http://127.0.0.1:8080/metrics")
    src.add_argument("--file", type=Path, help="a saved /metrics text")
    ap.add_argument("--allow-unobserved-labelled", action="store_true",
                    help="accept absent labelled metrics (before any client registers)")
    args = ap.parse_args(argv)
    if args.url:
        with urllib.request.urlopen(args.url, timeout=10) as r:  # noqa: S310 (operator-given URL)
            text = r.read().decode()
    else:
        text = args.file.read_text()
    try:
        rep = check_exposition(text, require_labelled=not args.allow_unobserved_labelled)
    except ValueError as e:
        print(f"unparseable metrics: {e}", file=sys.stderr)
        return 2
    for line in rep.lines():
        print(line)
    print("metrics contract: OK" if rep.ok else "metrics contract: FAILED")
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
