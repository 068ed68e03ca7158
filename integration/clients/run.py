#!/usr/bin/env python3
"""`mcpcell wrap` proven with real MCP clients.

For each client installed from npm (integration/clients/package.json, pinned by its
package-lock.json), in a fresh home directory:

1. the client's own `mcp add` writes a stdio server (the MCP memory server) and a dead one
   (`/bin/false`) into its config, so the file is exactly what the client writes;
2. where the client can check its servers offline (`claude mcp list`, ...), it must report the
   memory server connected and the dead one not: the check is shown to tell the two apart;
3. `mcpcell wrap --client NAME --write`, then `unwrap --write`: the file must come back byte
   for byte; then `wrap --write` again and `mcpcell status --client NAME` must say that every
   server is sandboxed;
4. the client reads the wrapped file: its list shows mcpcell as the command and, where it
   checks, the memory server connected under mcpcell (the dead one still not). Where it has
   no offline check, the entry as the client parsed it is started here and must answer MCP's
   `initialize`;
5. `unwrap --write` puts the original commands back (`status` says NOT sandboxed).

Prints a table of clients x (wrap, connects, unwrap exact) and exits 1 if any cell fails.

usage: run.py --mcpcell BIN --clients DIR --server PATH [--only NAME,...] [--markdown FILE]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

TIMEOUT = 120


class Failed(Exception):
    pass


def run(argv, env, cwd, timeout=TIMEOUT, check=True):
    try:
        p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Failed(f"{' '.join(argv)}: timed out after {timeout}s")
    out = p.stdout + p.stderr
    if check and p.returncode != 0:
        raise Failed(f"{' '.join(argv)}: exit {p.returncode}\n{out}")
    return p.returncode, out


def initialize(argv, env, cwd):
    """Starts argv and asks it MCP's `initialize`; True when a result comes back."""
    req = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "mcpcell-clients-test", "version": "1"}}}) + "\n"
    try:
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError:
        return False
    try:
        try:
            p.stdin.write(req)
            p.stdin.flush()
        except BrokenPipeError:
            return False  # it ended before reading the request (the dead server's entry)
        line = p.stdout.readline()
        return '"result"' in line and '"id":1' in line.replace(" ", "")
    finally:
        p.kill()
        p.wait()


# How each client adds a server, where the file is, how it lists and checks servers.
# `connected`/`failed` are regexes over the list output for a server named {name}; a client
# without an offline check has `argv_of`, which gives the wrapped entry's command line as the
# client's own `get`/`list` shows it, or as the file says.
def json_entry(path, *keys):
    def get(home, name):
        d = json.load(open(os.path.join(home, path)))
        for k in keys:
            d = d[k]
        e = d[name]
        e = e.get("transport", e)
        return [e["command"], *e.get("args", [])]
    return get


def toml_entry(path):
    def get(home, name):
        d = tomllib.load(open(os.path.join(home, path), "rb"))
        e = d["mcp_servers"][name]
        return [e["command"], *e.get("args", [])]
    return get


