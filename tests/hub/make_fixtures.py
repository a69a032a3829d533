#!/usr/bin/env python3
"""Build the repositories served by the local test Hub (tests/hub/server.py).

Usage: make_fixtures.py OUT_DIR

Needs `safetensors==0.8.0` and `numpy`. The output is deterministic: the
same bytes, the same commit shas, on every run.

Layout written:
    OUT_DIR/repos.json
    OUT_DIR/<type>s/<org>/<name>/<commit sha>/<file path>

A commit sha is sha1 over the repository id and the sorted (path, content)
pairs of the commit, so it changes whenever any file of the commit changes.

Tensor values (numpy notation, `arange` is numpy.arange, row-major order).
Every .safetensors file carries the metadata {"format": "pt"}.

tensorsafe/tiny-single (model)
  model.safetensors, ref `main` (commit A):
    embed.weight                 F32  [16, 8]  arange(128) * 0.5
    layers.0.attn.q_proj.weight  F32  [8, 8]   arange(64)
    layers.0.norm.weight         F16  [8]      ones(8)
    lm_head.weight               F16  [8, 16]  arange(128) / 8
    position_ids                 I64  [1, 16]  arange(16)
    quant.scales                 U8   [10]     arange(10) * 7
    attn.mask                    BOOL [4, 4]   arange(16) % 3 == 0
  config.json
  broken/empty.safetensors      0 bytes
  broken/truncated.safetensors  model.safetensors without its last 100 bytes
  ref `refs/pr/1` (commit B): same, except
    layers.0.attn.q_proj.weight  F32  [8, 8]   arange(64) + 1000

tensorsafe/tiny-sharded (model), ref `main` (commit A):
    model.embed_tokens.weight                 F32 [100, 32] arange(3200) / 10
    for i in 0..4:
      model.layers.{i}.self_attn.q_proj.weight F32 [512, 256] arange(131072) + 10000 * i
      model.layers.{i}.mlp.up_proj.weight      F16 [32, 16]  arange(512) % 100
      model.layers.{i}.input_layernorm.weight  F32 [32]      full(32, i + 1)
    lm_head.weight                            F32 [100, 32] -arange(3200)
  In that order, the 14 tensors are split 5 / 5 / 4 over
  model-0000{1,2,3}-of-00003.safetensors:
    shard 1: embed_tokens, layer 0 (3 tensors), layers.1.self_attn.q_proj
    shard 2: layers.1.mlp.up_proj, layers.1.input_layernorm, layer 2 (3 tensors)
    shard 3: layer 3 (3 tensors), lm_head
  model.safetensors.index.json: metadata.total_size = sum of tensor byte
  sizes (2,127,360), weight_map = tensor name -> shard file. config.json.
  pending_push for `main` (commit B): every F32 tensor + 1 (F16 unchanged),
  same names, shapes, shards and index.

tensorsafe/gated (model, gated): model.safetensors
    linear.weight  F32 [4, 4]  arange(16) + 0.25
    linear.bias    F32 [4]     -(arange(4) + 1)
  config.json

tensorsafe/rate-limited (model, first resolve request answered 429):
  model.safetensors
    weight  F32 [2, 3]  arange(6) * 2
  config.json

tensorsafe/diffusion (model): no model.safetensors;
  diffusion_pytorch_model.safetensors
    conv_in.weight                  F32 [4, 3, 3, 3]  arange(108) / 4
    conv_in.bias                    F32 [4]           arange(4)
    time_embedding.linear_1.weight  F16 [8, 4]        arange(32) / 4
  config.json

tensorsafe/many-tensors (model): model.safetensors with a JSON header of
  more than 100,000 bytes:
    for i in 0..3000:
      blocks.{i:04}.a_fairly_long_tensor_name_to_grow_the_header.weight
          U8 [2]  [i % 256, i // 256]
  config.json

tensorsafe/tensors (dataset): data/train.safetensors
    inputs  F32 [10, 4]  arange(40) / 2
    labels  I64 [10]     arange(10) % 3

Alias: tensorsafe/old-tiny-single is a renamed tensorsafe/tiny-single (the
server answers 307 for it).
"""

