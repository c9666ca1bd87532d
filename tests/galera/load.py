#!/usr/bin/env python3
"""Write load on posts-service for tests/galera/run.sh, and the checks on what it wrote.

    load.py write  --base URL --token T --seconds S --workers N --out FILE [--tag TAG]
                   [--stop-file PATH]
    load.py verify --base URL --acks FILE [FILE...]
    load.py stats  --acks FILE --since EPOCH_SECONDS

`write`: N workers for S seconds, each one creating a post (POST /v1/posts with a fresh
Idempotency-Key) and then updating it once (PUT with If-Match), in a loop. A request that
fails (503, timeout, connection error) is retried with the SAME key / If-Match until it
gets an answer or the run ends; only a 201 / 200 counts as acknowledged. Every
acknowledged write is one JSON line in FILE: {"op", "id", "key", "title", "version",
"t_start", "t_end"}. A summary (writes, writes/s, longest gap between acknowledgements)
goes to stdout as JSON. With --stop-file, the run also ends (as at its deadline) once
that file exists, so a case can end the load when the state it waits for is reached.

`verify`: every acknowledged create is there with its title (or the acknowledged update's),
at least at the acknowledged version, and no key made two posts (the title carries the
key). Prints one line per problem; exits 1 if any.

`stats`: from FILE, the time from SINCE to the first write acknowledged after it, and the
longest gap between acknowledgements after it.
"""

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid


