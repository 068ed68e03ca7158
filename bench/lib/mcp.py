"""5. MCP round trip with a real server (@modelcontextprotocol/server-memory): the time from
spawn to the `initialize` response, and the latency of `tools/list` requests, bare and under
`mcpcell run -p node --allow-read NODE_MODULES`. Sessions alternate between the two.

    mcp.py OUT.json SESSIONS LISTS_PER_SESSION SERVER_JS
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402


def session(argv, lists):
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, bufsize=0)

    def call(i, method, params=None):
        msg = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            msg["params"] = params
        p.stdin.write((json.dumps(msg) + "\n").encode())
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("the server closed its stdout: "
                               + c.tail(p.stderr.read().decode(errors="replace")))
        reply = json.loads(line)
        if reply.get("id") != i or "result" not in reply:
            raise RuntimeError(f"unexpected reply: {line[:200]!r}")
        return reply["result"]

    try:
        call(1, "initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                               "clientInfo": {"name": "mcpcell-bench", "version": "1"}})
        init_ms = (time.perf_counter_ns() - t0) / 1e6
        p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        lat = []
        tools = None
        for i in range(lists):
            t = time.perf_counter_ns()
            res = call(100 + i, "tools/list")
            lat.append((time.perf_counter_ns() - t) / 1e6)
            tools = len(res["tools"])
        return {"init_ms": init_ms, "list_ms": lat, "tools": tools}
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    out_path, sessions, lists, server_js = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    node = shutil.which("node")
    result = {"sessions": sessions, "lists_per_session": lists, "server": server_js, "rows": {}}
    if not node or not os.path.exists(server_js):
        result["skipped"] = (f"{server_js} is missing: run `npm ci` in integration/node"
                             if node else "node is not installed")
        c.dump(result, out_path)
        return
    os.chdir(c.WORK)
    modules = server_js.split("/node_modules/")[0] + "/node_modules"
    # The server keeps its knowledge graph in a file; give each run a scratch one.
    memfile = os.path.join(c.WORK, "bench-memory.jsonl")
    os.environ["MEMORY_FILE_PATH"] = memfile
    cases = {
        "bare": [node, server_js],
        "mcpcell-node": [c.MCPCELL, "run", "-p", "node", "--allow-read", modules,
                         "--allow-write", c.WORK, "--pass-env", "MEMORY_FILE_PATH", "--",
                         node, server_js],
    }
    data = {k: {"init": [], "list": [], "argv": v} for k, v in cases.items()}
    c.log(f"MCP round trip: {sessions} sessions x {lists} tools/list each")
    for s in range(sessions + 1):
        for name in (list(cases) if s % 2 else list(reversed(cases))):
            try:
                r = session(cases[name], lists)
            except (RuntimeError, OSError, ValueError) as e:
                data[name]["failed"] = str(e)
                continue
            if s == 0:
                continue  # warm-up: disk cache
            data[name]["init"].append(r["init_ms"])
            data[name]["list"].extend(r["list_ms"])
            data[name]["tools"] = r["tools"]
    for name, d in data.items():
        row = {"argv": d["argv"]}
        if "failed" in d:
            row["failed"] = d["failed"]
        else:
            row["init_ms"] = c.summarize(d["init"])
            row["tools_list_ms"] = c.summarize(d["list"])
            row["tools"] = d.get("tools")
        result["rows"][name] = row
    bare, jail = result["rows"]["bare"], result["rows"]["mcpcell-node"]
    if "init_ms" in bare and "init_ms" in jail:
        jail["init_ratio"] = jail["init_ms"]["median"] / bare["init_ms"]["median"]
        jail["init_overhead_ms"] = jail["init_ms"]["median"] - bare["init_ms"]["median"]
        jail["tools_list_ratio"] = jail["tools_list_ms"]["median"] / bare["tools_list_ms"]["median"]
    if os.path.exists(memfile):
        os.remove(memfile)
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
