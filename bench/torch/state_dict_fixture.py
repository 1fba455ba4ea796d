"""Writes what PyTorch's state_dict of each reference CNN contains (names,
shapes, dtype, order) to crates/fl-ml/tests/fixtures/torch_state_dict.json,
and checks that a safetensors file written by fl-ml loads into the model.

Run: /work/bench-venv/bin/python bench/torch/state_dict_fixture.py [file.safetensors]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from models import CnnFedAvg, CnnSmall  # noqa: E402

out = {}
for name, cls in [("cnn-small", CnnSmall), ("cnn-fedavg", CnnFedAvg)]:
    sd = cls().state_dict()
    out[name] = [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sd.items()]
    out[name + ".num_params"] = sum(v.numel() for v in sd.values())
path = os.path.join(os.path.dirname(__file__), "../../crates/fl-ml/tests/fixtures/torch_state_dict.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))

if len(sys.argv) > 1:
    from safetensors.torch import load_file

    m = CnnSmall()
    m.load_state_dict(load_file(sys.argv[1]))  # strict: names, shapes must match
    print("loaded", sys.argv[1], "into CnnSmall with strict=True")
