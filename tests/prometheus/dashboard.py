#!/usr/bin/env python3
"""The PromQL of the Grafana dashboard (deploy/grafana/*.json), for the tests.

  dashboard.py DASHBOARD.json   prints a Prometheus rule file with one recording rule
                                per query, for `promtool check rules` to parse every
                                query (tests/prometheus/run.sh). That the queries use
                                only metrics the services expose is render-service's
                                integration test
                                `the_dashboard_uses_only_metrics_the_services_expose`.

Every panel's `targets[].expr` counts, in rows and nested panels too. A dashboard
without a query is an error.
"""

import json
import sys


def queries(dashboard):
    """(panel title, expr) of every query of the dashboard."""
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        found = queries(json.load(f))
    if not found:
        print(f"{argv[1]}: no queries", file=sys.stderr)
        return 1
    print("groups:\n  - name: dashboard\n    rules:")
    for i, (title, expr) in enumerate(found):
        print(f"      # {title}")
        print(f"      - record: dashboard:query_{i}")
        print("        expr: " + json.dumps(expr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
