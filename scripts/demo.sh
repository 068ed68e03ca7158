#!/usr/bin/env bash
# Builds mcpcell, installs the official MCP memory server from npm, and runs a real MCP
# session with it inside the sandbox: initialize, list tools, create an entity, read it back.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
MCPCELL="$PWD/target/x86_64-unknown-linux-gnu/release/mcpcell"
DEMO="${XDG_CACHE_HOME:-$HOME/.cache}/mcpcell-demo"
mkdir -p "$DEMO"
npm install --prefix "$DEMO" --no-audit --no-fund --loglevel=error @modelcontextprotocol/server-memory@2026.8.31
SERVER="$DEMO/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
# The server's own state directory (each server gets one): where the plan puts it.
STATE="$("$MCPCELL" run --profile node --allow-read "$DEMO" --dry-run --format json node "$SERVER" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["plan"]["state_dir"])')"

echo "running: mcpcell run --profile node --allow-read $DEMO node $SERVER" >&2
python3 - "$MCPCELL" "$DEMO" "$STATE" "$SERVER" <<'PY'
import json, subprocess, sys, time
mcpcell, demo, state, server = sys.argv[1:]
p = subprocess.Popen(
    [mcpcell, "run", "--profile", "node", "--allow-read", demo,
     "--set-env", f"MEMORY_FILE_PATH={state}/demo-memory.jsonl", "node", server],
    # Started from /, as a client that sets no working directory does (mcpcell warns about a
    # working directory the server may not read).
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
def call(i, method, params=None):
    msg = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        msg["params"] = params
    p.stdin.write(json.dumps(msg) + "\n"); p.stdin.flush()
    return json.loads(p.stdout.readline())["result"]
info = call(1, "initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                              "clientInfo": {"name": "mcpcell-demo", "version": "1"}})
p.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n'); p.stdin.flush()
print("initialize:", info["serverInfo"]["name"], info["serverInfo"]["version"])
print("tools:", ", ".join(t["name"] for t in call(2, "tools/list")["tools"]))
name = f"mcpcell-demo-{int(time.time())}"
call(3, "tools/call", {"name": "create_entities", "arguments": {"entities": [
    {"name": name, "entityType": "tool", "observations": ["sandboxes MCP servers"]}]}})
found = call(4, "tools/call", {"name": "open_nodes", "arguments": {"names": [name]}})
print("read back:", json.loads(found["content"][0]["text"])["entities"])
p.stdin.close()
sys.exit(p.wait())
PY
echo "the server ran with no network, no capabilities, and write access only to $STATE" >&2
