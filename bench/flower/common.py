"""Shared pieces of the Flower baselines: MNIST loading, IID split, evaluation, params I/O.

Kept in a module (not in the scripts) so Ray actors import it by reference and its
lru_cache survives across rounds inside one actor (a client's data is decoded once).
"""
import functools
import gzip
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
from models import CnnSmall  # noqa: E402  (bench/torch/models.py, identical to fl-ml)

DATA_DIR = os.environ.get("FL_DATA_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"))
MEAN, STD = 0.1307, 0.3081


def _idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@functools.lru_cache(maxsize=2)
def load_split(train: bool):
    """(x: float32 [N,1,28,28] normalised, y: int64 [N]) as torch tensors."""
    pre = "train" if train else "t10k"
    x = _idx(os.path.join(DATA_DIR, f"{pre}-images-idx3-ubyte.gz"))
    y = _idx(os.path.join(DATA_DIR, f"{pre}-labels-idx1-ubyte.gz"))
    xt = (torch.from_numpy(x.astype(np.float32) / 255.0) - MEAN) / STD
    return xt.unsqueeze(1).contiguous(), torch.from_numpy(y.astype(np.int64))


@functools.lru_cache(maxsize=16)
def client_data(cid: int, num_clients: int, seed: int):
    """IID shard `cid`: a seeded permutation of the 60,000 training images cut in equal parts."""
    x, y = load_split(True)
    perm = np.random.default_rng(seed).permutation(len(y))
    shard = np.array_split(perm, num_clients)[cid]
    idx = torch.from_numpy(shard)
    return x[idx], y[idx]


def get_params(model):
    return [p.detach().cpu().numpy().copy() for p in model.state_dict().values()]


def set_params(model, params):
    sd = model.state_dict()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in zip(sd.keys(), params)}, strict=True)


@torch.no_grad()
def evaluate(model, batch=1000):
    """Centralised evaluation on the 10,000 test images: (mean CE loss, accuracy)."""
    x, y = load_split(False)
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch):
        out = model(x[i:i + batch])
        loss += F.cross_entropy(out, y[i:i + batch], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch]).sum().item()
    return loss / len(y), correct / len(y)


def new_model(seed: int):
    torch.manual_seed(seed)
    return CnnSmall("tanh")
