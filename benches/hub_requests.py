"""Requests on the wire: `tensorsafe inspect hf://...` beside huggingface_hub.

Usage:
    hub_requests.py --endpoint URL --tensorsafe PATH [--token TOKEN]

URL is a running local test Hub (tests/hub/server.py); PATH the tensorsafe
binary; TOKEN the token of the gated repository (default: the test Hub's,
hf_tensorsafe_test_token). Run with a Python that has huggingface_hub
installed.

For each task the Hub's statistics are reset (POST /_reset), one tool does
the task, and its requests are read back from GET /_stats. Prints, per task,
the request log of each tool and, at the end, a table of Hub requests, CDN
requests and body bytes received. Exits 1 if any check fails.

Tasks:
  1-3. list tensorsafe/tiny-sharded, tensorsafe/tiny-single and
       tensorsafe/many-tensors (header > 100,000 bytes) with an empty cache:
       `tensorsafe inspect --json` vs HfApi.get_safetensors_metadata; both
       must find the same tensors and the same parameters per dtype.
  4.   download the sharded checkpoint with huggingface_hub (the cost of a
       full download), then list it with tensorsafe from that cache: zero
       requests, online and with HF_HUB_OFFLINE=1; offline with an empty
       cache it must fail with exit status 2.
  5.   the gated repository with HF_TOKEN: both tools succeed, every Hub
       request carries Authorization and no CDN request does.

huggingface_hub is run in a child process (this script with --hf-call), so
that HF_ENDPOINT, HF_HOME and HF_TOKEN are read from a clean environment
exactly as they are for tensorsafe.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

DEFAULT_TOKEN = "hf_tensorsafe_test_token"
SHARDED = "tensorsafe/tiny-sharded"
SINGLE = "tensorsafe/tiny-single"
MANY = "tensorsafe/many-tensors"
GATED = "tensorsafe/gated"


# --- huggingface_hub side (child process) --------------------------------------

def hf_call(action, repo_id):
    """Run one huggingface_hub task; print a JSON summary on stdout.

    metadata: HfApi.get_safetensors_metadata(repo_id), summarised as the
              tensor count and SafetensorsRepoMetadata.parameter_count.
    download: snapshot_download(allow_patterns=["*.safetensors", "*.json"]).
              The test Hub serves no /api routes (repo_info, list_repo_tree),
              which snapshot_download needs; if they are missing, the same
              files are fetched with hf_hub_download (the index, its shards
              and config.json), which is what snapshot_download does per file.
    """
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    endpoint = os.environ["HF_ENDPOINT"]
    if action == "metadata":
        meta = HfApi(endpoint=endpoint).get_safetensors_metadata(repo_id)
        tensors = sum(len(f.tensors) for f in meta.files_metadata.values())
        out = {"tensors": tensors, "weight_map": len(meta.weight_map),
               "parameters": dict(meta.parameter_count), "files": len(meta.files_metadata)}
    elif action == "download":
        try:
            path = snapshot_download(repo_id, allow_patterns=["*.safetensors", "*.json"])
            out = {"method": "snapshot_download", "path": path}
        except Exception as e:  # LocalEntryNotFoundError wrapping the /api 404
            if "/api/" not in str(e):
                raise
            index = hf_hub_download(repo_id, "model.safetensors.index.json")
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            for name in shards + ["config.json"]:
                path = hf_hub_download(repo_id, name)
            out = {"method": "hf_hub_download per file",
                   "snapshot_download_error": str(e).splitlines()[0],
                   "path": os.path.dirname(path)}
    else:
        raise SystemExit(f"unknown --hf-call action {action!r}")
    print(json.dumps(out))


# --- test Hub control ----------------------------------------------------------

class HubControl:
    def __init__(self, endpoint):
        self.endpoint = endpoint.rstrip("/")

    def reset(self):
        req = urllib.request.Request(self.endpoint + "/_reset", method="POST")
        with urllib.request.urlopen(req) as r:
            r.read()

    def stats(self):
        with urllib.request.urlopen(self.endpoint + "/_stats") as r:
            return json.load(r)


def summary(stats):
    """(hub requests, cdn requests, body bytes received from both)."""
    return (stats["hub"]["requests"], stats["cdn"]["requests"],
            stats["hub_bytes"] + stats["cdn"]["bytes"])


# --- runner ----------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.hub = HubControl(args.endpoint)
        self.rows = []       # (task, tool, hub, cdn, bytes)
        self.failures = []
        self.tmp = tempfile.mkdtemp(prefix="hub_requests.")

    # -- environment --

    def new_home(self):
        """An empty HF_HOME (its hub/ is the HF_HUB_CACHE)."""
        return tempfile.mkdtemp(dir=self.tmp)

    def env(self, home, token=None, offline=False):
        """A clean environment: no inherited HF_* variable, only ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=self.hub.endpoint, HF_HOME=home,
                   HF_HUB_CACHE=os.path.join(home, "hub"),
                   HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        if token:
            env["HF_TOKEN"] = token
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        return env

    # -- checks --

    def check(self, ok, what):
        print(f"  [{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failures.append(what)
        return ok

    # -- running one tool --

    def measure(self, task, tool, argv, env, record=True):
        """Reset the Hub's counters, run argv, read the counters back.

        Returns (completed process, stats)."""
        self.hub.reset()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        stats = self.hub.stats()
        hub, cdn, nbytes = summary(stats)
        print(f"  {tool}: exit {proc.returncode}; hub {hub}, cdn {cdn}, {nbytes} bytes")
        for e in stats["log"]:
            auth = "  auth" if e["authorization"] else ""
            rng = e["range"] or "-"
            print(f"    {e['server']:3} {e['method']:4} {e['path']}  range={rng}"
                  f"  -> {e['status']} ({e['bytes']} B){auth}")
        if record:
            self.rows.append((task, tool, hub, cdn, nbytes))
        return proc, stats

    def tensorsafe(self, task, tool, repo_id, env, record=True):
        argv = [self.args.tensorsafe, "inspect", "--json", f"hf://{repo_id}"]
        proc, stats = self.measure(task, tool, argv, env, record)
        doc = None
        if proc.returncode == 0:
            try:
                doc = json.loads(proc.stdout)
            except ValueError as e:
                self.check(False, f"{tool}: output is not JSON ({e})")
        if proc.returncode != 0 or doc is None:
            print("    stderr: " + proc.stderr.strip().replace("\n", "\n            "))
        if doc is not None:
            # tensorsafe counts its own requests: the counts must match the
            # server's. Its byte count is compared too, but only reported:
            # the server also counts the bodies of error answers (404s).
            own = doc["hub"]["requests"]
            hub, cdn, nbytes = summary(stats)
            self.check((own["hub"], own["cdn"]) == (hub, cdn),
                       f"{tool}: self-reported requests (hub {own['hub']}, cdn {own['cdn']}) "
                       f"match the server's")
            if own["bytes"] != nbytes:
                errors = sum(e["bytes"] for e in stats["log"] if e["status"] >= 400)
                print(f"  [note] {tool} counts {own['bytes']} bytes received, the server sent "
                      f"{nbytes}; error answers' bodies: {errors} bytes")
        return proc, stats, doc

    def hf(self, task, tool, action, repo_id, env):
        argv = [sys.executable, os.path.abspath(__file__), "--hf-call", action, repo_id]
        proc, stats = self.measure(task, tool, argv, env)
        if proc.returncode != 0:
            print("    stderr: " + "\n            ".join(proc.stderr.strip().splitlines()[-5:]))
            return proc, stats, None
        return proc, stats, json.loads(proc.stdout.strip().splitlines()[-1])

    # -- tasks --

    def compare_listing(self, task, repo_id, token=None):
        """tensorsafe inspect vs get_safetensors_metadata, each with an empty cache."""
        _, ts_stats, ts = self.tensorsafe(task, "tensorsafe", repo_id,
                                          self.env(self.new_home(), token))
        _, hf_stats, hf = self.hf(task, "huggingface_hub", "metadata", repo_id,
                                  self.env(self.new_home(), token))
        self.check(ts is not None, f"tensorsafe lists {repo_id}")
        self.check(hf is not None, f"huggingface_hub lists {repo_id}")
        if ts is not None and hf is not None:
            ts_tensors = sum(1 for f in ts["files"] for k in f["header"] if k != "__metadata__")
            self.check(ts_tensors == hf["tensors"] == len(ts["weight_map"]),
                       f"tensor count: tensorsafe {ts_tensors} (weight_map "
                       f"{len(ts['weight_map'])}), huggingface_hub {hf['tensors']}")
            self.check(ts["hub"]["parameters"] == hf["parameters"],
                       f"parameters per dtype: tensorsafe {ts['hub']['parameters']}, "
                       f"huggingface_hub {hf['parameters']}")
            self.check(ts["hub"]["total_parameters"] == sum(hf["parameters"].values()),
                       f"total parameters: {ts['hub']['total_parameters']}")
            self.check(ts["hub"]["cached"] is False, "tensorsafe: \"cached\": false (empty cache)")
        return ts_stats, hf_stats

    def task_cache(self):
        task = "4 cache"
        print(f"\n== {task}: full download of {SHARDED}, then tensorsafe from that cache")
        home = self.new_home()
        _, _, dl = self.hf(task, "huggingface_hub download", "download", SHARDED, self.env(home))
        if not self.check(dl is not None, "huggingface_hub downloads the checkpoint"):
            return
        if dl["method"] != "snapshot_download":
            print(f"  note: snapshot_download failed ({dl['snapshot_download_error']});"
                  f" the files were fetched with hf_hub_download instead")

        # Online, populated cache: everything is answered from it.
        proc, stats, doc = self.tensorsafe(task, "tensorsafe cached", SHARDED, self.env(home))
        self.check(proc.returncode == 0 and doc is not None, "tensorsafe lists from the cache")
        self.check(sum(summary(stats)[:2]) == 0, "tensorsafe with a populated cache: 0 requests")
        self.check(doc is not None and doc["hub"]["cached"] is True,
                   "tensorsafe JSON says \"cached\": true")

        # Offline, populated cache.
        proc, stats, doc = self.tensorsafe(task, "tensorsafe offline", SHARDED,
                                           self.env(home, offline=True))
        self.check(proc.returncode == 0 and doc is not None,
                   "tensorsafe HF_HUB_OFFLINE=1 lists from the cache")
        self.check(sum(summary(stats)[:2]) == 0, "tensorsafe HF_HUB_OFFLINE=1: 0 requests")
        self.check(doc is not None and doc["hub"]["cached"] is True,
                   "tensorsafe HF_HUB_OFFLINE=1 JSON says \"cached\": true")

        # Offline, empty cache: must fail, naming what is missing.
        proc, stats, _ = self.tensorsafe(task, "tensorsafe offline empty", SHARDED,
                                         self.env(self.new_home(), offline=True))
        self.check(proc.returncode == 2,
                   f"tensorsafe HF_HUB_OFFLINE=1, empty cache: exit status {proc.returncode} (want 2)")
        self.check(sum(summary(stats)[:2]) == 0,
                   "tensorsafe HF_HUB_OFFLINE=1, empty cache: 0 requests")
        self.check(SHARDED in proc.stderr, f"the message names {SHARDED}")

    def task_gated(self):
        task = "5 gated"
        token = self.args.token
        print(f"\n== {task}: {GATED} with HF_TOKEN")
        for tool, stats in zip(("tensorsafe", "huggingface_hub"),
                               self.compare_listing(task, GATED, token)):
            hub_log = [e for e in stats["log"] if e["server"] == "hub"]
            cdn_log = [e for e in stats["log"] if e["server"] == "cdn"]
            self.check(bool(cdn_log) and stats["cdn_authorization"] == 0,
                       f"{tool}: no Authorization sent to the CDN "
                       f"({len(cdn_log)} CDN requests, cdn_authorization "
                       f"{stats['cdn_authorization']})")
            self.check(bool(hub_log) and all(e["authorization"] for e in hub_log),
                       f"{tool}: every Hub request carries Authorization "
                       f"({sum(e['authorization'] for e in hub_log)}/{len(hub_log)})")

    def run(self):
        try:
            for task, repo_id in (("1 sharded", SHARDED), ("2 single", SINGLE),
                                  ("3 many-tensors", MANY)):
                print(f"\n== {task}: list {repo_id} with an empty cache")
                self.compare_listing(task, repo_id)
            self.task_cache()
            self.task_gated()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.print_table()
        if self.failures:
            print(f"\n{len(self.failures)} check(s) failed:")
            for f in self.failures:
                print(f"  - {f}")
            return 1
        print("\nall checks passed")
        return 0

    def print_table(self):
        head = ("task", "tool", "hub requests", "cdn requests", "bytes received")
        rows = [head] + [tuple(str(c) for c in r) for r in self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        print()
        for n, r in enumerate(rows):
            print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths))))
            if n == 0:
                print("  ".join("-" * w for w in widths))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", help="URL of a running test Hub")
    ap.add_argument("--tensorsafe", help="path of the tensorsafe binary")
    ap.add_argument("--token", default=DEFAULT_TOKEN,
                    help=f"token of the gated repository (default {DEFAULT_TOKEN})")
    ap.add_argument("--hf-call", nargs=2, metavar=("ACTION", "REPO"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.hf_call:
        hf_call(*args.hf_call)
        return 0
    if not args.endpoint or not args.tensorsafe:
        ap.error("--endpoint and --tensorsafe are required")
    return Bench(args).run()


if __name__ == "__main__":
    sys.exit(main())
