#!/usr/bin/python3
# norma -> PyTorch: loads the checkpoints that `norma export-models DIR` wrote (DIR/<model>.safetensors)
# into the PyTorch twins of tests/fixtures/gen_models.py with load_state_dict(strict=True) and
# prints OK per model; exits 1 if any model fails or its checkpoint is missing.
#   build/norma export-models /tmp/ckpt && /usr/bin/python3 scripts/check_twins.py /tmp/ckpt
# The safetensors reader is written by hand (the format is in layers/checkpoint.h) so that only
# torch and numpy are needed; it also checks norma's dtypes: I64 for num_batches_tracked, F32
# for the rest.
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
sys.dont_write_bytecode = True  # no __pycache__ in the fixtures' folder
import gen_models  # noqa: E402  (the twin classes; importing it writes nothing)

NUMPY = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}


def load_safetensors(path):
    """{name: tensor} in the file's data order, and the __metadata__ dict."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, not a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header size {n} is larger than the file")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = e["data_offsets"]
        if e["dtype"] not in NUMPY:
            raise ValueError(f"{path}: {name}: unsupported dtype {e['dtype']}")
        a = np.frombuffer(data[begin:end], dtype=NUMPY[e["dtype"]])
        if a.size != int(np.prod(e["shape"], dtype=np.int64)):
            raise ValueError(f"{path}: {name}: {a.size} values for shape {e['shape']}")
        out[name] = (e["dtype"], torch.from_numpy(a.copy()).reshape(e["shape"]))
    return out, meta


def check(path, name, norm):
    tensors, meta = load_safetensors(path)
    if meta.get("norm", norm) != norm:
        raise ValueError(f"saved with norm {meta['norm']}, checking against the {norm} twin (use --norm)")
    for key, (dtype, _) in tensors.items():
        want = "I64" if key.endswith("num_batches_tracked") else "F32"
        if dtype != want:
            raise ValueError(f"{key}: dtype {dtype}, expected {want}")
    twin = gen_models.MODELS[name](norm)
    twin.load_state_dict({k: t for k, (_, t) in tensors.items()}, strict=True)
    # load_state_dict copied every value: the twin now holds the file's tensors exactly.
    sd = twin.state_dict()
    for key, (_, t) in tensors.items():
        if sd[key].dtype != t.dtype or not torch.equal(sd[key], t):
            raise ValueError(f"{key}: the twin's value differs from the file's after loading")
    params = sum(p.numel() for p in twin.parameters())
    return f"{len(tensors)} tensors, {params:,} parameters" + (f" (saved with norm {meta['norm']})" if meta else "")


def main():
    ap = argparse.ArgumentParser(description="Load norma checkpoints into the PyTorch twins (strict).")
    ap.add_argument("dir", help="directory with <model>.safetensors from norma export-models")
    ap.add_argument("--norm", default="bn", help="the norm the checkpoints were exported with (default bn)")
    args = ap.parse_args()
    ok = skipped = failed = 0
    for name in gen_models.MODELS:
        path = os.path.join(args.dir, name + ".safetensors")
        try:
            gen_models.MODELS[name](args.norm)
        except KeyError:  # e.g. `in` on the mlp: norma refuses it too (no spatial dims)
            print(f"{name:18s} SKIP (no {args.norm} twin for this model)")
            skipped += 1
            continue
        if not os.path.exists(path):
            print(f"{name:18s} MISSING {path}")
            failed += 1
            continue
        try:
            print(f"{name:18s} OK   {check(path, name, args.norm)}")
            ok += 1
        except Exception as e:  # noqa: BLE001  (report every model, then fail)
            print(f"{name:18s} FAIL {e}")
            failed += 1
    print(f"{ok} OK, {skipped} skipped, {failed} failed")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
