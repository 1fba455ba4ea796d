#!/usr/bin/env python3
"""Accuracy-epsilon curve of record-level DP runs (fl-sim reports) with the Flower + Opacus
reference, written to docs/privacy_curve.png.

    /work/bench-venv/bin/python bench/plot_privacy.py bench/results/dp_eps1.json \
        bench/results/dp_eps3.json bench/results/dp_eps8.json [--flower bench/flower/results/X.json]

Epsilon on the x axis is the largest per-client epsilon spent (delta 1e-5, RDP + Balle),
read from each report. Reports of the main series with the same epsilon budget are repeated
runs: the curve shows their median, the error bar their range.
"""
import argparse
import json
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def point(path):
    r = json.load(open(path))
    eps = max((c.get("epsilon") or 0.0) for c in r["clients"].values())
    return eps, 100.0 * r["final_accuracy"]


def medians(paths):
    """Groups repeated runs by their ε budget: (ε spent, median, min, max accuracy)."""
    groups = {}
    for p in paths:
        budget = json.load(open(p))["config"]["epsilon"]
        groups.setdefault(budget, []).append(point(p))
    out = []
    for runs in groups.values():
        accs = sorted(a for _, a in runs)
        out.append((max(e for e, _ in runs), statistics.median(accs), accs[0], accs[-1]))
    return sorted(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--flower", action="append", default=[])
    ap.add_argument("--label", default="fl-sim, 20 rounds")
    ap.add_argument("--alt", nargs="*", default=[], help="a second series of reports")
    ap.add_argument("--alt-label", default="fl-sim, 10 rounds")
    ap.add_argument("--nodp", help="non-private fl-sim report (horizontal line)")
    ap.add_argument("--nodp-label", default="no DP")
    ap.add_argument("--peer-setting", help="fl-sim report in the Flower run's exact setting")
    ap.add_argument("--out", default="docs/privacy_curve.png")
    a = ap.parse_args()
    groups = medians(a.reports)
    pts = [(e, m) for e, m, _, _ in groups]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.errorbar(
        [g[0] for g in groups],
        [g[1] for g in groups],
        yerr=[[g[1] - g[2] for g in groups], [g[3] - g[1] for g in groups]],
        fmt="o-",
        capsize=3,
        label=a.label,
    )
    if a.alt:
        alt = sorted(point(p) for p in a.alt)
        ax.plot([p[0] for p in alt], [p[1] for p in alt], "^--", label=a.alt_label)
        for e, acc in alt:
            ax.annotate(f"{acc:.2f} %", (e, acc), textcoords="offset points", xytext=(6, -12), fontsize=8, color="tab:orange")
    for e, acc in pts:
        ax.annotate(f"{acc:.2f} %", (e, acc), textcoords="offset points", xytext=(-14, 7), fontsize=8)
    for f in a.flower:
        r = json.load(open(f))
        e, acc = r["privacy"]["max_epsilon"], 100.0 * r["final_accuracy"]
        ax.plot([e], [acc], "s", color="tab:red", label=f"Flower + Opacus ({acc:.1f} %)")
    if a.peer_setting:
        e, acc = point(a.peer_setting)
        ax.plot([e], [acc], "D", color="tab:green", label=f"fl-sim, Flower's setting ({acc:.1f} %)")
    if a.nodp:
        acc = 100.0 * json.load(open(a.nodp))["final_accuracy"]
        ax.axhline(acc, ls="--", color="gray", label=f"{a.nodp_label} ({acc:.2f} %)")
    ax.set_xlabel("per-client ε (δ = 1e-5)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("10 clients IID, record-level DP-SGD")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(a.out)
    print(f"wrote {a.out}: " + ", ".join(f"ε={e:.2f} → {acc:.2f} %" for e, acc in pts))


if __name__ == "__main__":
    main()
