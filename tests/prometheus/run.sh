#!/usr/bin/env bash
# tests/prometheus/run.sh — the Prometheus configuration and alert rules, tested offline.
#
#   1. `promtool check config` on deploy/prometheus/prometheus.yml (and its rule file);
#   2. `promtool test rules` on deploy/prometheus/alerts.test.yml: one test case per
#      test group, named after it;
#   3. every alert rule in alerts.yml fires in at least one group;
#   4. the tests are not blind: copies of alerts.yml with a deliberate mistake must fail
#      them;
#   5. every rule of alerts.yml and of its Kubernetes copy
#      (k8s/components/monitoring/prometheusrule.yaml) has a `runbook_url` naming a
#      heading of docs/operations.md (runbook_urls.py), and a missing heading is caught;
#   6. every query of the Grafana dashboards in deploy/grafana/ parses (dashboard.py).
#
# promtool runs from the Prometheus image docker-compose.yml uses (Debian's prometheus
# package, built by deploy/build-images.sh when missing; the public image has promtool
# at the same place), so the rules are tested by the Prometheus that evaluates them.
# Prints libtest-style lines and a closing "test result:" line.
#
# Usage: tests/prometheus/run.sh
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
DIR=$ROOT/deploy/prometheus
IMAGE=$(sed -n 's/^ *image: *\(prom\/prometheus:[^ ]*\).*/\1/p' "$ROOT/docker-compose.yml" | head -n 1)

SUITE=prometheus
# shellcheck source=../lib.sh
. "$ROOT/tests/lib.sh"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/blog-prometheus.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

report() { case_line "$1" "$2" "" "${3:-}"; } # report NAME OK(0/1) [LOG]

# promtool DIR ARGS...: promtool with DIR as its working directory (read-only).
promtool() {
  local dir=$1
  shift
  docker run --rm --network none -v "$dir:/work:ro" -w /work --entrypoint promtool "$IMAGE" "$@"
}

[[ -n $IMAGE ]] || die "no prom/prometheus image in docker-compose.yml"
docker image inspect "$IMAGE" >/dev/null 2>&1 || "$ROOT/deploy/build-images.sh" "$IMAGE"

# 1. the configuration Prometheus starts with
rc=0
promtool "$DIR" check config prometheus.yml >"$OUT/config.log" 2>&1 || rc=$?
report config_and_rules_are_valid "$rc" "$OUT/config.log"

