#!/usr/bin/env bash
# Installs what the SDK end-to-end tests need (tests/tests/spa_sdk.rs, tests/tests/auth_js.rs,
# tests/tests/auth0_python.rs), idempotently:
#   - Debian's Chromium (/usr/bin/chromium), driven by playwright-core; Playwright's own browser download does not
#     work on these machines, so `npx playwright install` is never used;
#   - openssl, which makes the throwaway certificate of the TLS proxy in tests/js/mfa-auth-js.mjs;
#   - tests/js/node_modules from tests/js/package-lock.json (@auth0/auth0-spa-js, @auth0/auth0-auth-js,
#     playwright-core);
#   - tests/py/requirements.txt (auth0-python) into the python3 the tests run.
# Run as root (CI and the development machines are). `.ci/run` calls it before `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    echo "e2e-deps: installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends chromium
fi
/usr/bin/chromium --version

if ! command -v openssl >/dev/null; then
    echo "e2e-deps: installing Debian's openssl"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends openssl
fi
openssl version

command -v node >/dev/null || { echo "e2e-deps: node is missing (the machine image provides it)" >&2; exit 1; }
# The hidden lockfile npm writes is newer than package-lock.json when node_modules matches it: skip the reinstall.
if [ tests/js/node_modules/.package-lock.json -nt tests/js/package-lock.json ] \
    && [ tests/js/node_modules/.package-lock.json -nt tests/js/package.json ]; then
    echo "e2e-deps: tests/js/node_modules is up to date"
else
    echo "e2e-deps: npm ci in tests/js"
    npm ci --prefix tests/js --no-audit --no-fund
fi

echo "e2e-deps: pip install -r tests/py/requirements.txt"
python3 -m pip install --disable-pip-version-check --quiet --root-user-action=ignore -r tests/py/requirements.txt
python3 -c 'import auth0, importlib.metadata as m; print("auth0-python", m.version("auth0-python"))'
