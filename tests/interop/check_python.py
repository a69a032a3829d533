#!/usr/bin/env python3
"""Loads the files `cargo run --example write_interop -- DIR` wrote, with
Python safetensors 0.8.0, and compares every tensor and the metadata with
DIR/manifest.json. Exits non-zero on any difference.

Usage: python3 check_python.py DIR
"""
import json
import os
import sys

import numpy as np
import safetensors
from safetensors import deserialize, safe_open
from safetensors.numpy import load_file

# Spec names -> numpy dtypes, where numpy has one.
NUMPY = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
    "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32,
    "U64": np.uint64, "I64": np.int64, "F64": np.float64, "C64": np.complex64,
}


def main(directory):
    assert safetensors.__version__ == "0.8.0", safetensors.__version__
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    failures, checked = [], 0
    for file, expected in manifest.items():
        path = os.path.join(directory, file)
        with open(path, "rb") as f:
            raw = f.read()
        got = dict(deserialize(raw))
        want = expected["tensors"]
        if set(got) != set(want):
            failures.append(f"{file}: names {sorted(got)} != {sorted(want)}")
            continue
        for name, t in want.items():
            entry = got[name]
            if entry["dtype"] != t["dtype"]:
                failures.append(f"{file}/{name}: dtype {entry['dtype']} != {t['dtype']}")
            if list(entry["shape"]) != t["shape"]:
                failures.append(f"{file}/{name}: shape {entry['shape']} != {t['shape']}")
            if bytes(entry["data"]) != bytes.fromhex(t["hex"]):
                failures.append(f"{file}/{name}: bytes differ")
            checked += 1
        # The numpy front end, for the dtypes numpy has.
        plain = {n: t for n, t in want.items() if t["dtype"] in NUMPY}
        if plain and len(plain) == len(want):
            arrays = load_file(path)
            for name, t in plain.items():
                exp = np.frombuffer(bytes.fromhex(t["hex"]), dtype=np.dtype(NUMPY[t["dtype"]]).newbyteorder("<"))
                exp = exp.reshape(t["shape"])
                if arrays[name].shape != exp.shape or arrays[name].tobytes() != exp.tobytes():
                    failures.append(f"{file}/{name}: numpy values differ")
        with safe_open(path, framework="numpy") as handle:
            if handle.metadata() != expected["metadata"]:
                failures.append(f"{file}: metadata {handle.metadata()} != {expected['metadata']}")
            for name, t in plain.items():
                if handle.get_tensor(name).tobytes() != bytes.fromhex(t["hex"]):
                    failures.append(f"{file}/{name}: safe_open values differ")
    for failure in failures:
        print("FAIL", failure)
    print(f"python interop: {checked} passed, {len(failures)} failed")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
