#!/usr/bin/env python3
"""Secrets and errors: drive both services through their failure paths, then look for
secrets and SQL in every log line and every error body.

  secrets.py scenario   drives render-service and posts-service (environment below)
                        through bad logins, bad tokens, bad input, unknown pages, a
                        stopped and a frozen database, and a posts-service started while
                        the database is down; writes every response to BODIES (JSON lines)
  secrets.py scan FILE...
                        reads log files (one line each) and body files (JSON lines:
                        status, url, body; and the error responses of HAR files) and
                        prints every line that holds
                        a secret (whole, or its first or last 16 characters) or SQL;
                        exits 1 when there is any, 2 when there is nothing to read
  secrets.py selftest   shows that `scan` finds each secret and each SQL shape

The secrets come from the environment: API_TOKEN, ADMIN_PASSWORD, SESSION_SECRET,
DB_PASSWORD, DB_ROOT_PASSWORD. The scenario also needs BLOG_URL, API_URL, DB_CONTAINER,
POSTS_BIN, POSTS_ENV_FILE (posts-service's environment, KEY=VALUE lines), LOG_DIR, BODIES,
and for an https URL TLS_CA_FILE: the CA certificate that server's must chain to (for
the URL's host), the only one trusted.

The requests never carry SQL words themselves, so any SQL found came from a server.
Wrong credentials are the right ones with a suffix: a server that logged what it was
sent would log the real secret too.
"""

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.parse

SECRET_NAMES = ["API_TOKEN", "ADMIN_PASSWORD", "SESSION_SECRET", "DB_PASSWORD", "DB_ROOT_PASSWORD"]

# SQL as a server would leak it: statements, MariaDB error texts and codes.
SQL_PATTERNS = [
    r"\bselect\b[^\n]{0,200}?\bfrom\b",
    r"\binsert\s+into\b",
    r"\bupdate\s+`?\w+`?\s+set\b",
    r"\bdelete\s+from\b",
    r"\b(create|alter|drop|truncate)\s+(table|database|index|view)\b",
    r"\bwhere\s+`?\w+`?\s*(=|<|>|\bin\b|\blike\b)",
    r"\bsqlstate\b",
    r"error in your sql syntax",
    r"\berror\s+[0-9a-z]{5}\s+\(\d{4}\)",
    r"\btable\s+'[^']*'",
    r"\bget_lock\s*\(",
    r"refinery_schema_history",
]
SQL = re.compile("|".join(f"(?:{p})" for p in SQL_PATTERNS), re.IGNORECASE)


def secrets_from_env() -> dict[str, str]:
    found = {name: os.environ[name] for name in SECRET_NAMES if os.environ.get(name)}
    for name, value in found.items():
        if len(value) < 32:
            sys.exit(f"{name} must be at least 32 characters for a meaningful search")
    return found


