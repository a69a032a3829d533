#!/usr/bin/env python3
"""Writes the golden interop files in tests/data/golden/ with Python safetensors 0.8.0.

Run from anywhere:  pip install safetensors==0.8.0 numpy && python3 tests/data/make_golden.py
The files and golden/manifest.json are committed, so `cargo test` needs no Python.

manifest.json describes each file: per tensor the spec dtype name, the shape
and the hex of the exact bytes, the metadata, and whether the file is in the
reference writer's byte-exact layout (true unless it has 2+ metadata keys,
whose order the reference leaves to a hash map).
"""
import ctypes
import json
import os

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

assert safetensors.__version__ == "0.8.0", safetensors.__version__

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")

# numpy-style name accepted by TensorSpec -> (spec name, bits per element)
DTYPES = {
    "bool": ("BOOL", 8),
    "uint8": ("U8", 8),
    "int8": ("I8", 8),
    "float8_e5m2": ("F8_E5M2", 8),
    "float8_e4m3fn": ("F8_E4M3", 8),
    "float8_e8m0fnu": ("F8_E8M0", 8),
    "float8_e4m3fnuz": ("F8_E4M3FNUZ", 8),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 8),
    "int16": ("I16", 16),
    "uint16": ("U16", 16),
    "float16": ("F16", 16),
    "bfloat16": ("BF16", 16),
    "int32": ("I32", 32),
    "uint32": ("U32", 32),
    "float32": ("F32", 32),
    "complex64": ("C64", 64),
    "float64": ("F64", 64),
    "int64": ("I64", 64),
    "uint64": ("U64", 64),
    "float4_e2m1fn_x2": ("F4", 4),
}

manifest = {}
keep_alive = []


def pattern(n, seed, bool_like=False):
    if bool_like:
        return bytes((i * 7 + seed) % 3 % 2 for i in range(n))
    return bytes((i * 37 + seed * 11 + 5) % 256 for i in range(n))


def spec(np_dtype, shape, seed):
    """A TensorSpec over fresh deterministic bytes; returns (spec, logical shape, bytes)."""
    spec_name, bits = DTYPES[np_dtype]
    logical = list(shape)
    if np_dtype == "float4_e2m1fn_x2":
        # TensorSpec takes the storage shape (bytes along the last axis) and doubles it.
        storage = list(shape)
        storage[-1] //= 2
        nbytes = int(np.prod(storage)) if storage else 1
        shape_arg = storage
    else:
        count = int(np.prod(shape)) if shape else 1
        nbytes = count * bits // 8
        shape_arg = list(shape)
    data = pattern(nbytes, seed, bool_like=(np_dtype == "bool"))
    buf = ctypes.create_string_buffer(data, max(nbytes, 1))
    keep_alive.append(buf)
    s = TensorSpec(dtype=np_dtype, shape=shape_arg, data_ptr=ctypes.addressof(buf), data_len=nbytes)
    assert list(s.shape) == logical, (np_dtype, s.shape, logical)
    return s, spec_name, logical, data


def write(name, tensors, metadata=None):
    """tensors: {tensor name: (numpy dtype name, logical shape)}"""
    specs, entries = {}, {}
    for seed, (tname, (np_dtype, shape)) in enumerate(tensors.items()):
        s, spec_name, logical, data = spec(np_dtype, shape, seed)
        specs[tname] = s
        entries[tname] = {"dtype": spec_name, "shape": logical, "hex": data.hex()}
    path = os.path.join(OUT, name)
    serialize_file(specs, path, metadata=metadata)
    manifest[name] = {
        "tensors": entries,
        "metadata": metadata,
        "canonical": metadata is None or len(metadata) <= 1,
    }


os.makedirs(OUT, exist_ok=True)

write("all_dtypes.safetensors", {f"t_{d}": (d, [2, 4]) for d in DTYPES})
write("scalar.safetensors", {"scalar": ("float32", [])})
write(
    "empty.safetensors",
    {
        "empty_1d": ("float32", [0]),
        "empty_2d": ("int64", [3, 0]),
        "empty_bf16": ("bfloat16", [0, 5]),
        "not_empty": ("float32", [2]),
    },
)
write(
    "names.safetensors",
    {
        "": ("uint8", [1]),
        "caf\u00e9.\u00fcber/\u6f22\u5b57": ("uint8", [2]),
        "emoji.\U0001F600": ("uint8", [1]),
        'quote"and\\backslash': ("uint8", [1]),
        "new\nline\ttab\rcr": ("uint8", [1]),
        "ctrl\x01\x1f\x7f": ("uint8", [1]),
        "slash/and space": ("uint8", [1]),
        "__meta": ("uint8", [1]),
    },
)
write("metadata_one.safetensors", {"w": ("float16", [3])}, metadata={"format": "pt"})
write("metadata_empty.safetensors", {"w": ("float16", [3])}, metadata={})
write(
    "metadata_escapes.safetensors",
    {"w": ("float16", [3])},
    metadata={'k"\\\n\u00e9': 'v"\\\t\u6f22\x00'},
)
write(
    "metadata_many.safetensors",
    {"w": ("float32", [1])},
    metadata={"format": "pt", "author": "tensorsafe", "z": "last", "a": ""},
)
write(
    "gpt2_tiny.safetensors",
    {
        "wte.weight": ("float32", [16, 8]),
        "wpe.weight": ("float32", [8, 8]),
        "h.0.ln_1.weight": ("float16", [8]),
        "h.0.ln_1.bias": ("float16", [8]),
        "h.0.attn.c_attn.weight": ("bfloat16", [8, 24]),
        "h.0.attn.c_attn.bias": ("bfloat16", [24]),
        "h.0.attn.bias": ("bool", [1, 1, 8, 8]),
        "h.0.mlp.c_fc.weight": ("float8_e4m3fn", [8, 32]),
        "h.0.mlp.c_fc.scale": ("float8_e8m0fnu", [8]),
        "h.0.mlp.c_proj.weight": ("float4_e2m1fn_x2", [32, 8]),
        "lm_head.step": ("int64", []),
    },
    metadata={"format": "pt"},
)

# The numpy front end, with real values.
arrays = {
    "f32": np.linspace(-1.5, 2.5, 12, dtype=np.float32).reshape(3, 4),
    "f64": np.array([1e-300, -0.0, 3.25], dtype=np.float64),
    "f16": np.array([[0.5, -2.0], [65504.0, 6e-5]], dtype=np.float16),
    "i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
    "u16": np.array([0, 1, 65535], dtype=np.uint16),
    "b": np.array([True, False, True]),
    "scalar_i32": np.array(-7, dtype=np.int32),
    "empty_u8": np.zeros((0, 4), dtype=np.uint8),
}
save_file(arrays, os.path.join(OUT, "numpy.safetensors"))
manifest["numpy.safetensors"] = {
    "tensors": {
        k: {
            "dtype": DTYPES[{"bool": "bool"}.get(str(v.dtype), str(v.dtype))][0],
            "shape": list(v.shape),
            "hex": v.astype(v.dtype.newbyteorder("<")).tobytes().hex(),
        }
        for k, v in arrays.items()
    },
    "metadata": None,
    "canonical": True,
}

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True, ensure_ascii=True)
    f.write("\n")
print("wrote", len(manifest), "files to", OUT)
