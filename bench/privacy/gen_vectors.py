#!/usr/bin/env python3
"""Reference vectors for fl-core's privacy accountants.

Runs the real accountant code of Opacus 1.6 (RDP with both conversions, PRV,
get_noise_multiplier) and Google's dp-accounting (PLD, RDP) on ~20
(q, sigma, steps, delta) points and a few calibration targets, and writes
crates/fl-core/tests/testdata/privacy_vectors.json.

Setup (outside the repo, never in CI):
    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install numpy scipy dp-accounting
    /work/bench-venv/bin/pip install --no-deps 'opacus==1.6.*'
    /work/bench-venv/bin/python bench/privacy/gen_vectors.py

Opacus' package __init__ and `accountants/accountant.py` import torch. To avoid
that, the accountant modules are loaded by file path under stub parent packages,
and `IAccountant` is replaced by a minimal base class holding `history` (all
Opacus' IAccountant contributes to RDP/PRV accounting). Every formula that
produces a number below is Opacus' or dp-accounting's own code.
"""

import importlib.metadata
import importlib.util
import json
import math
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "crates/fl-core/tests/testdata/privacy_vectors.json"


def load_opacus():
    spec = importlib.util.find_spec("opacus")  # locates, does not import
    root = Path(spec.submodule_search_locations[0])
    acc = root / "accountants"
    for name, path in [
        ("opacus", root),
        ("opacus.accountants", acc),
        ("opacus.accountants.analysis", acc / "analysis"),
    ]:
        mod = types.ModuleType(name)
        mod.__path__ = [str(path)]
        sys.modules[name] = mod

    stub = types.ModuleType("opacus.accountants.accountant")

    class IAccountant:  # the only part of Opacus' base class accounting uses
        def __init__(self):
            self.history = []

    stub.IAccountant = IAccountant
    sys.modules[stub.__name__] = stub

    def load(name, path, package=False):
        kw = {"submodule_search_locations": [str(path.parent)]} if package else {}
        s = importlib.util.spec_from_file_location(name, path, **kw)
        m = importlib.util.module_from_spec(s)
        sys.modules[name] = m
        s.loader.exec_module(m)
        return m

    rdp_analysis = load("opacus.accountants.analysis.rdp", acc / "analysis/rdp.py")
    sys.modules["opacus.accountants.analysis"].rdp = rdp_analysis
    rdp_acc = load("opacus.accountants.rdp", acc / "rdp.py")
    load("opacus.accountants.analysis.prv", acc / "analysis/prv/__init__.py", package=True)
    prv_acc = load("opacus.accountants.prv", acc / "prv.py")
    # utils.get_noise_multiplier only needs create_accountant from the package.
    kinds = {"rdp": rdp_acc.RDPAccountant, "prv": prv_acc.PRVAccountant}
    sys.modules["opacus.accountants"].create_accountant = lambda mechanism: kinds[mechanism]()
    utils = load("opacus.accountants.utils", acc / "utils.py")
    return rdp_analysis, rdp_acc.RDPAccountant, prv_acc.PRVAccountant, utils.get_noise_multiplier


RDP, RDPAccountant, PRVAccountant, get_noise_multiplier = load_opacus()
import dp_accounting  # noqa: E402
from dp_accounting.pld import pld_privacy_accountant  # noqa: E402
from dp_accounting.rdp import rdp_privacy_accountant  # noqa: E402

ORDERS = RDPAccountant.DEFAULT_ALPHAS

# (name, history [(sigma, q, steps)], delta)
POINTS = [
    ("opacus_mnist_readme", [(1.1, 240 / 60000, 15000)], 1e-5),
    ("tf_privacy_tutorial", [(1.1, 256 / 60000, math.ceil(60 * 60000 / 256))], 1e-5),
    ("q0.01_s1.0_t1000", [(1.0, 0.01, 1000)], 1e-5),
    ("q0.01_s0.8_t10000_large_eps", [(0.8, 0.01, 10000)], 1e-5),
    ("q0.001_s2_t30000", [(2.0, 0.001, 30000)], 1e-6),
    ("q0.1_s1_t100", [(1.0, 0.1, 100)], 1e-5),
    ("q0.1_s4_t1000", [(4.0, 0.1, 1000)], 1e-5),
    ("q0.02_s5_t500_small_eps", [(5.0, 0.02, 500)], 1e-5),
    ("q1_s2_t10_full_batch", [(2.0, 1.0, 10)], 1e-5),
    ("q1_s10_t100_full_batch", [(10.0, 1.0, 100)], 1e-6),
    ("q0.5_s1.5_t50", [(1.5, 0.5, 50)], 1e-3),
    ("q0.05_s0.6_t2000_very_large_eps", [(0.6, 0.05, 2000)], 1e-5),
    ("q0.004_s0.7_t15000", [(0.7, 0.004, 15000)], 1e-5),
    ("q0.003_s1.3_t50000", [(1.3, 0.003, 50000)], 1e-5),
    ("q0.2_s0.9_t200", [(0.9, 0.2, 200)], 1e-4),
    ("q0.1_s1_t1_single_step", [(1.0, 0.1, 1)], 1e-5),
    ("fedavg_30_of_100_clients_s2_r30", [(2.0, 0.3, 30)], 1e-5),
    ("q0.01_s1_t100_delta1e-2", [(1.0, 0.01, 100)], 1e-2),
    ("q0.05_s1.2_t3000_delta1e-8", [(1.2, 0.05, 3000)], 1e-8),
    ("heterogeneous_s1_then_s2", [(1.0, 0.01, 500), (2.0, 0.01, 500)], 1e-5),
    ("heterogeneous_q_change", [(1.1, 0.004, 5000), (1.1, 0.008, 2000), (1.5, 0.004, 3000)], 1e-5),
]


