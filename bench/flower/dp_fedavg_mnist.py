"""Flower 1.x + Opacus DP-FedAvg on MNIST (CnnSmall): record-level DP-SGD on every client.

Same federation as fedavg_mnist.py; each client trains 1 local epoch with Opacus'
make_private (Poisson sampling, flat clipping C, Gaussian noise σ·C) [Abadi et al. 2016].
Per-client ε at δ is composed after the run with Opacus' RDP accountant
[Mironov 2017; Mironov, Talwar, Zhang 2019] over every client's (σ, q, steps) per round.
"""
import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
import flwr as fl  # noqa: E402
from opacus import PrivacyEngine  # noqa: E402
from opacus.accountants import RDPAccountant  # noqa: E402

import common  # noqa: E402
import fed  # noqa: E402


class Client(fl.client.NumPyClient):
    def __init__(self, cid, args):
        self.cid, self.a = cid, args

    def fit(self, parameters, config):
        a = self.a
        warnings.filterwarnings("ignore")
        torch.set_num_threads(a.client_threads)
        rnd = int(config.get("server_round", 0))
        x, y = common.client_data(self.cid, a.clients, a.seed)
        model = common.new_model(a.seed)
        common.set_params(model, parameters)
        # new_model() reseeded the global RNG that Opacus draws noise and Poisson masks from:
        # reseed per (client, round), else every client adds the *same* noise and FedAvg
        # cannot average it down.
        torch.manual_seed(a.seed * 1_000_003 + self.cid * 1009 + rnd * 7 + 1)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
        g = torch.Generator().manual_seed(a.seed * 1000 + self.cid * 10 + rnd)
        loader = DataLoader(TensorDataset(x, y), batch_size=a.batch, shuffle=True, generator=g)
        pe = PrivacyEngine(accountant="rdp", secure_mode=False)
        out = pe.make_private(module=model, optimizer=opt, data_loader=loader,
                              noise_multiplier=a.sigma, max_grad_norm=a.clip,
                              poisson_sampling=True)
        dp_model, dp_opt, dp_loader = out[0], out[1], out[-1]
        crit = nn.CrossEntropyLoss()
        for _ in range(a.epochs):
            for xb, yb in dp_loader:
                dp_opt.zero_grad()
                crit(dp_model(xb), yb).backward()
                dp_opt.step()
        # One (σ, q, steps) entry per local run; the server composes them across rounds.
        (sigma, q, steps), = pe.accountant.history
        return common.get_params(model), len(y), {"cid": self.cid, "sigma": sigma,
                                                   "sample_rate": q, "steps": steps}


def main():
    p = fed.base_args(argparse.ArgumentParser(description=__doc__))
    p.set_defaults(batch=64, lr=0.1, momentum=0.0)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--delta", type=float, default=1e-5)
    args = p.parse_args()
    args.uptime_before = fed.uptime()

    def client_fn(context):
        return Client(int(context.node_config["partition-id"]), args).to_client()

    def after(fit_metrics, result):
        hist = {}
        for round_metrics in fit_metrics:
            for m in round_metrics:
                hist.setdefault(int(m["cid"]), []).append(
                    (float(m["sigma"]), float(m["sample_rate"]), int(m["steps"])))
        eps = {}
        for cid, h in sorted(hist.items()):
            acc = RDPAccountant()
            acc.history = h
            eps[cid] = acc.get_epsilon(args.delta)
        result["privacy"] = {"delta": args.delta, "accountant": "opacus RDPAccountant",
                             "per_client_epsilon": eps, "max_epsilon": max(eps.values()),
                             "per_client_history": {c: h for c, h in hist.items()}}
        print(f"per-client epsilon at delta={args.delta}: max {max(eps.values()):.3f} "
              f"(sample rate {h[0][1]:.5f}, {sum(s for _, _, s in h)} steps)", flush=True)

    fed.run(args, client_fn, {"task": "dp-fedavg", "model": "cnn-small (tanh)", "split": "iid",
                              "dp": "opacus make_private, poisson sampling, flat clipping"},
            after=after)


if __name__ == "__main__":
    main()
