"""Print a table of results/*.json: per-round accuracy, final accuracy, ε, wall time,
and the median over runs of the same configuration (file names end in _runN.json)."""
import glob
import json
import os
import re
import statistics
import sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
groups = {}
for path in sorted(glob.glob(os.path.join(d, "*.json"))):
    r = json.load(open(path))
    name = os.path.basename(path)[:-5]
    groups.setdefault(re.sub(r"_run\d+$", "", name), []).append(r)
    acc = " ".join(f"{x['accuracy'] * 100:.2f}" for x in r["rounds"])
    eps = r.get("privacy", {}).get("max_epsilon")
    eps_s = f" eps={eps:.3f}" if eps is not None else ""
    print(f"{name}: rounds [{acc}] % final {r['final_accuracy'] * 100:.2f} %{eps_s} "
          f"total {r['total_seconds']:.1f} s (rounds {r['rounds_seconds']:.1f} s) | {r['config']['uptime_before']}")
for g, rs in groups.items():
    print(f"median {g} (n={len(rs)}): final {statistics.median(x['final_accuracy'] for x in rs) * 100:.2f} %, "
          f"total {statistics.median(x['total_seconds'] for x in rs):.1f} s, "
          f"rounds {statistics.median(x['rounds_seconds'] for x in rs):.1f} s")
