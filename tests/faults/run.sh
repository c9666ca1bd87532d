#!/usr/bin/env bash
# tests/faults/run.sh — the fault suite (issue 10): posts-service and render-service as
# real processes behind fault proxies, over MariaDB containers that the scenarios kill,
# freeze and cut off; see tests/faults/tests/suite/main.rs.
#
#   1. builds the two service binaries the suite starts (`cargo build`, debug, the same
#      target directory as `cargo test`, so it is quick after a `cargo test`);
#   2. runs the fault proxy's own tests and the suite, two scenarios at a time, printing
#      each scenario's figures as `FIGURE <scenario>: …` lines.
#
# Needs Docker and the mariadb:10.11 image (deploy/build-images.sh). Service logs go to
# artifacts/faults/<scenario>/. Extra arguments go to the suite, e.g.
# `tests/faults/run.sh posts_outage` runs the scenarios whose name contains that.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

started=$(date +%s)
rm -rf artifacts/faults
cargo build -p posts-service -p render-service
cargo test -p fault-proxy
cargo test -p fault-suite -- --test-threads=2 --nocapture "$@"
echo "fault suite took $(( $(date +%s) - started )) s"
