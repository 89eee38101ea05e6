#!/usr/bin/env bash
# Installs what `make bench`'s token-endpoint phase needs, idempotently:
#   - Debian's wrk, the load generator;
#   - the peer, panva's node-oidc-provider (and the npm argon2 its password grant uses), pinned by
#     bench/peer/package-lock.json, into ~/.cache/gatehouse/bench-peer (or $XDG_CACHE_HOME/gatehouse/bench-peer):
#     outside the repository, so nothing of it is committed or built by `make test`.
# Run as root to let it apt-get install wrk; otherwise it says what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench-deps: installing Debian's wrk"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends wrk
    else
        echo "bench-deps: wrk is missing: sudo apt-get install wrk" >&2
        exit 1
    fi
fi

command -v node >/dev/null || { echo "bench-deps: node is missing; the token-endpoint phase needs it for its peer" >&2; exit 1; }
peer="${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/bench-peer"
mkdir -p "$peer"
if cmp -s bench/peer/package-lock.json "$peer/package-lock.json" && [ -d "$peer/node_modules/oidc-provider" ]; then
    echo "bench-deps: $peer is up to date"
else
    echo "bench-deps: npm ci in $peer"
    cp bench/peer/package.json bench/peer/package-lock.json "$peer/"
    npm ci --prefix "$peer" --no-audit --no-fund
fi