def needles(secrets: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for name, value in secrets.items():
        out += [(name, value), (f"{name} (first 16)", value[:16]), (f"{name} (last 16)", value[-16:])]
    return out


def problems_in(text: str, secret_needles: list[tuple[str, str]]) -> list[str]:
    found = [name for name, needle in secret_needles if needle in text]
    match = SQL.search(text)
    if match:
        found.append(f"SQL {match.group(0)[:60]!r}")
    return found


def texts_of(path: str):
    """(where, text) for every log line or response body in a file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        content = handle.read()
    if path.endswith(".har"):
        har = json.loads(content)
        for entry in har.get("log", {}).get("entries", []):
            response = entry.get("response", {})
            if int(response.get("status") or 0) < 400:
                continue
            body = response.get("content", {}).get("text", "")
            yield f"{path}: {response.get('status')} {entry.get('request', {}).get('url')}", body
            for header in response.get("headers", []):
                yield f"{path}: header {header.get('name')}", f"{header.get('name')}: {header.get('value')}"
        return
    for number, line in enumerate(content.splitlines(), 1):
        if path.endswith(".bodies.jsonl"):
            record = json.loads(line)
            yield f"{path}: {record['status']} {record['method']} {record['url']}", record["body"] + "\n" + record["headers"]
        else:
            yield f"{path}:{number}", line


def scan(paths: list[str]) -> int:
    secret_needles = needles(secrets_from_env())
    if len(secret_needles) < 3 * 4:
        sys.exit("scan needs API_TOKEN, ADMIN_PASSWORD, SESSION_SECRET and DB_PASSWORD")
    counts = {"log lines": 0, "response bodies": 0}
    leaks = []
    for path in paths:
        kind = "log lines" if path.endswith(".log") else "response bodies"
        for where, text in texts_of(path):
            counts[kind] += 1
            for problem in problems_in(text, secret_needles):
                leaks.append(f"{where}: {problem}: {text[:300]!r}")
    print(f"scanned {counts['log lines']} log lines and {counts['response bodies']} responses "
          f"from {len(paths)} files for {len(secret_needles) // 3} secrets and {len(SQL_PATTERNS)} SQL shapes")
    for leak in leaks[:50]:
        print("LEAK " + leak)
    if leaks:
        print(f"{len(leaks)} lines leak a secret or SQL")
        return 1
    if counts["log lines"] == 0 or counts["response bodies"] == 0:
        print("nothing to scan")
        return 2
    return 0


def selftest() -> int:
    secret_needles = needles(secrets_from_env())
    planted = [f'{{"msg":"login failed","password":"{value}"}}' for _, value in secret_needles]
    planted += [
        '{"cause":"Server error: `ERROR 42S02 (1146): Table \'blog.posts\' doesn\'t exist\'"}',
        '{"detail":"SELECT id, title FROM posts WHERE id = ?"}',
        "INSERT INTO posts (title) VALUES (?)",
        "UPDATE posts SET title = ?",
        "DELETE FROM posts",
        "You have an error in your SQL syntax near ''",
        "SQLSTATE[HY000]",
    ]
    missed = [text for text in planted if not problems_in(text, secret_needles)]
    clean = ['{"msg":"request completed","method":"DELETE","path":"/v1/posts/7","status":204}',
             '{"msg":"post updated","post_id":3,"version":2}',
             '{"title":"Unprocessable Entity","detail":"title must not be empty"}']
    false_alarms = [text for text in clean if problems_in(text, secret_needles)]
    for text in missed:
        print(f"not found: {text}")
    for text in false_alarms:
        print(f"false alarm: {text}")
    print(f"{len(planted)} planted leaks found, {len(clean)} clean lines passed")
    return 1 if missed or false_alarms else 0


# ---------------------------------------------------------------- scenario --

def connection(url: urllib.parse.SplitResult, timeout: float) -> http.client.HTTPConnection:
    """A connection to URL's host: HTTPS for an https URL, checked against the CA of
    TLS_CA_FILE and for the URL's host; plain HTTP for an http one."""
    if url.scheme == "https":
        ca_file = os.environ.get("TLS_CA_FILE")
        if not ca_file:
            sys.exit("an https URL needs TLS_CA_FILE, the CA certificate to trust")
        context = ssl.create_default_context(cafile=ca_file)
        return http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout, context=context)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)


class Client:
    """HTTP without redirects, with a cookie jar, recording every response."""

    def __init__(self, base: str, record):
        self.base = urllib.parse.urlsplit(base)
        self.cookies: dict[str, str] = {}
        self.record = record

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, cookies: bool = True):
        headers = dict(headers or {})
        if cookies and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, str):
            body = body.encode()
        conn = connection(self.base, 15)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read().decode("utf-8", errors="replace")
            status = response.status
            response_headers = response.getheaders()
        except OSError as err:
            status, data, response_headers = 0, f"connection failed: {err}", []
        finally:
            conn.close()
        for name, value in response_headers:
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                if val:
                    self.cookies[key.strip()] = val.strip()
                else:
                    self.cookies.pop(key.strip(), None)
        self.record(status, method, f"{self.base.geturl()}{path}", data,
                    "\n".join(f"{k}: {v}" for k, v in response_headers))
        return status, dict((k.lower(), v) for k, v in response_headers), data

    def form(self, path: str, fields: dict[str, str]):
        return self.request("POST", path, urllib.parse.urlencode(fields),
                            {"Content-Type": "application/x-www-form-urlencoded"})


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]*)"', html)
    return match.group(1) if match else ""


