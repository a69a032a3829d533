#!/usr/bin/env python3
"""Local test Hub: serves the repositories built by make_fixtures.py the way
the Hugging Face Hub does, for tests that must not reach the network.

Usage:
    server.py --fixtures DIR --port-file FILE [--log FILE] [--url-ttl SECONDS]

Two HTTP/1.1 servers on 127.0.0.1 (free ports):
  * the HUB answers /{org}/{name}/resolve/{rev}/{path} (and /datasets/...),
    redirecting .safetensors (LFS) files to signed, expiring CDN URLs;
  * the CDN serves blobs by sha256, with single-range support.
When both listen, {"endpoint": ..., "cdn": ...} is written atomically to
FILE. Control routes on the HUB: GET /_stats, POST /_reset,
POST /_push?repo=ORG/NAME, POST /_misbehave?mode=MODE (a hostile server
until the next reset; the modes are listed in tests/hub/README.md).
SIGTERM or SIGINT stops the servers (exit 0).

Standard library only.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

HEX40 = re.compile(r"^[0-9a-f]{40}$")
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


# --- etags shared with make_cache.py ------------------------------------------

def is_lfs(path):
    """Files stored in LFS (redirected to the CDN) are the .safetensors ones."""
    return path.endswith(".safetensors")


def git_blob_sha1(data):
    """The git object id of a blob: what the Hub sends as ETag for small files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256, size):
    """The git LFS pointer file that the repository stores for an LFS file."""
    return (f"version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{sha256}\nsize {size}\n").encode()


def file_etag(path, data):
    """Etag naming the blob in the Hub cache (sha256 for LFS, git sha1 otherwise)."""
    if is_lfs(path):
        return hashlib.sha256(data).hexdigest()
    return git_blob_sha1(data)


# --- state ----------------------------------------------------------------------

class Hub:
    """Repositories, mutable refs, signing key and request statistics."""

    def __init__(self, fixtures, ttl):
        with open(os.path.join(fixtures, "repos.json")) as f:
            doc = json.load(f)
        self.token = doc["token"]
        self.aliases = doc.get("aliases", {})
        self.repos = doc["repos"]
        for repo in self.repos.values():
            repo["commits"] = {sha: os.path.join(fixtures, rel)
                               for sha, rel in repo["commits"].items()}
        self.ttl = ttl
        self.key = os.urandom(32)
        self.lock = threading.Lock()
        # sha256 -> path of every LFS file, and path -> (sha256, size, pointer etag)
        self.blobs = {}
        self.lfs_info = {}
        for repo in self.repos.values():
            for root in repo["commits"].values():
                for dirpath, _, names in os.walk(root):
                    for n in names:
                        full = os.path.join(dirpath, n)
                        if is_lfs(n):
                            with open(full, "rb") as f:
                                data = f.read()
                            sha = hashlib.sha256(data).hexdigest()
                            self.blobs[sha] = full
                            self.lfs_info[full] = (
                                sha, len(data), git_blob_sha1(lfs_pointer(sha, len(data))))
        # What /_reset restores after a /_push.
        self.initial_refs = {rid: dict(repo["refs"]) for rid, repo in self.repos.items()}
        self.reset()

    def reset(self):
        with self.lock:
            self.stats = {
                "hub": {"requests": 0, "by_method": {}, "by_status": {}},
                "cdn": {"requests": 0, "bytes": 0, "by_method": {}, "by_status": {}},
                "hub_bytes": 0,
                "cdn_authorization": 0,
                "log": [],
            }
            self.rate_limited = set()  # repos that already got their 429
            self.misbehave = None      # a hostile mode, see the module docs
            for rid, refs in self.initial_refs.items():
                self.repos[rid]["refs"] = dict(refs)

    def record(self, server, method, path, range_header, authorization, status):
        """Logs a request as its answer is about to leave (so that the log
        keeps the order of the answers); returns the counters and the entry,
        to which `sent` adds the body's bytes as they go out (to these
        counters, even if a /_reset came in between)."""
        with self.lock:
            s = self.stats[server]
            s["requests"] += 1
            s["by_method"][method] = s["by_method"].get(method, 0) + 1
            s["by_status"][str(status)] = s["by_status"].get(str(status), 0) + 1
            if server == "cdn" and authorization:
                self.stats["cdn_authorization"] += 1
            entry = {
                "server": server, "method": method, "path": path,
                "range": range_header, "authorization": authorization,
                "status": status, "bytes": 0}
            self.stats["log"].append(entry)
            return self.stats, entry

    def sent(self, server, counted, nbytes):
        """Counts `nbytes` of body sent for the request logged as `entry`
        (negative: taken back). Bytes are counted before they are written,
        so that a client that has them never reads a count without them,
        and taken back if the write fails."""
        stats, entry = counted
        with self.lock:
            entry["bytes"] += nbytes
            if server == "hub":
                stats["hub_bytes"] += nbytes
            else:
                stats["cdn"]["bytes"] += nbytes

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.stats))

    def first_request_limited(self, repo_id):
        """True exactly once per rate_limit_once repo (until the next reset)."""
        with self.lock:
            if repo_id in self.rate_limited:
                return False
            self.rate_limited.add(repo_id)
            return True

    def push(self, repo_id):
        with self.lock:
            repo = self.repos.get(repo_id)
            if not repo or not repo.get("pending_push"):
                return False
            repo["refs"].update(repo["pending_push"])
            return True

    def resolve_revision(self, repo, revision):
        with self.lock:
            sha = repo["refs"].get(revision)
        if sha is None and HEX40.match(revision) and revision in repo["commits"]:
            sha = revision
        return sha

    def sign(self, sha256, expires):
        msg = f"{sha256}:{expires}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()


