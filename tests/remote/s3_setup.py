"""Fills a local S3-compatible test server for the remote tests.

    python s3_setup.py ENDPOINT BUCKET GOLDEN_DIR SHARDED_DIR

Creates BUCKET, uploads every GOLDEN_DIR/*.safetensors as golden/NAME,
writes a sharded checkpoint with Python safetensors into SHARDED_DIR (three
shards of F32, F16, I64 and BOOL tensors plus model.safetensors.index.json)
and uploads it as sharded/NAME. The Rust tests read both back through the
server and compare with the local files.
"""
import json
import pathlib
import sys

import boto3
import numpy as np
from safetensors.numpy import save_file

endpoint, bucket, golden, sharded = sys.argv[1:5]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
)
s3.create_bucket(Bucket=bucket)

count = 0
for path in sorted(pathlib.Path(golden).glob("*.safetensors")):
    # Public, so that plain http:// reads work too.
    s3.upload_file(str(path), bucket, f"golden/{path.name}", ExtraArgs={"ACL": "public-read"})
    count += 1

rng = np.random.default_rng(7)
out = pathlib.Path(sharded)
out.mkdir(parents=True, exist_ok=True)
shards = [
    {
        "embed.weight": rng.standard_normal((512, 256), dtype=np.float32),
        "norm.weight": np.ones(256, dtype=np.float16),
    },
    {
        "layers.0.attn.weight": rng.standard_normal((256, 256)).astype(np.float16),
        "layers.0.mlp.up.weight": rng.standard_normal((1024, 256), dtype=np.float32),
        "positions": np.arange(4096, dtype=np.int64),
    },
    {
        "layers.0.mlp.down.weight": rng.standard_normal((256, 1024), dtype=np.float32),
        "mask": rng.integers(0, 2, (64, 64)).astype(np.bool_),
    },
]
weight_map, total = {}, 0
for k, tensors in enumerate(shards, 1):
    name = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
    save_file(tensors, str(out / name), metadata={"format": "np"})
    for tensor, array in tensors.items():
        weight_map[tensor] = name
        total += array.nbytes
index = {"metadata": {"total_size": total}, "weight_map": weight_map}
(out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
for path in sorted(out.iterdir()):
    s3.upload_file(str(path), bucket, f"sharded/{path.name}")
    count += 1
print(f"uploaded {count} objects to s3://{bucket} at {endpoint}")
