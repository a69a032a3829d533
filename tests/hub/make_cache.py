#!/usr/bin/env python3
"""Write a Hugging Face Hub cache (HF_HUB_CACHE layout) for a fixture repo,
as huggingface_hub leaves it after downloading REPO_ID at REVISION.

Usage:
    make_cache.py FIXTURES_DIR CACHE_DIR REPO_ID REVISION
                  [--type model|dataset] [--only PATH ...]

Result:
    CACHE_DIR/<type>s--ORG--NAME/blobs/<etag>            file content
    CACHE_DIR/<type>s--ORG--NAME/snapshots/<commit>/<path> -> ../../blobs/<etag>
    CACHE_DIR/<type>s--ORG--NAME/refs/<REVISION>         commit sha, no newline
    CACHE_DIR/CACHEDIR.TAG                               as huggingface_hub writes one

<etag> is the one the test server sends: the sha256 (X-Linked-Etag) for
.safetensors files, the git blob sha1 (ETag) for the others. No refs file
is written when REVISION is a commit sha. --only restricts the snapshot to
the given paths (a partially downloaded checkpoint).
"""

import argparse
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # keep tests/hub free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import file_etag  # noqa: E402  (same etags as the server)

# huggingface_hub marks its cache root with a standard cache directory tag.
CACHEDIR_TAG = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
                b"# Cache directory tag written by tensorsafe's tests/hub/make_cache.py.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures")
    ap.add_argument("cache")
    ap.add_argument("repo_id")
    ap.add_argument("revision")
    ap.add_argument("--type", choices=("model", "dataset"), default="model")
    ap.add_argument("--only", nargs="+", metavar="PATH")
    args = ap.parse_args()

    with open(os.path.join(args.fixtures, "repos.json")) as f:
        repos = json.load(f)["repos"]
    repo = repos.get(args.repo_id)
    if repo is None or repo["type"] != args.type:
        sys.exit(f"unknown {args.type} repository {args.repo_id}")
    is_commit = re.fullmatch(r"[0-9a-f]{40}", args.revision) is not None
    commit = args.revision if is_commit else repo["refs"].get(args.revision)
    if commit not in repo["commits"]:
        sys.exit(f"unknown revision {args.revision}")
    root = os.path.join(args.fixtures, repo["commits"][commit])

    files = sorted(
        os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/")
        for d, _, names in os.walk(root) for n in names)
    if args.only:
        missing = [p for p in args.only if p not in files]
        if missing:
            sys.exit(f"not in commit {commit}: {', '.join(missing)}")
        files = [p for p in files if p in args.only]

    os.makedirs(args.cache, exist_ok=True)
    tag = os.path.join(args.cache, "CACHEDIR.TAG")
    if not os.path.exists(tag):
        with open(tag, "wb") as f:
            f.write(CACHEDIR_TAG)

    org, name = args.repo_id.split("/")
    base = os.path.join(args.cache, f"{args.type}s--{org}--{name}")
    os.makedirs(os.path.join(base, "blobs"), exist_ok=True)
    for path in files:
        with open(os.path.join(root, path), "rb") as f:
            data = f.read()
        etag = file_etag(path, data)
        with open(os.path.join(base, "blobs", etag), "wb") as f:
            f.write(data)
        link = os.path.join(base, "snapshots", commit, *path.split("/"))
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.remove(link)
        # snapshots/<commit>/ is two levels below the repo folder, plus one per directory in path
        os.symlink("../" * (2 + path.count("/")) + f"blobs/{etag}", link)

    if not is_commit:
        ref = os.path.join(base, "refs", *args.revision.split("/"))
        os.makedirs(os.path.dirname(ref), exist_ok=True)
        with open(ref, "w") as f:
            f.write(commit)


if __name__ == "__main__":
    main()
