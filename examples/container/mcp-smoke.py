#!/usr/bin/env python3
"""Drive a real MCP server through mcpcell over stdio: initialize, tools/list, one tools/call.
usage: mcp-smoke.py COMMAND [ARGS...]   (exit 0 when all three answered without error)"""
import json, subprocess, sys

proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

def rpc(id, method, params):
    proc.stdin.write((json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}) + "\n").encode())
    proc.stdin.flush()
    while True:
        line = proc.stdout.readline()
        if not line:
            sys.exit(f"mcp-smoke: the server closed stdout before answering {method}")
        msg = json.loads(line)
        if msg.get("id") == id:
            if "error" in msg:
                sys.exit(f"mcp-smoke: {method}: {msg['error']}")
            return msg["result"]

init = rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "mcp-smoke", "version": "1"}})
proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
tools = [t["name"] for t in rpc(2, "tools/list", {})["tools"]]
graph = rpc(3, "tools/call", {"name": "create_entities", "arguments": {"entities": [
    {"name": "mcpcell", "entityType": "sandbox", "observations": ["ran in a container"]}]}})
read = rpc(4, "tools/call", {"name": "read_graph", "arguments": {}})
ok = "ran in a container" in json.dumps(read)
print(f"mcp-smoke: {init['serverInfo']['name']}: {len(tools)} tools, entity written and read back: {ok}")
proc.stdin.close()
proc.wait(timeout=20)
sys.exit(0 if ok else 1)
