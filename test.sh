#!/usr/bin/env bash
# Runs every test of veto, bringing what the tests need from outside Rust:
#   - pyarrow, DuckDB, cryptography, numpy and schemathesis (tests/requirements.txt)
#     in a virtual environment under the target directory, first on PATH for
#     the tests;
#   - as root with apt: Debian's chromium and chromium-driver (the portal's
#     browser test) and fortunes-de (real German text for the model test);
#   - PostgreSQL for the tests of the second backend: unless
#     VETO_TEST_DATABASE_URL names a server already, .ci/postgres starts a
#     throwaway one on loopback (installing Debian's postgresql as root) and
#     stops it at the end. The portal's tests then run once on each backend.
# Whatever cannot be brought is skipped with one loud line naming what to
# install. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "$0")"

target="${CARGO_TARGET_DIR:-$PWD/target}"
skipped=()

need=()
[ -d /usr/share/games/fortunes/de ] || need+=(fortunes-de)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing ${need[*]} (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || true
fi
if [ ! -d /usr/share/games/fortunes/de ]; then
  export VETO_SKIP_FORTUNES=1
  skipped+=("the fortunes-de model test: apt-get install fortunes-de")
fi
if [ "$(id -u)" != 0 ]; then
  skipped+=("the full-disk test (it mounts a tmpfs): run as root")
fi
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  export VETO_SKIP_BROWSER=1
  skipped+=("the browser test: apt-get install chromium chromium-driver")
fi
# axe-core (npm) for the browser test's accessibility check, under the target dir.
axe="$target/test-node/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe" ] && command -v npm >/dev/null; then
  echo "== axe-core (npm) into $target/test-node"
  npm install --prefix "$target/test-node" --no-audit --no-fund --loglevel=error axe-core@4 >/dev/null || true
fi
if [ -f "$axe" ]; then
  export VETO_AXE_JS="$axe"
else
  skipped+=("the browser test's axe-core check: install npm (Debian: apt-get install npm), then rerun")
fi

venv="$target/test-venv"
if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -c 'import pyarrow, duckdb, cryptography, schemathesis, numpy' 2>/dev/null; then
  echo "== Python test tools into $venv"
  python3 -m venv "$venv" && "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
    -r tests/requirements.txt || true
fi
if "$venv/bin/python3" -c 'import pyarrow, duckdb, cryptography, numpy' 2>/dev/null; then
  export PATH="$venv/bin:$PATH"
else
  export VETO_SKIP_PYTHON_INTEROP=1
  skipped+=("the Python interop tests: apt-get install python3-venv (Debian), then rerun; or pip install -r tests/requirements.txt")
fi
# The portal's API conformance run (crates/veto-portal/tests/schemathesis.rs)
# finds the schemathesis command on PATH; without it, it says so (and fails
# where CI is set).
if [ -x "$venv/bin/schemathesis" ]; then
  case ":$PATH:" in *":$venv/bin:"*) ;; *) export PATH="$venv/bin:$PATH" ;; esac
else
  skipped+=("the schemathesis API run: pip install -r tests/requirements.txt")
fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

pg_dir=""
if [ -z "${VETO_TEST_DATABASE_URL:-}" ]; then
  if url="$(bash .ci/postgres 2>"$target/postgres-start.log")"; then
    export VETO_TEST_DATABASE_URL="$url"
    pg_dir="$(tail -n 1 "$target/postgres-start.log")"
    trap 'bash .ci/postgres stop "$pg_dir" || true' EXIT
    echo "== PostgreSQL for the tests at $url"
  else
    skipped+=("the PostgreSQL half of the store, portal and CLI tests: apt-get install postgresql, or set VETO_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB ($(tail -n 1 "$target/postgres-start.log"))")
  fi
fi

for s in "${skipped[@]}"; do
  echo "!! SKIPPING $s" >&2
done
status=0
cargo nextest run --workspace "$@" || status=$?
# The portal's tests take one backend per run (PostgreSQL above when
# configured): run them on SQLite too.
if [ -n "${VETO_TEST_DATABASE_URL:-}" ]; then
  echo "== the portal's tests again, on SQLite"
  VETO_TEST_BACKEND=sqlite cargo nextest run -p veto-portal "$@" || status=$?
fi
for s in "${skipped[@]}"; do
  echo "!! SKIPPED $s" >&2
done
exit $status
