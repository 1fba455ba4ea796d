#!/usr/bin/env python3
"""Writes small valid seed inputs to fuzz/seeds/<target>/ (run from anywhere; stdlib only)."""
import gzip, os, struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# codec_decode: 3-byte expected length, then a version-1 codec message (see fl-core codec/mod.rs).
def codec(codec_id, value_id, count, payload):
    head = b"FLUC" + bytes([1, codec_id, value_id, 0]) + struct.pack("<Q", count)
    return struct.pack("<I", count)[:3] + head + payload


vals = [0.5, -1.25, 3.0, 0.0, 2.0, -0.75]
n = len(vals)
put("codec_decode", "none", codec(0, 0, n, struct.pack("<%df" % n, *vals)))
put("codec_decode", "fp16", codec(1, 0, n, struct.pack("<%de" % n, *vals)))
# int8: one segment (u32 count, then u32 length + f32 scale), then n i8 codes.
int8 = struct.pack("<IIf", 1, n, 3.0 / 127) + bytes((round(v / 3.0 * 127)) & 0xFF for v in vals)
put("codec_decode", "int8", codec(2, 0, n, int8))
# top-k, k = 2 of indices 2 and 4 (varint gaps 2, 2), values as f32 / f16.
put("codec_decode", "topk_f32", codec(3, 0, n, struct.pack("<Q", 2) + bytes([2, 2]) + struct.pack("<2f", 3.0, 2.0)))
put("codec_decode", "topk_f16", codec(3, 1, n, struct.pack("<Q", 2) + bytes([2, 2]) + struct.pack("<2e", 3.0, 2.0)))
put("codec_decode", "topk_int8", codec(3, 2, n, struct.pack("<Q", 2) + bytes([2, 2]) + struct.pack("<IIf", 1, 2, 3.0 / 127) + bytes([127, 85])))


# update_stream: mode byte 0 (even) = raw protobuf of the request messages.
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, body):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(body)) + body
    return key + body


sha = bytes.fromhex("9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a")  # sha256 of b"\x01\x02\x03\x04"
header = (field(1, 2, b"session") + field(2, 2, b"client-1") + field(3, 0, varint(3)) + field(9, 2, b"none")
          + field(10, 0, varint(4)) + field(11, 2, sha.hex().encode()) + field(12, 0, varint(1)))
put("update_stream", "update_header", b"\x00" + field(1, 2, header))
put("update_stream", "update_data", b"\x00" + field(2, 2, field(1, 0, varint(0)) + field(2, 2, b"\x01\x02\x03\x04")))
put("update_stream", "register", b"\x00" + field(1, 2, b"client-1") + field(2, 2, b"token") + field(4, 0, varint(1)))
put("update_stream", "get_task", b"\x00" + field(1, 2, b"session") + field(2, 2, b"client-1") + field(3, 0, varint(5000)))
put("update_stream", "evaluation", b"\x00" + field(1, 2, b"s") + field(2, 2, b"c") + field(3, 0, varint(2))
    + field(6, 1, struct.pack("<d", 0.3)) + field(7, 1, struct.pack("<d", 0.9)))
put("update_stream", "model_chunk", b"\x00" + field(1, 0, varint(2)) + field(3, 0, varint(4)) + field(4, 2, b"\x01\x02\x03\x04") + field(5, 2, sha.hex().encode()))
put("update_stream", "stream_ops", b"\x01" + bytes(range(64)))

# idx_parse: tiny idx3 images and idx1 labels, raw and gzip.
img = struct.pack(">IIII", 0x00000803, 2, 3, 2) + bytes(range(12))
lab = struct.pack(">II", 0x00000801, 4) + bytes([0, 9, 3, 7])
put("idx_parse", "images", img)
put("idx_parse", "labels", lab)
put("idx_parse", "images_gz", gzip.compress(img, mtime=0))
put("idx_parse", "labels_gz", gzip.compress(lab, mtime=0))

# config_parse: one value of every spec syntax, and a short sim.yaml.
specs = ["fedavg", "fedprox:0.01", "fedadam", "fedadam:0.01", "fedyogi", "fedadagrad", "median",
         "trimmed-mean:0.1", "krum:2", "multi-krum:1", "none", "fp16", "int8", "topk:0.01",
         "topk:0.1+fp16", "topk:0.5+int8", "scale:100:0.2", "sign-flip:0.2", "noise:1.5:0.1",
         "iid", "dirichlet:0.5", "shards:2", "rdp", "prv", "mnist", "fashion-mnist"]
for i, s in enumerate(specs):
    put("config_parse", "spec_%02d" % i, s.encode())
put("config_parse", "sim_yaml", b"clients: 10\nrounds: 3\nfraction: 0.5\nstrategy: fedavg\ncodec: topk:0.1+fp16\npartition: dirichlet:0.5\n")