def wait_ready(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    parts = urllib.parse.urlsplit(url)
    while time.monotonic() < deadline:
        try:
            conn = connection(parts, 2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def docker(*args: str):
    subprocess.run(["docker", *args], check=True, stdout=subprocess.DEVNULL)


def freeze(container: str):
    """`docker pause`, tried again when the cgroup freezer gives up ("unable to freeze":
    a process was in uninterruptible I/O); runc thaws the container when that happens."""
    for attempt in range(1, 6):
        done = subprocess.run(["docker", "pause", container], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode == 0:
            return
        print(f"docker pause failed (try {attempt} of 5): {done.stderr.strip()}")
        time.sleep(1)
    raise RuntimeError(f"docker pause {container} failed 5 times")


def scenario() -> int:
    env = os.environ
    secrets = secrets_from_env()
    token, password = secrets["API_TOKEN"], secrets["ADMIN_PASSWORD"]
    bodies = open(env["BODIES"], "a", encoding="utf-8")
    statuses: dict[int, int] = {}

    def record(status, method, url, body, headers):
        statuses[status] = statuses.get(status, 0) + 1
        bodies.write(json.dumps({"status": status, "method": method, "url": url,
                                 "body": body, "headers": headers}) + "\n")

    blog = Client(env["BLOG_URL"], record)
    api = Client(env["API_URL"], record)
    auth = {"Authorization": f"Bearer {token}"}
    as_json = {"Content-Type": "application/json"}

    # --- render-service: logins
    _, _, page = blog.request("GET", "/login")
    blog.form("/login", {"username": "admin", "password": password + "-wrong", "csrf_token": csrf(page)})
    _, _, page = blog.request("GET", "/login")
    blog.form("/login", {"username": "nobody", "password": password, "csrf_token": csrf(page)})
    blog.form("/login", {"username": "admin", "password": password})  # no CSRF token
    _, _, page = blog.request("GET", "/login")
    status, _, _ = blog.form("/login", {"username": "admin", "password": password, "csrf_token": csrf(page)})
    if status != 303:
        print(f"the admin could not log in ({status})")
        return 1

    # --- render-service: bad input through the forms
    _, _, page = blog.request("GET", "/add")
    token_field = csrf(page)
    blog.form("/add", {"title": "   ", "body": "empty title", "csrf_token": token_field})
    blog.form("/add", {"title": "x" * 200, "body": "b" * 70000, "csrf_token": token_field})
    blog.form("/add", {"title": "forged", "body": "b", "csrf_token": "forged"})
    status, headers, _ = blog.form("/add", {"title": "Secrets scenario", "body": "A *post*.", "csrf_token": token_field})
    # The new post's page is /posts/{slug}; its id (which the edit and delete forms and
    # the API's writes take) comes from posts-service, asked by that slug.
    slug = headers.get("location", "/posts/none").rsplit("/", 1)[-1]
    status, _, created = api.request("GET", f"/v1/posts/{slug}", None, auth)
    if status != 200:
        print(f"the post the add form created is not at /v1/posts/{slug} ({status})")
        return 1
    post_id = json.loads(created)["id"]
    blog.form(f"/edit/{post_id}", {"title": "t", "body": "b", "version": "99", "csrf_token": token_field})
    blog.form(f"/edit/{post_id}", {"title": "t", "body": "b", "version": "not-a-number", "csrf_token": token_field})
    blog.form(f"/delete/{post_id}", {"version": "1"})
    for path in ["/posts/999999", "/posts/abc", "/edit/999999", "/nowhere", "/static/none.css",
                 "/?before=abc", "/?before=-1", "/posts/18446744073709551616"]:
        blog.request("GET", path)
    blog.request("PUT", "/")
    blog.request("GET", "/add", cookies=False, headers={"Cookie": "blog_session=forged.0.AAAA"})

    # --- posts-service: bad tokens and bad input
    post = json.dumps({"title": "t", "body": "b"})
    api.request("POST", "/v1/posts", post, as_json)
    api.request("POST", "/v1/posts", post, {**as_json, "Authorization": f"Bearer {token}x"})
    api.request("POST", "/v1/posts", post, {**as_json, "Authorization": f"Basic {token}"})
    api.request("POST", "/v1/posts", post, {**as_json, "Authorization": f"Bearer {token[:-1]}"})
    api.request("DELETE", f"/v1/posts/{post_id}", None, {"Authorization": "Bearer wrong"})
    api.request("POST", "/v1/posts", "{", {**as_json, **auth})
    api.request("POST", "/v1/posts", '{"title":"t","body":"b","extra":1}', {**as_json, **auth})
    api.request("POST", "/v1/posts", '[1,2]', {**as_json, **auth})
    api.request("POST", "/v1/posts", '{"title":"","body":""}', {**as_json, **auth})
    api.request("POST", "/v1/posts", json.dumps({"title": "t", "body": "b" * 70000}), {**as_json, **auth})
    api.request("POST", "/v1/posts", "title=t", {"Content-Type": "text/plain", **auth})
    api.request("POST", "/v1/posts", " " * (300 * 1024), {**as_json, **auth})
    api.request("PUT", f"/v1/posts/{post_id}", post, {**as_json, **auth})
    api.request("PUT", f"/v1/posts/{post_id}", post, {**as_json, **auth, "If-Match": '"99"'})
    api.request("PUT", f"/v1/posts/{post_id}", post, {**as_json, **auth, "If-Match": "3"})
    api.request("PUT", "/v1/posts/999999", post, {**as_json, **auth, "If-Match": '"1"'})
    for path in ["/v1/posts?limit=abc", "/v1/posts?limit=1000", "/v1/posts?before=x",
                 "/v1/posts/abc", "/v1/posts/999999", "/v1/posts/18446744073709551616", "/nowhere"]:
        api.request("GET", path)
    api.request("PATCH", "/v1/posts", post, {**as_json, **auth})

    # --- the database stopped, then frozen
    container = env["DB_CONTAINER"]
    docker("stop", "-t", "5", container)
    try:
        exercise_outage(blog, api, post, auth, as_json, post_id)
        start_posts_service_without_database(env)
    finally:
        docker("start", container)
    if not wait_ready(env["API_URL"], 90):
        print("posts-service did not become ready after the database came back")
        return 1
    freeze(container)
    try:
        exercise_outage(blog, api, post, auth, as_json, post_id)
    finally:
        docker("unpause", container)
    if not wait_ready(env["API_URL"], 60):
        print("posts-service did not become ready after the database thawed")
        return 1
    blog.request("POST", "/logout", urllib.parse.urlencode({"csrf_token": token_field}),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    bodies.close()
    print("responses by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    needed = {401, 403, 404, 400, 413, 415, 422, 428, 412, 503}
    missing = sorted(needed - set(statuses))
    if missing:
        print(f"the scenario never produced {missing}: it no longer reaches those paths")
        return 1
    return 0


def exercise_outage(blog, api, post, auth, as_json, post_id):
    api.request("GET", "/readyz")
    api.request("GET", "/v1/posts")
    api.request("GET", "/v1/posts/424242")
    api.request("POST", "/v1/posts", post, {**as_json, **auth})
    api.request("PUT", f"/v1/posts/{post_id}", post, {**as_json, **auth, "If-Match": '"1"'})
    api.request("DELETE", "/v1/posts/424242", None, auth)
    blog.request("GET", "/")
    blog.request("GET", "/posts/424242")
    blog.request("GET", "/feed.xml?outage")
    _, _, page = blog.request("GET", "/add")
    blog.form("/add", {"title": "during outage", "body": "b", "csrf_token": csrf(page)})


def start_posts_service_without_database(env):
    """A posts-service that starts while the database is down (its log is scanned)."""
    variables = dict(os.environ)
    with open(env["POSTS_ENV_FILE"], encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                variables[key] = value
    variables["LISTEN_ADDR"] = "127.0.0.1:0"
    variables["METRICS_ADDR"] = "127.0.0.1:0"
    log = open(os.path.join(env["LOG_DIR"], "posts-service-no-database.log"), "w")
    process = subprocess.Popen([env["POSTS_BIN"]], env=variables, stdout=log, stderr=subprocess.STDOUT)
    try:
        process.wait(timeout=8)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=25)
    log.close()


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "scenario":
        return scenario()
    if command == "scan":
        return scan(sys.argv[2:])
    if command == "selftest":
        return selftest()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
