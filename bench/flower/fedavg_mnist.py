"""Flower 1.x + PyTorch FedAvg on MNIST (CnnSmall), the peer baseline for fl-sim.

10 clients, IID seeded split, all clients every round, 1 local epoch, SGD; centralised
evaluation on the 10,000 test images after each round. See README.md for the commands.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import flwr as fl  # noqa: E402

import common  # noqa: E402
import fed  # noqa: E402


class Client(fl.client.NumPyClient):
    def __init__(self, cid, args):
        self.cid, self.a = cid, args

    def fit(self, parameters, config):
        a = self.a
        torch.set_num_threads(a.client_threads)
        x, y = common.client_data(self.cid, a.clients, a.seed)
        model = common.new_model(a.seed)
        common.set_params(model, parameters)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
        g = torch.Generator().manual_seed(a.seed * 1000 + self.cid * 10 + int(config.get("server_round", 0)))
        for _ in range(a.epochs):
            perm = torch.randperm(len(y), generator=g)
            for i in range(0, len(y), a.batch):
                idx = perm[i:i + a.batch]
                opt.zero_grad()
                F.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        return common.get_params(model), len(y), {}


def main():
    args = fed.base_args(argparse.ArgumentParser(description=__doc__)).parse_args()
    args.uptime_before = fed.uptime()

    def client_fn(context):
        cid = int(context.node_config["partition-id"])
        return Client(cid, args).to_client()

    fed.run(args, client_fn, {"task": "fedavg", "model": "cnn-small (tanh)", "split": "iid"})


if __name__ == "__main__":
    main()