# 2. the rules' unit tests; promtool names each failing group ("name: GROUP,")
rc=0
promtool "$DIR" test rules alerts.test.yml >"$OUT/test.log" 2>&1 || rc=$?
mapfile -t groups < <(sed -n 's/^  - name: *\([A-Za-z0-9_]*\) *$/\1/p' "$DIR/alerts.test.yml")
(( ${#groups[@]} > 0 )) || { echo "no test groups found in alerts.test.yml"; rc=1; }
for group in "${groups[@]}"; do
  if (( rc == 0 )); then
    report "rules::$group" 0
  elif grep -q "name: $group," "$OUT/test.log" || ! grep -q "name: " "$OUT/test.log"; then
    # this group failed, or promtool failed before running any group
    report "rules::$group" 1 "$OUT/test.log"
  else
    report "rules::$group" 0
  fi
done

# 3. every rule is shown to fire (an `alertname:` test followed by non-empty exp_alerts)
fired=$(awk '/alertname:/ { name = $2 } /exp_alerts:/ && $0 !~ /\[\]/ { print name }' "$DIR/alerts.test.yml" | sort -u)
: >"$OUT/coverage.log"
for alert in $(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\).*/\1/p' "$DIR/alerts.yml"); do
  grep -qx "$alert" <<<"$fired" || echo "alert $alert never fires in alerts.test.yml" >>"$OUT/coverage.log"
done
report every_alert_rule_fires_in_a_test "$([[ -s $OUT/coverage.log ]] && echo 1 || echo 0)" "$OUT/coverage.log"

# 4. mutants: a rule with a mistake must make the tests fail
mutant_fails_the_tests() { # NAME SED-EXPRESSION
  local name=$1 mutant="$OUT/mutant-$1"
  mkdir -p "$mutant"
  cp "$DIR/alerts.test.yml" "$mutant/"
  sed "$2" "$DIR/alerts.yml" >"$mutant/alerts.yml"
  if cmp -s "$mutant/alerts.yml" "$DIR/alerts.yml"; then
    echo "the mutation $name changed nothing" >"$OUT/mutant.log"
    report "tests_catch::$name" 1 "$OUT/mutant.log"
  elif promtool "$mutant" test rules alerts.test.yml >"$OUT/mutant.log" 2>&1; then
    echo "alerts.test.yml passed with the mistake: $name" >>"$OUT/mutant.log"
    report "tests_catch::$name" 1 "$OUT/mutant.log"
  else
    report "tests_catch::$name" 0
  fi
}
mutant_fails_the_tests error_ratio_threshold_too_high 's/^\( *\)> 0\.05$/\1> 0.5/'
mutant_fails_the_tests target_down_waits_too_long '/alert: BlogTargetDown/,/for:/ s/for: 2m/for: 5m/'
mutant_fails_the_tests probes_counted_as_errors 's/route!~"\/healthz|\/readyz|\/metrics", status=~"5.."/status=~"5.."/'
mutant_fails_the_tests backup_allowed_to_be_older '/alert: BlogBackupTooOld/,/labels:/ s/> 26 \* 3600$/> 36 * 3600/'

# 5. the runbook links lead to a section of docs/operations.md
rc=0
python3 "$ROOT/tests/prometheus/runbook_urls.py" "$ROOT" deploy/prometheus/alerts.yml \
  k8s/components/monitoring/prometheusrule.yaml >"$OUT/runbooks.log" 2>&1 || rc=$?
report every_runbook_url_names_a_heading_of_docs_operations "$rc" "$OUT/runbooks.log"
rc=0
python3 "$ROOT/tests/prometheus/runbook_urls.py" "$ROOT" --self-test deploy/prometheus/alerts.yml \
  >"$OUT/runbooks-self-test.log" 2>&1 || rc=$?
report tests_catch::runbook_url_to_a_missing_heading "$rc" "$OUT/runbooks-self-test.log"

# 6. the Grafana dashboard's queries parse (as recording rules, `promtool check rules`),
#    and a broken query is caught. That they use only metrics the services expose is
#    render-service's integration test the_dashboard_uses_only_metrics_the_services_expose.
for dashboard in "$ROOT"/deploy/grafana/*.json; do
  name=$(basename "$dashboard" .json)
  mkdir -p "$OUT/dashboard-$name"
  rc=0
  { python3 "$ROOT/tests/prometheus/dashboard.py" "$dashboard" >"$OUT/dashboard-$name/rules.yml" &&
    promtool "$OUT/dashboard-$name" check rules rules.yml; } >"$OUT/dashboard-$name.log" 2>&1 || rc=$?
  report "dashboard::${name}::every_query_parses" "$rc" "$OUT/dashboard-$name.log"
done
mkdir -p "$OUT/dashboard-mutant"
sed '0,/"expr": "sum by (job) (rate(/s//"expr": "sum by (job) (rate(rate(/' "$ROOT/deploy/grafana/blog.json" \
  >"$OUT/dashboard-mutant/blog.json"
python3 "$ROOT/tests/prometheus/dashboard.py" "$OUT/dashboard-mutant/blog.json" >"$OUT/dashboard-mutant/rules.yml"
if cmp -s "$OUT/dashboard-mutant/blog.json" "$ROOT/deploy/grafana/blog.json"; then
  echo "the mutation changed nothing" >"$OUT/dashboard-mutant.log"
  report tests_catch::a_dashboard_query_that_does_not_parse 1 "$OUT/dashboard-mutant.log"
elif promtool "$OUT/dashboard-mutant" check rules rules.yml >"$OUT/dashboard-mutant.log" 2>&1; then
  echo "promtool accepted a query with unbalanced parentheses" >>"$OUT/dashboard-mutant.log"
  report tests_catch::a_dashboard_query_that_does_not_parse 1 "$OUT/dashboard-mutant.log"
else
  report tests_catch::a_dashboard_query_that_does_not_parse 0
fi

result_line
