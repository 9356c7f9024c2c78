#!/usr/bin/env bash
# Set up (first run only) and start the DP-InfoGAN Studio app on http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
# Draw Home's comparison into the cache now (instant once cached), so the first visitor does not wait for torch
.venv/bin/python -m dpinfogan.comparison || true
exec .venv/bin/python -m streamlit run app.py "$@"