import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

TOKEN = "hf_tensorsafe_test_token"
METADATA = {"format": "pt"}


def safetensors_bytes(tensors):
    """Serialise tensors with safetensors' save_file and return the bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        save_file(tensors, path, metadata=METADATA)
        with open(path, "rb") as f:
            return f.read()


def json_bytes(obj):
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def config(**fields):
    return json_bytes(fields)


def commit_sha(repo_id, files):
    """Deterministic 40-hex commit id from the repo id and the file set."""
    h = hashlib.sha1(repo_id.encode() + b"\0")
    for path in sorted(files):
        h.update(path.encode() + b"\0")
        h.update(b"%d\0" % len(files[path]))
        h.update(files[path])
    return h.hexdigest()


# --- repository contents ---------------------------------------------------

def tiny_single(pr):
    q = np.arange(64, dtype=np.float32).reshape(8, 8)
    if pr:
        q = q + 1000
    tensors = {
        "embed.weight": (np.arange(128, dtype=np.float32) * 0.5).reshape(16, 8),
        "layers.0.attn.q_proj.weight": q,
        "layers.0.norm.weight": np.ones(8, dtype=np.float16),
        "lm_head.weight": (np.arange(128) / 8).astype(np.float16).reshape(8, 16),
        "position_ids": np.arange(16, dtype=np.int64).reshape(1, 16),
        "quant.scales": (np.arange(10) * 7).astype(np.uint8),
        "attn.mask": (np.arange(16) % 3 == 0).reshape(4, 4),
    }
    whole = safetensors_bytes(tensors)
    return {
        "model.safetensors": whole,
        "config.json": config(model_type="tensorsafe-tiny", hidden_size=8,
                              num_hidden_layers=1, vocab_size=16),
        # Broken files, read through the network path: an empty one (the
        # CDN answers its range 416), and one cut 100 bytes short.
        "broken/empty.safetensors": b"",
        "broken/truncated.safetensors": whole[:-100],
    }


def tiny_sharded(pushed):
    """Sharded checkpoint; `pushed` adds 1 to every float32 tensor."""
    bump = 1 if pushed else 0
    named = [("model.embed_tokens.weight",
              (np.arange(3200, dtype=np.float32) / 10).reshape(100, 32))]
    for i in range(4):
        named += [
            (f"model.layers.{i}.self_attn.q_proj.weight",
             (np.arange(131072, dtype=np.float32) + 10000 * i).reshape(512, 256)),
            (f"model.layers.{i}.mlp.up_proj.weight",
             (np.arange(512) % 100).astype(np.float16).reshape(32, 16)),
            (f"model.layers.{i}.input_layernorm.weight",
             np.full(32, i + 1, dtype=np.float32)),
        ]
    named.append(("lm_head.weight", -np.arange(3200, dtype=np.float32).reshape(100, 32)))
    named = [(n, t + bump if t.dtype == np.float32 else t) for n, t in named]

    files = {}
    weight_map = {}
    total = 0
    for k, (lo, hi) in enumerate([(0, 5), (5, 10), (10, 14)]):
        shard = f"model-{k + 1:05d}-of-00003.safetensors"
        part = dict(named[lo:hi])
        files[shard] = safetensors_bytes(part)
        for name, t in part.items():
            weight_map[name] = shard
            total += t.nbytes
    files["model.safetensors.index.json"] = json_bytes(
        {"metadata": {"total_size": total}, "weight_map": weight_map})
    files["config.json"] = config(model_type="tensorsafe-tiny", hidden_size=32,
                                  num_hidden_layers=4, vocab_size=100)
    return files


def gated():
    return {
        "model.safetensors": safetensors_bytes({
            "linear.weight": (np.arange(16, dtype=np.float32) + 0.25).reshape(4, 4),
            "linear.bias": -(np.arange(4, dtype=np.float32) + 1),
        }),
        "config.json": config(model_type="tensorsafe-tiny", hidden_size=4),
    }


def rate_limited():
    return {
        "model.safetensors": safetensors_bytes({
            "weight": (np.arange(6, dtype=np.float32) * 2).reshape(2, 3),
        }),
        "config.json": config(model_type="tensorsafe-tiny", hidden_size=3),
    }


def diffusion():
    return {
        "diffusion_pytorch_model.safetensors": safetensors_bytes({
            "conv_in.weight": (np.arange(108, dtype=np.float32) / 4).reshape(4, 3, 3, 3),
            "conv_in.bias": np.arange(4, dtype=np.float32),
            "time_embedding.linear_1.weight":
                (np.arange(32) / 4).astype(np.float16).reshape(8, 4),
        }),
        "config.json": config(_class_name="UNet2DModel", in_channels=3),
    }


def many_tensors():
    tensors = {
        f"blocks.{i:04}.a_fairly_long_tensor_name_to_grow_the_header.weight":
            np.array([i % 256, i // 256], dtype=np.uint8)
        for i in range(3000)
    }
    return {
        "model.safetensors": safetensors_bytes(tensors),
        "config.json": config(model_type="tensorsafe-many"),
    }


def dataset_tensors():
    return {
        "data/train.safetensors": safetensors_bytes({
            "inputs": (np.arange(40, dtype=np.float32) / 2).reshape(10, 4),
            "labels": np.arange(10, dtype=np.int64) % 3,
        }),
    }


# --- writing -----------------------------------------------------------------

def write_commit(out, repo_type, repo_id, files):
    """Write one commit's files; return (sha, directory relative to out)."""
    sha = commit_sha(repo_id, files)
    rel = f"{repo_type}s/{repo_id}/{sha}"
    for path, data in files.items():
        full = os.path.join(out, rel, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    return sha, rel


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for stale in ("models", "datasets"):
        shutil.rmtree(os.path.join(out, stale), ignore_errors=True)

    # repo id -> (type, gated, rate_limit_once, {ref: files}, {ref: files} to push)
    specs = {
        "tensorsafe/tiny-single": ("model", False, False,
                                   {"main": tiny_single(False), "refs/pr/1": tiny_single(True)}, {}),
        "tensorsafe/tiny-sharded": ("model", False, False,
                                    {"main": tiny_sharded(False)}, {"main": tiny_sharded(True)}),
        "tensorsafe/gated": ("model", True, False, {"main": gated()}, {}),
        "tensorsafe/rate-limited": ("model", False, True, {"main": rate_limited()}, {}),
        "tensorsafe/diffusion": ("model", False, False, {"main": diffusion()}, {}),
        "tensorsafe/many-tensors": ("model", False, False, {"main": many_tensors()}, {}),
        "tensorsafe/tensors": ("dataset", False, False, {"main": dataset_tensors()}, {}),
    }

    repos = {}
    n_files = 0
    for repo_id, (rtype, is_gated, rate_once, refs, pending) in specs.items():
        entry = {"type": rtype, "gated": is_gated, "rate_limit_once": rate_once,
                 "commits": {}, "refs": {}}
        for group, key in ((refs, "refs"), (pending, "pending_push")):
            for ref, files in group.items():
                sha, rel = write_commit(out, rtype, repo_id, files)
                entry["commits"][sha] = rel
                entry.setdefault(key, {})[ref] = sha
                n_files += len(files)
        repos[repo_id] = entry

    doc = {"token": TOKEN, "repos": repos,
           "aliases": {"tensorsafe/old-tiny-single": "tensorsafe/tiny-single"}}
    with open(os.path.join(out, "repos.json"), "wb") as f:
        f.write(json_bytes(doc))
    print(f"wrote {len(repos)} repositories, "
          f"{sum(len(r['commits']) for r in repos.values())} commits, "
          f"{n_files} files to {out}")


if __name__ == "__main__":
    main()
