#!/usr/bin/env bash
# Installs the real MCP servers and clients the tests run, from the pinned lists beside this
# script, into $MCPCELL_DEPS (default /opt/mcpcell-deps), where an ordinary user can run them
# too:
#   node/           node/package.json + package-lock.json (npm servers, MCP Inspector)
#   python/         python/requirements.txt (MCP Python SDK; time, git and fetch servers;
#                   kubernetes-validate, which checks `mcpcell export kubernetes` offline)
#   python-sqlite/  python-sqlite/requirements.txt (mcp-server-sqlite needs the 1.x SDK)
#   python-servers/ python-servers/requirements.txt (the profile library's PyPI servers,
#                   integration/test_profiles.py)
#   python-servers-sdk1/ python-servers-sdk1/requirements.txt (the library's servers that pin
#                   the 1.x MCP SDK: hass-mcp, mcp-atlassian, mcp-obsidian)
#   clients/        clients/package.json + package-lock.json (MCP clients from npm: Claude
#                   Code, Gemini CLI, Qwen Code, opencode, Codex, Copilot CLI, Amp, Auggie,
#                   Cline CLI; integration/clients/run.py proves `mcpcell wrap` with them)
# Needs npm and /usr/bin/python3 with the venv module; packages come from the npm registry and
# PyPI. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
DEPS="${MCPCELL_DEPS:-/opt/mcpcell-deps}"

mkdir -p "$DEPS/node"
cp node/package.json node/package-lock.json "$DEPS/node/"
(cd "$DEPS/node" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

mkdir -p "$DEPS/clients"
cp clients/package.json clients/package-lock.json "$DEPS/clients/"
# `npm install`, not `npm ci`: the lockfile npm writes leaves out the platform packages of
# other systems (opencode, Cline), which `npm ci` then calls out of sync. The top-level
# versions are exact in package.json, and the lockfile pins the rest.
(cd "$DEPS/clients" && npm install --no-audit --no-fund --loglevel=error)

for env in python python-sqlite python-servers python-servers-sdk1; do
  [ -x "$DEPS/$env/bin/python" ] || /usr/bin/python3 -m venv "$DEPS/$env"
  opts=()
  # mcp-server-docker declares Python 3.12 and hass-mcp 3.13, but both run on Debian 12's
  # 3.11 (their tool calls are checked in integration/test_profiles.py); the versions are
  # pinned, so nothing else can slip in this way.
  case "$env" in python-servers*) opts+=(--ignore-requires-python) ;; esac
  "$DEPS/$env/bin/pip" install -q --disable-pip-version-check "${opts[@]}" -r "$env/requirements.txt"
done

# mcp-server-fetch extracts articles with readabilipy, which installs its JavaScript half with
# npm on first use; do it here, from a lockfile, since the server's own directory is
# read-only in the sandbox.
js="$("$DEPS/python/bin/python" -c 'import os, readabilipy; print(os.path.join(os.path.dirname(readabilipy.__file__), "javascript"))')"
cp python/readabilipy-package-lock.json "$js/package-lock.json"
(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)

# mcp-grafana's wheel installs its Go binary without the execute bit and sets it on first
# run, which a read-only install (the sandbox's view of it) refuses: set it here.
chmod a+x "$DEPS"/python-servers/lib/python3*/site-packages/mcp_grafana/bin/mcp-grafana

chmod -R a+rX "$DEPS"
echo "integration/setup.sh: servers installed in $DEPS"
