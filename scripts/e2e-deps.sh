#!/usr/bin/env bash
# Installs what the SDK end-to-end tests need (tests/tests/spa_sdk.rs, tests/tests/auth_js.rs,
# tests/tests/auth0_python.rs), idempotently:
#   - Debian's Chromium (/usr/bin/chromium), driven by playwright-core; Playwright's own browser download does not
#     work on these machines, so `npx playwright install` is never used;
#   - a Japanese font (Debian's fonts-noto-cjk), for the hosted pages' screenshot test;
#   - openssl, which makes the throwaway certificate of the TLS proxy in tests/js/mfa-auth-js.mjs;
#   - tests/js/node_modules from tests/js/package-lock.json (@auth0/auth0-spa-js, @auth0/auth0-auth-js,
#     playwright-core);
#   - tests/npm/node_modules from tests/npm/package-lock.json (axios, auth0, jsonwebtoken, lodash, uuid,
#     ua-parser-js: the published packages actions require in tests/tests/npm_packages.rs);
#   - tests/py/requirements.txt (auth0-python) into the python3 the tests run;
#   - PostgreSQL on 127.0.0.1:5432 with trust authentication and a database `test` (the store tests of the
#     PostgreSQL backend): when none answers, Debian's postgresql is installed and its cluster started.
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

# A Japanese font, for the screenshot of the hosted pages in Japanese (tests/tests/pages_screenshot.rs).
if ! fc-list :lang=ja 2>/dev/null | grep -q .; then
    echo "e2e-deps: installing Debian's fonts-noto-cjk"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends fonts-noto-cjk fontconfig
fi

command -v node >/dev/null || { echo "e2e-deps: node is missing (the machine image provides it)" >&2; exit 1; }
# The hidden lockfile npm writes is newer than package-lock.json when node_modules matches it: skip the reinstall.
if [ tests/js/node_modules/.package-lock.json -nt tests/js/package-lock.json ] \
    && [ tests/js/node_modules/.package-lock.json -nt tests/js/package.json ]; then
    echo "e2e-deps: tests/js/node_modules is up to date"
else
    echo "e2e-deps: npm ci in tests/js"
    npm ci --prefix tests/js --no-audit --no-fund
fi

for dir in tests/npm; do
    if [ $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ] \
        && [ $dir/node_modules/.package-lock.json -nt $dir/package.json ]; then
        echo "e2e-deps: $dir/node_modules is up to date"
    else
        echo "e2e-deps: npm ci in $dir"
        npm ci --prefix $dir --no-audit --no-fund
    fi
done

echo "e2e-deps: pip install -r tests/py/requirements.txt"
python3 -m pip install --disable-pip-version-check --quiet --root-user-action=ignore -r tests/py/requirements.txt
python3 -c 'import auth0, importlib.metadata as m; print("auth0-python", m.version("auth0-python"))'

# PostgreSQL: the machines CI and developers use run one on 127.0.0.1:5432 (trust, databases test and postgres); a
# fresh machine without it gets Debian's, configured the same way.
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "e2e-deps: PostgreSQL answers on 127.0.0.1:5432"
else
    echo "e2e-deps: installing and starting Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    if ! command -v pg_ctlcluster >/dev/null; then
        apt-get update
        apt-get install -y --no-install-recommends postgresql
    fi
    version=$(ls /etc/postgresql | sort -V | tail -1)
    if [ -z "$version" ]; then
        pg_createcluster --start "$(ls /usr/lib/postgresql | sort -V | tail -1)" main
        version=$(ls /etc/postgresql | sort -V | tail -1)
    fi
    conf=/etc/postgresql/$version/main
    # Trust on the loopback addresses, as on the development machines: the tests connect as postgres without a
    # password. Nothing listens beyond 127.0.0.1.
    cat > "$conf/pg_hba.conf" <<'HBA'
local   all all                 trust
host    all all 127.0.0.1/32    trust
host    all all ::1/128         trust
HBA
    sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
    pg_ctlcluster "$version" main restart || pg_ctlcluster "$version" main start
    for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
    pg_isready -h 127.0.0.1 -p 5432
fi
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
