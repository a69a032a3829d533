#!/usr/bin/env python3
"""Fails if a package declares a lower `rust-version` than one of the
normal dependencies it resolves to needs.

    python3 .ci/rust_version.py [MANIFEST_PATH]

The default features are checked against `rust-version`. A feature whose
dependencies need more may name its own minimum in the manifest, and is
then checked against that:

    [package.metadata.rust-version-by-feature]
    s3 = "1.89"

Features are resolved for the package alone (`cargo tree -p`), so what
another workspace member turns on does not count against it.
"""
import json
import os
import subprocess
import sys


def version(text):
    """`1.85` and `1.85.0` alike, as (1, 85, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(v):
    return ".".join(map(str, v))


manifest = sys.argv[1] if len(sys.argv) > 1 else "Cargo.toml"
meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--all-features",
     "--manifest-path", manifest]))
needs = {(p["name"], p["version"]): p.get("rust_version") for p in meta["packages"]}
wanted = os.path.realpath(manifest)
root = next(p for p in meta["packages"] if os.path.realpath(p["manifest_path"]) == wanted)
name = root["name"]
declared = root.get("rust_version")
if not declared:
    sys.exit(f"{name} declares no rust-version")
by_feature = (root.get("metadata") or {}).get("rust-version-by-feature") or {}

failed = False
for feature, limit in [(None, declared)] + sorted(by_feature.items()):
    command = ["cargo", "tree", "--manifest-path", manifest, "-p", root["id"],
               "-e", "normal", "--prefix", "none", "--format", "{p}"]
    if feature:
        command += ["--features", feature]
    seen = set()
    for line in subprocess.check_output(command, text=True).splitlines():
        words = line.split()
        if len(words) >= 2 and words[1].startswith("v"):
            seen.add((words[0], words[1][1:]))
    seen.discard((name, root["version"]))
    highest = sorted(((version(needs[p]), p) for p in seen if needs.get(p)), reverse=True)
    label = f"feature {feature}" if feature else "default features"
    if highest and highest[0][0] > version(limit):
        v, (dep, dep_version) = highest[0]
        print(f"{name} ({label}) declares rust-version {limit}, but {dep} {dep_version} needs {show(v)}")
        failed = True
    else:
        top = ", ".join(f"{d} {dv} ({show(v)})" for v, (d, dv) in highest[:3])
        print(f"{name} ({label}): rust-version {limit} covers its dependencies; highest: {top}")
sys.exit(1 if failed else 0)
