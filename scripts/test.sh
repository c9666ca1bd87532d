#!/usr/bin/env bash
# The project's one test command: everything a change must pass.
#
#   1. builds, when missing, the container images the tests start (offline, from
#      Debian packages: deploy/build-images.sh; quick when they exist);
#   2. installs any other test dependency a fresh machine lacks;
#   3. checks formatting and lints;
#   4. runs every test of the workspace (unit tests, and integration tests against
#      throwaway MariaDB containers);
#   5. runs the security checks beside cargo test (tests/security/run.sh: cargo deny
#      against the advisory snapshot, schemathesis fuzzing posts-service, slowhttptest
#      against both services, no secret or SQL in any log line or error body);
#   6. checks the Kubernetes manifests without a cluster (tests/k8s/check.sh);
#   7. runs the deployed blog end to end through docker compose (tests/e2e/run.sh).
#
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -p posts-service`); steps
# 5 to 7 run only without them (that is, always in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "container images"
deploy/build-images.sh

for deps in services/*/tests/*-deps.sh; do
  [ -e "$deps" ] || continue
  step "test dependencies: $deps"
  bash "$deps"
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "$@" 2>&1 | tee "$log"

if (( $# == 0 )); then
  step "security checks: tests/security/run.sh"
  tests/security/run.sh 2>&1 | tee -a "$log"

  step "Kubernetes manifests: tests/k8s/check.sh"
  tests/k8s/check.sh 2>&1 | tee -a "$log"

  step "docker compose end to end: tests/e2e/run.sh"
  tests/e2e/run.sh 2>&1 | tee -a "$log"
fi

# One closing line for the whole run: the sum of every test binary's results.
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i+1) ~ /^passed/) passed += $i
         if ($(i+1) ~ /^failed/) failed += $i
         if ($(i+1) ~ /^ignored/) ignored += $i
       }
     }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
