#!/usr/bin/env bash
# Installs the real MCP servers the integration tests run, from the pinned lists beside this
# script: the npm packages of node/package-lock.json into node/node_modules, and the Python
# packages of python/requirements.txt into the virtual environment python/.venv. Idempotent;
# pass --force to reinstall. Needs npm and a Python 3 with the venv module; the packages come
# from the npm registry and PyPI.
set -euo pipefail
cd "$(dirname "$0")"

force=0
[ "${1:-}" = "--force" ] && force=1

if [ "$force" = 1 ] || [ ! -d node/node_modules/@modelcontextprotocol ]; then
  if command -v npm >/dev/null; then
    (cd node && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "integration/setup.sh: npm not found; the Node servers are not installed" >&2
  fi
fi

# The first interpreter the pinned requirements install into: $MCPJAIL_PYTHON, python3 on
# PATH, then the system one.
if [ "$force" = 1 ] || [ ! -x python/.venv/bin/mcp-server-time ]; then
  installed=0
  for p in ${MCPJAIL_PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" >/dev/null && "$p" -c 'import venv, ensurepip' 2>/dev/null || continue
    rm -rf python/.venv
    if "$p" -m venv python/.venv &&
      python/.venv/bin/pip install --quiet --disable-pip-version-check -r python/requirements.txt; then
      installed=1
      break
    fi
    echo "integration/setup.sh: the requirements do not install with $p ($("$p" --version 2>&1)); trying the next Python" >&2
  done
  if [ "$installed" = 0 ]; then
    rm -rf python/.venv
    echo "integration/setup.sh: no Python 3 here installs python/requirements.txt; the Python servers are not installed" >&2
  fi
fi