CLIENTS = [
    dict(name="claude-code", title="Claude Code", bin="claude",
         add=lambda s: [["claude", "mcp", "add", "-s", "user", "mem", "-e", "MEMORY_FILE_PATH=/dev/null", "--", s],
                        ["claude", "mcp", "add", "-s", "user", "dead", "--", "/bin/false"]],
         file=".claude.json", list=["claude", "mcp", "list"],
         connected=r"^{name}: .* - ✔ Connected", failed=r"^{name}: .* - [✗✘] Failed"),
    dict(name="gemini", title="Gemini CLI", bin="gemini",
         # The client's own check gives a server 5 s by default: a loaded machine may need more.
         add=lambda s: [["gemini", "mcp", "add", "-s", "user", "--timeout", "60000", "mem", s],
                        ["gemini", "mcp", "add", "-s", "user", "dead", "/bin/false"]],
         file=".gemini/settings.json", list=["gemini", "mcp", "list"],
         trust=True,
         connected=r"✓ {name}: .* - Connected", failed=r"✗ {name}: .* - Disconnected"),
    dict(name="qwen", title="Qwen Code", bin="qwen",
         add=lambda s: [["qwen", "mcp", "add", "-s", "user", "--timeout", "60000", "mem", s],
                        ["qwen", "mcp", "add", "-s", "user", "dead", "/bin/false"]],
         file=".qwen/settings.json", list=["qwen", "mcp", "list"],
         connected=r"✓.* {name}: .* - Connected", failed=r"✗.* {name}: .* - Disconnected"),
    dict(name="opencode", title="opencode", bin="opencode",
         # `opencode mcp add` is an interactive wizard: the file is written as its
         # documentation shows (https://opencode.ai/docs/mcp-servers/).
         write=(".config/opencode/opencode.json", lambda s: json.dumps({
             "$schema": "https://opencode.ai/config.json",
             "mcp": {"mem": {"type": "local", "command": [s], "enabled": True},
                     "dead": {"type": "local", "command": ["/bin/false"], "enabled": True}}},
             indent=2) + "\n"),
         file=".config/opencode/opencode.json", list=["opencode", "mcp", "list"],
         connected=r"✓ {name} .*connected", failed=r"✗ {name} .*failed"),
    dict(name="codex", title="Codex", bin="codex",
         add=lambda s: [["codex", "mcp", "add", "mem", "--env", "MEMORY_FILE_PATH=/dev/null", "--", s],
                        ["codex", "mcp", "add", "dead", "--", "/bin/false"]],
         file=".codex/config.toml", list=["codex", "mcp", "list"],
         argv_of=toml_entry(".codex/config.toml")),
    dict(name="copilot", title="GitHub Copilot CLI", bin="copilot",
         add=lambda s: [["copilot", "mcp", "add", "mem", "--", s],
                        ["copilot", "mcp", "add", "dead", "--", "/bin/false"]],
         file=".copilot/mcp-config.json", list=["copilot", "mcp", "get", "mem"],
         argv_of=json_entry(".copilot/mcp-config.json", "mcpServers")),
    dict(name="amp", title="Amp", bin="amp",
         add=lambda s: [["amp", "mcp", "add", "mem", "--", s],
                        ["amp", "mcp", "add", "dead", "--", "/bin/false"]],
         file=".config/amp/settings.json", list=["amp", "mcp", "list"],
         argv_of=json_entry(".config/amp/settings.json", "amp.mcpServers")),
    dict(name="auggie", title="Auggie", bin="auggie",
         add=lambda s: [["auggie", "mcp", "add", "mem", "--command", s],
                        ["auggie", "mcp", "add", "dead", "--command", "/bin/false"]],
         # Its list cuts commands short and shows ✓ for a dead server too.
         file=".augment/settings.json", list=["auggie", "mcp", "list"], shows_command=False,
         argv_of=json_entry(".augment/settings.json", "mcpServers")),
    dict(name="cline", title="Cline CLI", bin="cline",
         add=lambda s: [["cline", "mcp", "add", "--yes", "mem", "--", s],
                        ["cline", "mcp", "add", "--yes", "dead", "--", "/bin/false"]],
         file=".cline/data/settings/cline_mcp_settings.json", list=["cline", "config", "mcp"],
         shows_command=False,
         argv_of=json_entry(".cline/data/settings/cline_mcp_settings.json", "mcpServers")),
]


