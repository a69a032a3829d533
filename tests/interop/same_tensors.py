#!/usr/bin/env python3
"""Python safetensors 0.8.0 loads both files and finds the same tensors and metadata.

Usage: python3 same_tensors.py A B   (exits non-zero on any difference)
"""
import sys

from safetensors import deserialize, safe_open


def load(path):
    with open(path, "rb") as f:
        tensors = {name: (t["dtype"], list(t["shape"]), bytes(t["data"])) for name, t in deserialize(f.read())}
    with safe_open(path, framework="numpy") as handle:
        return tensors, handle.metadata()


a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    print(f"FAIL: {sys.argv[1]} and {sys.argv[2]} differ")
    sys.exit(1)
print(f"python reads {sys.argv[2]}: {len(b[0])} tensors, same as {sys.argv[1]}")