# --- HTTP ------------------------------------------------------------------------

def parse_range(header, size):
    """Return None (serve whole body), (start, end) inclusive, or "unsatisfiable"."""
    if header is None:
        return None
    m = RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # malformed or several ranges: ignored
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range spec: ignored
    if start >= size:
        return "unsatisfiable"
    return (start, min(end, size - 1))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tensorsafe-test-hub"
    hub = None      # Hub, set on the subclass
    role = None     # "hub" or "cdn"
    log_file = None

    # -- plumbing --

    def log_message(self, fmt, *args):
        if self.log_file is not None:
            line = "%s %s %s\n" % (self.role, self.log_date_time_string(), fmt % args)
            with self.hub.lock:
                self.log_file.write(line)
                self.log_file.flush()

    def split_path(self):
        path, _, query = self.path.partition("?")
        return path, query

    def send(self, status, headers=(), body=b"", count=True):
        """Send a complete response; HEAD gets the headers (and length) only."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        # Logged before the answer leaves: a client may act on it (follow a
        # redirect to the CDN) before this thread runs again.
        entry = self.log_request_now(status) if count else None
        self.end_headers()
        if self.command != "HEAD" and body:
            self.write_counted(entry, body)

    def write_counted(self, entry, data):
        if entry is not None:
            self.hub.sent(self.role, entry, len(data))
        try:
            self.wfile.write(data)
        except OSError:
            if entry is not None:
                self.hub.sent(self.role, entry, -len(data))
            raise

    def log_request_now(self, status):
        return self.hub.record(self.role, self.command, self.split_path()[0],
                               self.headers.get("Range"),
                               self.headers.get("Authorization") is not None, status)

    def send_json_error(self, status, code, message, body_message=None, extra=()):
        headers = list(extra)
        if code:
            headers += [("X-Error-Code", code), ("X-Error-Message", message)]
        headers.append(("Content-Type", "application/json"))
        body = json.dumps({"error": body_message or message}).encode()
        self.send(status, headers, body)

    def send_content(self, data, headers):
        """200 or 206/416 according to the Range header."""
        headers = list(headers) + [("Accept-Ranges", "bytes")]
        r = parse_range(self.headers.get("Range"), len(data))
        if r is None:
            self.send(200, headers, data)
        elif r == "unsatisfiable":
            self.send(416, headers + [("Content-Range", f"bytes */{len(data)}")])
        else:
            start, end = r
            self.send(206, headers + [("Content-Range", f"bytes {start}-{end}/{len(data)}")],
                      data[start:end + 1])

    def drain_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)

    def do_GET(self):
        self.drain_body()
        self.route()

    def do_HEAD(self):
        self.drain_body()
        self.route()

    def do_POST(self):
        self.drain_body()
        self.route()


class HubHandler(Handler):
    role = "hub"
    cdn_base = None

    def route(self):
        path, query = self.split_path()
        if path == "/_stats" and self.command == "GET":
            body = json.dumps(self.hub.snapshot()).encode()
            return self.send(200, [("Content-Type", "application/json")], body, count=False)
        if path == "/_reset" and self.command == "POST":
            self.hub.reset()
            return self.send(204, count=False)
        if path == "/_misbehave" and self.command == "POST":
            mode = parse_qs(query).get("mode", [""])[0]
            if mode not in ("commit", "bad-commit", "no-commit", "cdn-commit", "no-etag",
                            "content-range", "overlong", "short", "rate-limit", "gone"):
                return self.send(400, count=False)
            self.hub.misbehave = mode
            return self.send(204, count=False)
        if path == "/_push" and self.command == "POST":
            repo_id = parse_qs(query).get("repo", [""])[0]
            return self.send(204 if self.hub.push(repo_id) else 404, count=False)

        raw = path.split("/")[1:]
        repo_type = "model"
        if raw and raw[0] == "datasets":
            repo_type, raw = "dataset", raw[1:]
        if self.command in ("GET", "HEAD") and len(raw) >= 5 and raw[2] == "resolve":
            return self.resolve(repo_type, raw)
        self.send_json_error(404, None, "Not Found")

    def resolve(self, repo_type, raw):
        seg = [unquote(s) for s in raw]
        repo_id = f"{seg[0]}/{seg[1]}"
        revision, file_path = seg[3], "/".join(seg[4:])
        hub = self.hub

        # Renamed repository: relative redirect to the new name, nothing else.
        if repo_id in hub.aliases:
            prefix = "/datasets" if repo_type == "dataset" else ""
            location = f"{prefix}/{hub.aliases[repo_id]}/resolve/{'/'.join(raw[3:])}"
            return self.send(307, [("Location", location)])

        repo = hub.repos.get(repo_id)
        if repo is None or repo["type"] != repo_type:
            url = f"http://{self.headers.get('Host', '127.0.0.1')}{self.split_path()[0]}"
            return self.send_json_error(401, "RepoNotFound", "Repository not found",
                                        f"Repository Not Found for url: {url}.")

        if repo["gated"]:
            auth = self.headers.get("Authorization")
            if auth is None:
                return self.send_json_error(
                    401, "GatedRepo",
                    f"Access to {repo_type} {repo_id} is restricted. You must have access "
                    f"to it and be authenticated to access it. Please log in.")
            if auth != f"Bearer {hub.token}":
                return self.send_json_error(
                    403, "GatedRepo",
                    f"Access to {repo_type} {repo_id} is restricted and you are not in "
                    f"the authorized list.")

        limited = hub.misbehave == "rate-limit" or (
            repo["rate_limit_once"] and hub.first_request_limited(repo_id))
        if limited:
            return self.send_json_error(
                429, None, "Too Many Requests",
                "You have been rate-limited; you can retry this action in 1 second.",
                extra=[("Retry-After", "1"),
                       ("RateLimit", '"resolvers";r=0;t=1'),
                       ("RateLimit-Policy", '"fixed window";"resolvers";q=3000;w=300')])

        sha = hub.resolve_revision(repo, revision)
        if sha is None:
            return self.send_json_error(404, "RevisionNotFound", f"Invalid rev id: {revision}")

        root = repo["commits"][sha]
        full = os.path.normpath(os.path.join(root, file_path))
        parts = file_path.split("/")
        if ".." in parts or "" in parts or not os.path.isfile(full):
            return self.send_json_error(404, "EntryNotFound", "Entry not found",
                                        extra=[("X-Repo-Commit", sha)])

        said = sha
        if hub.misbehave == "commit":
            said = "f" * 40 if sha != "f" * 40 else "e" * 40
        elif hub.misbehave == "bad-commit":
            said = "../../x"
        headers = [("X-Repo-Commit", said), ("Accept-Ranges", "bytes")]
        if hub.misbehave in ("no-commit", "cdn-commit"):
            headers = [("Accept-Ranges", "bytes")]
        if is_lfs(file_path):
            sha256, size, pointer_etag = hub.lfs_info[full]
            expires = int(time.time()) + hub.ttl
            location = (f"{self.cdn_base}/blobs/{sha256}?Expires={expires}"
                        f"&Signature={hub.sign(sha256, expires)}")
            tags = [("X-Linked-Etag", f'"{sha256}"'), ("ETag", f'"{pointer_etag}"')]
            if hub.misbehave == "no-etag":
                tags = []
            return self.send(302, headers + tags + [
                ("Location", location),
                ("X-Linked-Size", str(size)),
            ])

        with open(full, "rb") as f:
            data = f.read()
        ctype = "application/json" if file_path.endswith(".json") else "application/octet-stream"
        self.send_content(data, [h for h in headers if h[0] != "Accept-Ranges"] + [
            ("ETag", f'"{git_blob_sha1(data)}"'), ("Content-Type", ctype)])


class CdnHandler(Handler):
    role = "cdn"

    def s3_error(self, status, code, message=None):
        body = f"<Error><Code>{code}</Code>"
        if message:
            body += f"<Message>{message}</Message>"
        body += "</Error>"
        self.send(status, [("Content-Type", "application/xml")], body.encode())

    def route(self):
        path, query = self.split_path()
        m = re.match(r"^/blobs/([0-9a-f]{64})$", path)
        if self.command not in ("GET", "HEAD") or not m:
            return self.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        sha256 = m.group(1)
        q = parse_qs(query)
        expires = q.get("Expires", [""])[0]
        signature = q.get("Signature", [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(
                signature, self.hub.sign(sha256, int(expires))):
            return self.s3_error(403, "AccessDenied", "Invalid signature")
        if time.time() > int(expires):
            return self.s3_error(403, "AccessDenied", "Request has expired")
        if self.headers.get("Authorization") is not None:
            return self.s3_error(400, "InvalidArgument", "Only one auth mechanism allowed")
        blob = self.hub.blobs.get(sha256)
        if blob is None:
            return self.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        with open(blob, "rb") as f:
            data = f.read()
        r = parse_range(self.headers.get("Range"), len(data))
        if self.hub.misbehave in ("content-range", "overlong", "short") and isinstance(r, tuple):
            return self.hostile(data, r)
        if self.hub.misbehave == "gone" and isinstance(r, tuple) and r[0] > 0:
            return self.s3_error(410, "Gone", "The blob is gone.")
        headers = [("ETag", f'"{hashlib.md5(data).hexdigest()}"'),
                   ("Content-Type", "application/octet-stream")]
        if self.hub.misbehave == "cdn-commit":
            headers.append(("X-Repo-Commit", "e" * 40))
        if self.hub.misbehave == "no-etag":
            headers = headers[1:]
        self.send_content(data, headers)

    def hostile(self, data, r):
        """A 206 that lies. `content-range`: a 64 GiB Content-Range over the
        bytes asked, sent in flushed pieces (a client trusting the header
        would allocate it). `overlong`: the range asked, then a megabyte
        more. `short`: half the range asked. The last two without
        Content-Length, the connection closed after the body."""
        start, end = r
        mode = self.hub.misbehave
        self.send_response(206)
        if mode == "content-range":
            body = data[start:end + 1]
            self.send_header("Content-Range", "bytes 0-68719476735/68719476736")
        else:
            body = data[start:end + 1]
            body = body + b"\0" * (1 << 20) if mode == "overlong" else body[:len(body) // 2]
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Connection", "close")
        self.close_connection = True
        entry = self.log_request_now(206)
        self.end_headers()
        try:
            for at in range(0, len(body), 16 << 10):
                self.write_counted(entry, body[at:at + (16 << 10)])
                self.wfile.flush()
        except OSError:
            pass  # the client stopped reading, as it should

class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not delay exit

    def handle_error(self, request, client_address):
        pass  # e.g. a client closing the connection mid-body: not worth reporting


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--url-ttl", type=int, default=60)
    args = ap.parse_args()

    hub = Hub(args.fixtures, args.url_ttl)
    log_file = open(args.log, "a") if args.log else None
    base = {"hub": hub, "log_file": log_file}
    cdn = Server(("127.0.0.1", 0), type("Cdn", (CdnHandler,), dict(base)))
    cdn_base = f"http://127.0.0.1:{cdn.server_address[1]}"
    hubsrv = Server(("127.0.0.1", 0),
                    type("Hub", (HubHandler,), dict(base, cdn_base=cdn_base)))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True) for s in (hubsrv, cdn)]
    for t in threads:
        t.start()

    tmp = f"{args.port_file}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"endpoint": f"http://127.0.0.1:{hubsrv.server_address[1]}",
                   "cdn": cdn_base}, f)
    os.replace(tmp, args.port_file)

    while not stop.wait(0.2):
        pass
    for s in (hubsrv, cdn):
        s.shutdown()
        s.server_close()
    if log_file:
        log_file.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