def request(method, url, token=None, body=None, headers=None, timeout=3.0):
    """(status, headers, parsed JSON or None); status 0 on a transport error."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, resp.headers, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return err.code, err.headers, parsed
    except (urllib.error.URLError, OSError, TimeoutError, ValueError):
        return 0, {}, None


class Writer:
    def __init__(self, args):
        self.args = args
        self.deadline = time.time() + args.seconds
        self.lock = threading.Lock()
        self.out = open(args.out, "a", encoding="utf-8")
        self.errors = {}
        self.acks = []

    def running(self):
        """Before the deadline, and no stop file yet (which moves the deadline to now)."""
        if self.args.stop_file and os.path.exists(self.args.stop_file):
            self.deadline = min(self.deadline, time.time())
        return time.time() < self.deadline

    def record(self, entry):
        with self.lock:
            self.out.write(json.dumps(entry) + "\n")
            self.out.flush()
            self.acks.append(entry["t_end"])

    def error(self, status):
        with self.lock:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1

    def retrying(self, send):
        """send() until it returns a final answer or the run (plus grace) ends."""
        while time.time() < self.deadline + self.args.grace:
            status, headers, body = send()
            if status in (0, 409, 502, 503, 504):
                self.error(status)
                time.sleep(0.05)
                continue
            return status, headers, body
        return None, None, None

    def worker(self, n):
        base, token = self.args.base, self.args.token
        i = 0
        while self.running():
            i += 1
            key = str(uuid.uuid4())
            title = f"{self.args.tag} {key}"
            body = {"title": title, "body": f"worker {n} post {i}"}
            t0 = time.time()
            status, headers, post = self.retrying(
                lambda: request("POST", f"{base}/v1/posts", token, body, {"Idempotency-Key": key})
            )
            if status != 201 or not post:
                if status is not None:
                    self.error(f"create-{status}")
                continue
            self.record({"op": "create", "id": post["id"], "key": key, "title": title,
                         "version": post.get("version", 1), "t_start": t0, "t_end": time.time()})
            new_title = f"{title} edited"
            etag = headers.get("ETag") or f"\"{post.get('version', 1)}\""
            t0 = time.time()
            status, _, updated = self.retrying(
                lambda: request("PUT", f"{base}/v1/posts/{post['id']}", token,
                                {"title": new_title, "body": body["body"]}, {"If-Match": etag})
            )
            if status == 412:
                # an earlier attempt went through but its answer was lost; the read that
                # tells may itself meet the failover (503), so it is retried the same way
                s, _, now = self.retrying(lambda: request("GET", f"{base}/v1/posts/{post['id']}"))
                if s == 200 and now and now["title"] == new_title:
                    status, updated = 200, now
                else:
                    # not ours after all: the read's answer goes into the summary
                    status = f"412-read-{s}-{'old-title' if s == 200 and now else 'no-post'}"
            if status == 200 and updated:
                self.record({"op": "update", "id": post["id"], "key": key, "title": new_title,
                             "version": updated.get("version"), "t_start": t0, "t_end": time.time()})
            elif status is not None:
                self.error(f"update-{status}")

    def run(self):
        t0 = time.time()
        threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(self.args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        acks = sorted(self.acks)
        gaps = [b - a for a, b in zip([t0] + acks, acks)]
        print(json.dumps({
            "writes": len(acks),
            "seconds": round(elapsed, 2),
            "writes_per_s": round(len(acks) / elapsed, 1) if elapsed else 0,
            "longest_gap_s": round(max(gaps), 3) if gaps else None,
            "retried_errors": self.errors,
        }))


def load_acks(paths):
    acks = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            acks.extend(json.loads(line) for line in f if line.strip())
    return acks


def all_posts(base):
    posts, before = [], None
    while True:
        url = f"{base}/v1/posts?limit=100" + (f"&before={before}" if before else "")
        status, _, page = request("GET", url, timeout=10)
        if status != 200:
            raise SystemExit(f"listing the posts: HTTP {status}")
        posts.extend(page["posts"])
        before = page.get("next_before")
        if not before:
            return posts


def verify(args):
    acks = load_acks(args.acks)
    posts = all_posts(args.base)
    by_id = {p["id"]: p for p in posts}
    problems = []
    by_key = {}
    for p in posts:
        parts = p["title"].split(" ")
        if len(parts) >= 2:
            by_key.setdefault(parts[1], []).append(p["id"])
    expected = {}
    for a in acks:
        e = expected.setdefault(a["id"], {"key": a["key"], "titles": set(), "version": 0})
        e["titles"].add(a["title"])
        e["version"] = max(e["version"], a.get("version") or 0)
    for pid, e in expected.items():
        post = by_id.get(pid)
        if post is None:
            problems.append(f"acknowledged post {pid} (key {e['key']}) is missing")
            continue
        if post["title"] not in e["titles"]:
            problems.append(f"post {pid}: title {post['title']!r}, acknowledged {sorted(e['titles'])}")
        if (post.get("version") or 0) < e["version"]:
            problems.append(f"post {pid}: version {post.get('version')} < acknowledged {e['version']}")
        if len(by_key.get(e["key"], [])) > 1:
            problems.append(f"key {e['key']} made {len(by_key[e['key']])} posts: {by_key[e['key']]}")
    for p in problems:
        print(p)
    print(json.dumps({"acknowledged_posts": len(expected), "acknowledged_writes": len(acks),
                      "posts": len(posts), "problems": len(problems)}))
    return 1 if problems else 0


def stats(args):
    acks = sorted(a["t_end"] for a in load_acks(args.acks) if a["t_end"] >= args.since)
    first = acks[0] - args.since if acks else None
    gaps = [b - a for a, b in zip([args.since] + acks, acks)]
    print(json.dumps({"first_write_after_s": round(first, 3) if first is not None else None,
                      "longest_gap_s": round(max(gaps), 3) if gaps else None,
                      "writes": len(acks)}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--base", required=True)
    w.add_argument("--token", required=True)
    w.add_argument("--seconds", type=float, required=True)
    w.add_argument("--workers", type=int, default=4)
    w.add_argument("--grace", type=float, default=20.0)
    w.add_argument("--out", required=True)
    w.add_argument("--tag", default="galera")
    w.add_argument("--stop-file")
    v = sub.add_parser("verify")
    v.add_argument("--base", required=True)
    v.add_argument("--acks", nargs="+", required=True)
    s = sub.add_parser("stats")
    s.add_argument("--acks", nargs="+", required=True)
    s.add_argument("--since", type=float, required=True)
    args = p.parse_args()
    if args.cmd == "write":
        Writer(args).run()
        return 0
    if args.cmd == "verify":
        return verify(args)
    return stats(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