# (target_epsilon, delta, q, steps, accountant) for Opacus' get_noise_multiplier
CALIBRATION = [
    (3.0, 1e-5, 240 / 60000, 15000, "rdp"),
    (1.0, 1e-5, 0.01, 1000, "rdp"),
    (8.0, 1e-6, 0.1, 500, "rdp"),
    (0.5, 1e-5, 0.3, 30, "rdp"),
    (2.0, 1e-5, 0.02, 300, "prv"),
    (5.0, 1e-5, 0.01, 2000, "prv"),
]


def opacus_rdp(history, delta):
    rdp = sum(RDP.compute_rdp(q=q, noise_multiplier=s, steps=t, orders=ORDERS) for s, q, t in history)
    balle, balle_order = RDP.get_privacy_spent(orders=ORDERS, rdp=rdp, delta=delta)
    orders = np.array(ORDERS, dtype=float)
    classic_vec = rdp - math.log(delta) / (orders - 1)  # Mironov 2017, Prop. 3
    i = int(np.nanargmin(classic_vec))
    return float(balle), float(balle_order), float(classic_vec[i]), float(orders[i])


def opacus_prv(history, delta):
    acc = PRVAccountant()
    acc.history = list(history)
    return float(acc.get_epsilon(delta=delta))


def dp_event(history):
    events = [
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(s)), t
        )
        for s, q, t in history
    ]
    return dp_accounting.ComposedDpEvent(events)


def dpa_pld(history, delta):
    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(dp_event(history))
    return float(acc.get_epsilon(delta))


def dpa_rdp(history, delta):
    acc = rdp_privacy_accountant.RdpAccountant()
    acc.compose(dp_event(history))
    return float(acc.get_epsilon(delta))


def main():
    warnings.simplefilter("ignore")
    vectors = []
    for name, history, delta in POINTS:
        t0 = time.perf_counter()
        balle, balle_order, classic, classic_order = opacus_rdp(history, delta)
        prv = opacus_prv(history, delta)
        pld = dpa_pld(history, delta)
        drdp = dpa_rdp(history, delta)
        dt = time.perf_counter() - t0
        print(f"{name:34s} rdp_balle={balle:9.4f} rdp_classic={classic:9.4f} prv={prv:9.4f} "
              f"pld={pld:9.4f} dpa_rdp={drdp:9.4f} ({dt:.1f}s)", flush=True)
        vectors.append({
            "name": name,
            "history": [{"noise_multiplier": s, "sample_rate": q, "steps": t} for s, q, t in history],
            "delta": delta,
            "opacus_rdp_balle": balle,
            "opacus_rdp_balle_order": balle_order,
            "opacus_rdp_classic": classic,
            "opacus_rdp_classic_order": classic_order,
            "opacus_prv": prv,
            "dp_accounting_pld": pld,
            "dp_accounting_rdp": drdp,
        })
    calibration = []
    for target, delta, q, steps, kind in CALIBRATION:
        t0 = time.perf_counter()
        sigma = get_noise_multiplier(
            target_epsilon=target, target_delta=delta, sample_rate=q, steps=steps, accountant=kind
        )
        print(f"calibrate {kind} eps={target} delta={delta} q={q:.4g} steps={steps}: sigma={sigma:.6f} "
              f"({time.perf_counter() - t0:.1f}s)", flush=True)
        calibration.append({
            "target_epsilon": target, "delta": delta, "sample_rate": q, "steps": steps,
            "accountant": kind, "opacus_noise_multiplier": float(sigma),
        })
    doc = {
        "generator": "bench/privacy/gen_vectors.py",
        "opacus": importlib.metadata.version("opacus"),
        "dp_accounting": importlib.metadata.version("dp-accounting"),
        "numpy": np.__version__,
        "scipy": importlib.metadata.version("scipy"),
        "orders": ORDERS,
        "vectors": vectors,
        "calibration": calibration,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
