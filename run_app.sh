#!/usr/bin/env bash
# Set up (first run only) and start the DP-InfoGAN Studio app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
exec .venv/bin/python -m streamlit run app.py "$@"
