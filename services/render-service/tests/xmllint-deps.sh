#!/usr/bin/env bash
# Installs what render-service's sitemap tests need: xmllint (Debian's libxml2-utils),
# which checks the sitemaps against tests/data/sitemap-0.9.xsd. Idempotent. Needs root
# (or sudo) for apt-get.
set -euo pipefail

if command -v xmllint >/dev/null 2>&1; then
    echo "xmllint is installed: $(xmllint --version 2>&1 | head -n 1)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends libxml2-utils
echo "installed: $(xmllint --version 2>&1 | head -n 1)"
