#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is at /usr/bin/chromium (used by tests/browser).
# Idempotent: does nothing when the browser is already there. Installs it with apt only when we are
# root; never downloads a browser any other way. Exits 0 when the browser is available afterwards.
set -u

BROWSER=${CHROMIUM:-/usr/bin/chromium}

if [ -x "$BROWSER" ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: $BROWSER is missing and we are not root; install it with: apt-get install -y chromium" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: $BROWSER is missing and apt-get is not available to install it" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run to finish instead of failing at once on its lock.
APT_OPTS=(-o DPkg::Lock::Timeout=120)
if ! apt-get "${APT_OPTS[@]}" update -qq >/dev/null; then
    echo "install-browser: apt-get update failed" >&2
    exit 1
fi
if ! apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends chromium >/dev/null; then
    echo "install-browser: apt-get install chromium failed" >&2
    exit 1
fi

if [ -x "$BROWSER" ]; then
    exit 0
fi
echo "install-browser: chromium was installed but $BROWSER is not there" >&2
exit 1
