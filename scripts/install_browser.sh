#!/usr/bin/env bash
# Debian's Chromium for the end-to-end browser test (needs root/apt; skipped with a note otherwise).
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "setup: installing Debian chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "setup: could not install chromium; the browser test will say why it cannot run"
else
  echo "setup: no /usr/bin/chromium and no root apt-get; the browser test will be skipped (outside CI)"
fi
