"""Writes the golden vectors of `fl-ml`'s scattering transform test.

Kymatio's numpy `Scattering2D(J=2, shape=(28, 28), L=8)` on the first two MNIST test
images (normalised as fl-data does: (x/255 - 0.1307) / 0.3081), stored with their inputs.
    python3 -m venv /tmp/kv && /tmp/kv/bin/pip install kymatio numpy 'scipy<1.15'
    /tmp/kv/bin/python bench/scatter_fixture.py ../shared/data/mnist \
        crates/fl-ml/tests/fixtures/scatter_kymatio.json
"""
import gzip, json, sys
import numpy as np
from kymatio.numpy import Scattering2D

data, out = sys.argv[1], sys.argv[2]
raw = gzip.open(f"{data}/t10k-images-idx3-ubyte.gz").read()
x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:2].astype(np.float32)
x = (x / 255.0 - 0.1307) / 0.3081
s = Scattering2D(J=2, shape=(28, 28), L=8)(x.astype(np.float32))
assert s.shape == (2, 81, 7, 7), s.shape
json.dump({
    "kymatio": __import__("kymatio").__version__,
    "images": [[round(float(v), 7) for v in im.ravel()] for im in x],
    "scattering": [[float(f"{v:.7g}") for v in f.ravel()] for f in s],
}, open(out, "w"))
print("wrote", out, s.shape)