def one(c, args, root, cell):
    home = os.path.join(root, c["name"])
    work = os.path.join(home, "work")
    os.makedirs(work)
    node_dir = os.path.dirname(shutil.which("node") or "/usr/bin/node")
    env = {
        "HOME": home,
        "PATH": f"{args.clients}/node_modules/.bin:{node_dir}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "CI": "1",
    }
    if c.get("trust"):
        os.makedirs(os.path.join(home, ".gemini"), exist_ok=True)
        with open(os.path.join(home, ".gemini/trustedFolders.json"), "w") as f:
            json.dump({work: "TRUST_FOLDER"}, f)
    path = os.path.join(home, c["file"])
    if "write" in c:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(c["write"][1](args.server))
    else:
        for argv in c["add"](args.server):
            run(argv, env, work)
    listing = lambda: run(c["list"], env, work, check=False)[1]
    strip = lambda s: re.sub(r"\x1b\[[0-9;]*m", "", s)

    def check(name, want):
        out = strip(listing())
        ok_re = c["connected"].format(name=re.escape(name))
        bad_re = c["failed"].format(name=re.escape(name))
        connected = re.search(ok_re, out, re.M) is not None
        failed = re.search(bad_re, out, re.M) is not None
        if want and not connected:
            raise Failed(f"{c['list']}: `{name}` not connected:\n{out}")
        if not want and (connected or not failed):
            raise Failed(f"{c['list']}: `{name}` should have failed:\n{out}")
        return out

    if "connected" in c:
        # The client's check tells a live server from a dead one, before mcpcell is involved.
        check("mem", True)
        check("dead", False)

    mcpcell = args.mcpcell
    before = open(path, "rb").read()
    run([mcpcell, "wrap", "--client", c["name"], "--write"], env, work)
    wrapped = open(path, "rb").read()
    if wrapped == before:
        raise Failed("wrap --write changed nothing")
    run([mcpcell, "unwrap", "--client", c["name"], "--write"], env, work)
    back = open(path, "rb").read()
    cell["unwrap"] = "exact" if back == before else "FAIL"
    if back != before:
        raise Failed(f"unwrap did not give back the bytes:\n{before!r}\n{back!r}")
    run([mcpcell, "wrap", "--client", c["name"], "--write"], env, work)
    code, out = run([mcpcell, "status", "--client", c["name"]], env, work, check=False)
    if code != 0 or "2 sandboxed, 0 NOT sandboxed" not in out:
        raise Failed(f"status after wrap: exit {code}\n{out}")
    cell["wrap"] = "ok"

    out = strip(listing())
    if c.get("shows_command", True) and mcpcell not in out:
        raise Failed(f"{c['list']} does not show mcpcell as the command:\n{out}")
    if "connected" in c:
        check("mem", True)
        check("dead", False)
        cell["connects"] = "yes (client's check)"
    else:
        argv = c["argv_of"](home, "mem")
        if argv[0] != mcpcell or not initialize(argv, env, work):
            raise Failed(f"the wrapped entry {argv} does not answer initialize")
        if initialize(c["argv_of"](home, "dead"), env, work):
            raise Failed("the dead server answered initialize: the probe cannot fail")
        cell["connects"] = "yes (entry probed)"

    run([mcpcell, "unwrap", "--client", c["name"], "--write"], env, work)
    code, out = run([mcpcell, "status", "--client", c["name"]], env, work, check=False)
    if code != 1 or "0 sandboxed, 2 NOT sandboxed" not in out:
        raise Failed(f"status after unwrap: exit {code}\n{out}")
    if "connected" in c:
        check("mem", True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mcpcell", required=True)
    ap.add_argument("--clients", required=True, help="the directory npm installed into")
    ap.add_argument("--server", required=True, help="the MCP memory server's executable")
    ap.add_argument("--only", default="")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    args.mcpcell = os.path.realpath(args.mcpcell)
    only = [o for o in args.only.split(",") if o]
    rows = []
    failures = 0
    root = tempfile.mkdtemp(prefix="mcpcell-clients-", dir="/var/tmp")
    os.chmod(root, 0o700)
    try:
        for c in CLIENTS:
            if only and c["name"] not in only:
                continue
            version = "?"
            start = time.monotonic()
            cell = {"wrap": "FAIL", "connects": "FAIL", "unwrap": "FAIL"}
            try:
                one(c, args, root, cell)
            except Failed as e:
                failures += 1
                print(f"--- {c['title']}: FAILED\n{e}\n", file=sys.stderr)
            try:
                _, v = run([os.path.join(args.clients, "node_modules/.bin", c["bin"]), "--version"],
                           {"PATH": os.environ["PATH"], "HOME": root}, root, timeout=60, check=False)
                m = re.search(r"\d+\.\d+\.\d+[\w.-]*", v)
                version = m.group(0).rstrip(".") if m else "?"
            except Failed:
                pass
            rows.append((c["title"], version, cell, time.monotonic() - start))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = ["| client | version | wrap | connects under mcpcell | unwrap |",
             "| --- | --- | --- | --- | --- |"]
    for title, version, cell, _ in rows:
        lines.append(f"| {title} | {version} | {cell['wrap']} | {cell['connects']} | {cell['unwrap']} |")
    table = "\n".join(lines)
    print(table)
    for title, _, _, secs in rows:
        print(f"{title}: {secs:.1f}s", file=sys.stderr)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    sys.exit(1 if failures or not rows else 0)


if __name__ == "__main__":
    main()
