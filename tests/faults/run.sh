#!/usr/bin/env bash
# tests/faults/run.sh — the fault suite (issue 10): posts-service and render-service as
# real processes behind fault proxies, over MariaDB containers that the scenarios kill,
# freeze and cut off; see tests/faults/tests/suite/main.rs.
#
#   1. builds the workspace's tests and with them the two service binaries the suite
#      starts (`cargo test --workspace --no-run`: the very build the rust lane's
#      `cargo test` uses, so whichever lane comes first does it for both);
#   2. runs the suite, two scenarios at a time, printing each scenario's figures as
#      `FIGURE <scenario>: …` lines. (The fault proxy's own tests run with the rest of
#      the workspace in the rust lane.)
#
# Needs Docker and the mariadb:10.11 image (deploy/build-images.sh). Service logs go to
# artifacts/faults/<scenario>/. Extra arguments go to the suite, e.g.
# `tests/faults/run.sh posts_outage` runs the scenarios whose name contains that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SUITE=faults
# shellcheck source=../lib.sh
. tests/lib.sh

rm -rf artifacts/faults
# The same package selection as the rust lane's `cargo test --workspace`, so one build of
# each dependency serves both (a `-p` selection would resolve features differently and
# compile them again). That build makes the service binaries the suite starts.
cargo test --workspace --no-run
cargo test --workspace --test suite -- --test-threads=2 --nocapture "$@"
log "fault suite took $(secs "$STARTED")"
