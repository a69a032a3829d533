#!/usr/bin/env python3
"""Fails if a package declares a lower `rust-version` than one of the
normal dependencies it resolves to (with every feature on) needs.

    python3 .ci/rust_version.py [MANIFEST_PATH]
"""
import json
import os
import subprocess
import sys


def version(text):
    """`1.85` and `1.85.0` alike, as (1, 85, 0)."""
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


manifest = sys.argv[1] if len(sys.argv) > 1 else "Cargo.toml"
meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--all-features",
     "--manifest-path", manifest]))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
wanted = os.path.realpath(manifest)
root = next(p["id"] for p in meta["packages"] if os.path.realpath(p["manifest_path"]) == wanted)
declared = packages[root].get("rust_version")
if not declared:
    sys.exit(f"{packages[root]['name']} declares no rust-version")

# Every package reachable from the root through normal (not dev, not
# build) dependencies.
seen, todo = set(), [root]
while todo:
    node = nodes[todo.pop()]
    for dep in node["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]) and dep["pkg"] not in seen:
            seen.add(dep["pkg"])
            todo.append(dep["pkg"])

needs = sorted(
    ((version(packages[p]["rust_version"]), packages[p]["name"], packages[p]["version"])
     for p in seen if packages[p].get("rust_version")),
    reverse=True)
name = packages[root]["name"]
if needs and needs[0][0] > version(declared):
    v, dep, dep_version = needs[0]
    sys.exit(f"{name} declares rust-version {declared}, but {dep} {dep_version} "
             f"needs {'.'.join(map(str, v))}")
top = ", ".join(f"{d} {dv} ({'.'.join(map(str, v))})" for v, d, dv in needs[:3])
print(f"{name}: rust-version {declared} covers its dependencies; highest: {top}")
