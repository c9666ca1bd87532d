#!/usr/bin/env bash
# Installs what render-service's browser test needs: Debian's Chromium and chromedriver.
# Idempotent: does nothing when both are already there. Needs root (or sudo) for apt-get.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium and chromedriver are installed: $(chromium --version 2>/dev/null || true)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# fonts-dejavu-core: a font for screenshots on minimal systems.
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core ca-certificates
echo "installed: $(chromium --version 2>/dev/null || true), $(chromedriver --version 2>/dev/null || true)"
