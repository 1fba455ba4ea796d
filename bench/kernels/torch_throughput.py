#!/usr/bin/env python3
"""PyTorch / Opacus samples-per-second for the fl-kernels reference CNNs.

Mirrors crates/fl-kernels/examples/throughput.rs: same networks, same step definitions,
median of per-step times after warm-up.

    OMP_WAIT_POLICY=PASSIVE /work/bench-venv/bin/python bench/kernels/torch_throughput.py \
        [--arch cnn-small|cnn-fedavg] [--act tanh|relu] [--reps 30] [--batches 64,256] \
        [--eval-batch 1000] [--threads 2] [--modes train,dp_gsm,dp_private,eval]

Modes:
  train       nn.Module + optim.SGD, mean cross-entropy.
  dp_gsm      opacus GradSampleModule(loss_reduction="sum"), manual flat clipping
              (factor min(1, C/(norm+1e-6)), C=1), sum, N(0, sigma^2 C^2) noise (sigma=1), /B, SGD.
  dp_private  opacus PrivacyEngine.make_private (poisson_sampling=False, C=1, sigma=1), DPOptimizer.
  eval        torch.no_grad forward + cross-entropy sum + argmax accuracy.
"""
import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

warnings.filterwarnings("ignore")


class Net(nn.Module):
    def __init__(self, arch, act):
        super().__init__()
        self.act = torch.tanh if act == "tanh" else F.relu
        if arch == "cnn-small":
            self.conv1 = nn.Conv2d(1, 16, 8, 2, padding=3)
            self.conv2 = nn.Conv2d(16, 32, 4, 2)
            self.fc1 = nn.Linear(32 * 4 * 4, 32)
            self.fc2 = nn.Linear(32, 10)
            self.pool = (2, 1)
        else:
            self.conv1 = nn.Conv2d(1, 32, 5, 1, padding=2)
            self.conv2 = nn.Conv2d(32, 64, 5, 1, padding=2)
            self.fc1 = nn.Linear(64 * 7 * 7, 512)
            self.fc2 = nn.Linear(512, 10)
            self.pool = (2, 2)

    def forward(self, x):
        k, s = self.pool
        x = F.max_pool2d(self.act(self.conv1(x)), k, s)
        x = F.max_pool2d(self.act(self.conv2(x)), k, s)
        x = x.flatten(1)
        return self.fc2(self.act(self.fc1(x)))


def median_ms(step, reps, warmup=3):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def data(b):
    g = torch.Generator().manual_seed(b)
    return torch.randn(b, 1, 28, 28, generator=g), torch.randint(0, 10, (b,), generator=g)


def bench_train(args, b):
    model = Net(args.arch, args.act)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(b)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return median_ms(step, args.reps)


def bench_dp_gsm(args, b):
    from opacus import GradSampleModule

    model = GradSampleModule(Net(args.arch, args.act), loss_reduction="sum")
    params = [p for p in model.parameters() if p.requires_grad]
    x, y = data(b)
    C, sigma, lr = 1.0, 1.0, 0.01

    def step():
        for p in params:
            p.grad = None
            p.grad_sample = None
        F.cross_entropy(model(x), y, reduction="sum").backward()
        gs = [p.grad_sample.reshape(b, -1) for p in params]
        norms = torch.cat(gs, dim=1).norm(2, dim=1)
        factor = (C / (norms + 1e-6)).clamp(max=1.0)
        with torch.no_grad():
            for p, g in zip(params, gs):
                s = (factor[:, None] * g).sum(0).view_as(p)
                s += torch.normal(0.0, sigma * C, size=s.shape)
                p -= lr * s / b

    return median_ms(step, args.reps)


def bench_dp_private(args, b):
    from opacus import PrivacyEngine

    model = Net(args.arch, args.act)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = data(b)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=b)
    engine = PrivacyEngine(accountant="rdp")
    model, opt, loader = engine.make_private(
        module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0,
        max_grad_norm=1.0, poisson_sampling=False)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return median_ms(step, args.reps)


def bench_eval(args, b):
    model = Net(args.arch, args.act).eval()
    x, y = data(b)

    def step():
        with torch.no_grad():
            logits = model(x)
            F.cross_entropy(logits, y, reduction="sum").item()
            (logits.argmax(1) == y).sum().item()

    return median_ms(step, args.reps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="cnn-small", choices=["cnn-small", "cnn-fedavg"])
    ap.add_argument("--act", default="tanh", choices=["tanh", "relu"])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="train,dp_gsm,dp_private,eval")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    modes = args.modes.split(",")
    print(f"# torch {torch.__version__} threads={torch.get_num_threads()} arch={args.arch} "
          f"act={args.act} reps={args.reps} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    table = {"train": bench_train, "dp_gsm": bench_dp_gsm, "dp_private": bench_dp_private}
    for b in [int(v) for v in args.batches.split(",")]:
        for m in modes:
            if m in table:
                ms = table[m](args, b)
                print(f"{m:<10} b={b:<5} {b / ms * 1e3:9.0f} samples/s  (median step {ms:.3f} ms)", flush=True)
    if "eval" in modes:
        b = args.eval_batch
        ms = bench_eval(args, b)
        print(f"{'eval':<10} b={b:<5} {b / ms * 1e3:9.0f} samples/s  (median step {ms:.3f} ms)", flush=True)


if __name__ == "__main__":
    main()
