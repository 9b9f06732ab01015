#!/usr/bin/env bash
# Checks the alert rules and their tests with promtool, taken from Debian's
# prometheus package into .tools/ (only the binary: no daemon is installed
# or started).
set -euo pipefail
cd "$(dirname "$0")/.."
PROMTOOL=.tools/prometheus/usr/bin/promtool
if [[ ! -x "$PROMTOOL" ]]; then
    if command -v promtool >/dev/null 2>&1; then
        PROMTOOL=$(command -v promtool)
    else
        mkdir -p .tools/prometheus
        work=$(mktemp -d)
        chmod 755 "$work" # apt downloads as its own user
        (cd "$work" && apt-get download prometheus >/dev/null)
        dpkg-deb -x "$work"/prometheus_*.deb .tools/prometheus
        rm -rf "$work"
    fi
fi
"$PROMTOOL" check rules deploy/prometheus/alerts.yaml
(cd deploy/prometheus && "../../$PROMTOOL" test rules alerts.test.yaml)
