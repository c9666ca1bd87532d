#!/usr/bin/env python3
"""A normal reader during a slow-client attack: one GET at a steady pace, each on a new
connection (as a new visitor would open one), for a bounded time. Prints one JSON line
with the latency percentiles in milliseconds; a request that fails or takes longer than
the timeout counts at the timeout.

Usage: reader.py URL SECONDS [INTERVAL_MS] [TIMEOUT_S]

An https URL is read over TLS, trusting only the CA certificates of the file that
TLS_CA_FILE names (required then); each request's handshake counts in its latency.
"""

import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse


def connector(url: urllib.parse.SplitResult):
    """A function (timeout) -> a new connection to URL's host: HTTPS for an https URL,
    checked against the CA of TLS_CA_FILE and for the URL's host."""
    if url.scheme == "https":
        ca_file = os.environ.get("TLS_CA_FILE")
        if not ca_file:
            sys.exit("an https URL needs TLS_CA_FILE, the CA certificate to trust")
        context = ssl.create_default_context(cafile=ca_file)
        return lambda timeout: http.client.HTTPSConnection(
            url.hostname, url.port, timeout=timeout, context=context)
    return lambda timeout: http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)


def one_request(url: urllib.parse.SplitResult, connect, timeout: float) -> tuple[float, int | None]:
    started = time.monotonic()
    status = None
    try:
        conn = connect(timeout)
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        conn.request("GET", path, headers={"Connection": "close", "Accept": "*/*"})
        response = conn.getresponse()
        response.read()
        status = response.status
        conn.close()
    except OSError:
        status = None
    elapsed = time.monotonic() - started
    if status is None:
        elapsed = max(elapsed, timeout)
    return elapsed * 1000.0, status


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def main() -> int:
    url = urllib.parse.urlsplit(sys.argv[1])
    seconds = float(sys.argv[2])
    interval = (float(sys.argv[3]) if len(sys.argv) > 3 else 20.0) / 1000.0
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    connect = connector(url)
    latencies, failures, statuses = [], 0, {}
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        latency, status = one_request(url, connect, timeout)
        latencies.append(latency)
        key = str(status) if status is not None else "error"
        statuses[key] = statuses.get(key, 0) + 1
        if status is None or status >= 500:
            failures += 1
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.monotonic()
    ordered = sorted(latencies)
    print(json.dumps({
        "requests": len(ordered),
        "failures": failures,
        "statuses": statuses,
        "p50_ms": round(percentile(ordered, 0.50), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
