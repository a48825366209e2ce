#!/usr/bin/env bash
# Installs what the browser tests drive: Debian's chromium (as root, with apt-get)
# and Playwright for Python (from the test extras). Playwright never downloads a
# browser here: the tests point it at the system's chromium.
set -euo pipefail

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/browser/install.sh: chromium is missing; run this as root (apt-get)" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
python -m pip install --quiet --disable-pip-version-check 'playwright>=1.40'
chromium --version
