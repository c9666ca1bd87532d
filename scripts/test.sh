#!/usr/bin/env bash
# The project's one test command: everything a change must pass.
#
#   1. builds, when missing, the container images the tests start (offline, from
#      Debian packages: deploy/build-images.sh; quick when they exist);
#   2. installs any other test dependency a fresh machine lacks;
#   3. checks formatting;
#   4. then runs four lanes side by side, each into its own log, shown whole when the
#      lane ends:
#      - rust:   cargo clippy, then every test of the workspace (unit tests, and
#                integration tests against throwaway MariaDB containers);
#      - checks: the repository check (tests/repo/check.py: nothing names a file outside
#                the repository, every Markdown link resolves, the README stays short,
#                one version), the dependency audit (tests/security/run.sh deps, against
#                ADVISORY_DB or the live RustSec database), the Kubernetes manifests
#                without a cluster (tests/k8s/check.sh),
#                the Prometheus configuration and alert rules (tests/prometheus/run.sh),
#                and the Galera watchdog's quorum rule (tests/galera/watchdog-rules.sh);
#      - e2e:    the deployed blog end to end through docker compose (tests/e2e/run.sh),
#                backup, restore and monitoring included;
#      - faults: the fault proxy's tests and the fault suite (tests/faults/run.sh): both
#                services as processes behind fault proxies, the database killed,
#                frozen and cut off, SIGTERM under load, idempotent retries; then the
#                security checks that use the same debug binaries (tests/security/run.sh
#                api slow secrets: schemathesis fuzzing posts-service, slowhttptest
#                against both services, no secret or SQL in any log line or error body).
#                They come after the fault suite, not beside it, because both time
#                answers under load; in the rust lane they made it the last to end by
#                seven minutes.
#      The lanes share nothing but the machine: the e2e lane's image build and the rust
#      lane's compilation overlap, which is most of a cold run's time.
#   5. then, alone on the machine, the galera lane: the blog on a 3-node Galera cluster
#      through compose, the failure suite (tests/galera/run.sh: the writer killed, a
#      node paused, a node cut off, quorum lost with every node up, two nodes down,
#      a full stop) and the e2e suite on the cluster (E2E_GALERA=1
#      tests/e2e/run.sh). It runs after the others
#      because Galera's failure detection and state transfers are timed: beside the
#      other lanes' compilation and database containers, a loaded 2-core machine made
#      a first state transfer time out and got a rejoining node evicted. Its images
#      are the e2e lane's (a cached rebuild).
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p posts-service`), and then
# only the rust lane runs. Every suite prints libtest-style lines; the run ends with one
# line summing them all, and exits non-zero when any lane failed.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)

step "container images"
deploy/build-images.sh

for deps in services/*/tests/*-deps.sh; do
  [ -e "$deps" ] || continue
  step "test dependencies: $deps"
  bash "$deps"
done

step "cargo fmt --check"
cargo fmt --all -- --check

# The service images the e2e lane builds (and the galera lane rebuilds from its cache)
# are optimised less than shipped ones (Dockerfile: RELEASE_OPT_LEVEL, RELEASE_LTO): their
# build is the largest piece of a cold run, and nothing those suites check depends on it.
export RELEASE_OPT_LEVEL=${RELEASE_OPT_LEVEL:-1} RELEASE_LTO=${RELEASE_LTO:-off}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

rust_lane() {
  step "cargo clippy"
  cargo clippy --workspace --all-targets -- -D warnings
  step "cargo test"
  # The fault suite (tests/faults, `test = false`) is the faults lane's.
  cargo test --workspace --no-fail-fast "$@"
}

checks_lane() {
  step "repository check: tests/repo/check.py"
  python3 tests/repo/check.py --self-test
  python3 tests/repo/check.py
  step "dependency audit: tests/security/run.sh deps"
  tests/security/run.sh deps
  step "Kubernetes manifests: tests/k8s/check.sh"
  tests/k8s/check.sh
  step "Prometheus alert rules: tests/prometheus/run.sh"
  tests/prometheus/run.sh
  step "Galera watchdog's quorum rule: tests/galera/watchdog-rules.sh"
  tests/galera/watchdog-rules.sh
}

e2e_lane() {
  step "docker compose end to end: tests/e2e/run.sh"
  tests/e2e/run.sh
}

faults_lane() {
  step "fault suite: tests/faults/run.sh"
  tests/faults/run.sh
  step "security checks: tests/security/run.sh api slow secrets"
  tests/security/run.sh api slow secrets
}

galera_lane() {
  step "Galera failure suite: tests/galera/run.sh"
  tests/galera/run.sh
  step "docker compose end to end on the Galera cluster: E2E_GALERA=1 tests/e2e/run.sh"
  E2E_GALERA=1 tests/e2e/run.sh
}

# Runs lane NAME in the background; its output goes to $logs/NAME.log, its exit status
# to $logs/NAME.rc.
start_lane() {
  local name=$1
  shift
  # The inner subshell stops at the lane's first failing command (set -e); the outer one
  # records how it ended.
  ( set +e; local t0=$SECONDS; ( set -e; "$@" ) >"$logs/$name.log" 2>&1; echo $? >"$logs/$name.rc"
    echo $(( SECONDS - t0 )) >"$logs/$name.secs" ) &
}

if (( $# > 0 )); then
  lanes=(rust)
  start_lane rust rust_lane "$@"
else
  lanes=(rust checks e2e faults)
  start_lane rust rust_lane
  start_lane checks checks_lane
  start_lane e2e e2e_lane
  start_lane faults faults_lane
fi
wait
if (( $# == 0 )); then
  lanes+=(galera)
  start_lane galera galera_lane
  wait
fi

failed_lanes=()
for name in "${lanes[@]}"; do
  rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  printf '\n######## lane %s (exit %s, %s s) ########\n' "$name" "$rc" "$(cat "$logs/$name.secs" 2>/dev/null || echo '?')"
  cat "$logs/$name.log"
  [ "$rc" = 0 ] || failed_lanes+=("$name")
done

# One closing line for the whole run: the sum of every suite's results.
cat "$logs"/*.log | awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i+1) ~ /^passed/) passed += $i
         if ($(i+1) ~ /^failed/) failed += $i
         if ($(i+1) ~ /^ignored/) ignored += $i
       }
     }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }'
for name in "${lanes[@]}"; do
  echo "lane $name took $(cat "$logs/$name.secs" 2>/dev/null || echo '?') s"
done
echo "test command took $(( $(date +%s) - started )) s"
if (( ${#failed_lanes[@]} > 0 )); then
  echo "FAILED lanes: ${failed_lanes[*]}"
  exit 1
fi
