#!/usr/bin/env bash
# Set up (first run only) and run the whole test suite, the real-browser test included.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
bash scripts/install_browser.sh
exec .venv/bin/python -m pytest -q "$@"
