"""5. MCP start-up and round trip with real servers: the time from spawn to the `initialize`
response, and the latency of `tools/list` requests, for the memory server on Node
(@modelcontextprotocol/server-memory) and the time server on Python (mcp-server-time), each
bare, under mcpcell and under bubblewrap. Sessions of every case alternate in a shuffled
order, so that the noise of a shared machine falls on all of them alike; a session during
which other processes used the CPU is measured again.

For each server:
- `bare`: the server's command;
- `mcpcell BASE`: the base profile of its runtime (`node`, `python`: no network), with the
  server's install directory granted: the same isolation as the bubblewrap line;
- `mcpcell PROFILE`: its built-in profile (`memory`, `time`), which adds the egress proxy for
  the package registry, as a user runs it;
- `bwrap`: bubblewrap as `common.bwrap` sets it up, with the install directory bound read-only;
- `bwrap + filter`: the same, with the base profile's seccomp program (`mcpcell export seccomp
  --format bpf`, exactly what `run` attaches) loaded by bubblewrap's `--seccomp`: bubblewrap
  with mcpcell's filter (not its limits, its view of only the grants, or Landlock).

    mcp.py OUT.json SESSIONS LISTS_PER_SESSION SERVER_JS TIME_SERVER

`BENCH_MCP_SERVERS=memory` (or `time`, or both comma-separated) measures only those servers:
a long run of one server, with enough sessions to resolve a few per cent, takes minutes
where the full set takes most of an hour.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402


# Where `bwrap + filter`'s command line names the descriptor of its program (`--seccomp FD`):
# each session opens the program afresh and puts that descriptor's number here.
FILTER_FD = "{filter_fd}"


def session(argv, lists, program=None):
    """One session; `program`: a file opened afresh for the command to read on the
    descriptor FILTER_FD names (bubblewrap reads its `--seccomp` descriptor to the end),
    before the clock starts."""
    fds = ()
    if program:
        fd = os.open(program, os.O_RDONLY)
        fds = (fd,)
        argv = [str(fd) if a == FILTER_FD else a for a in argv]
    t0 = time.perf_counter_ns()
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, bufsize=0, cwd=c.WORK, pass_fds=fds)
    finally:
        for fd in fds:
            os.close(fd)

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


def servers(server_js, time_server):
    """name -> (command, install directory, base profile, built-in profile, extra options), or
    name -> reason it is missing."""
    out = {}
    node = shutil.which("node")
    if not node:
        out["memory"] = "node is not installed"
    elif not os.path.exists(server_js):
        out["memory"] = f"{server_js} is missing: run `npm ci` in integration/node"
    else:
        modules = server_js.split("/node_modules/")[0] + "/node_modules"
        # The server keeps its knowledge graph in a file: a scratch one in the work directory.
        out["memory"] = ([node, server_js], modules, "node", "memory",
                         ["--pass-env", "MEMORY_FILE_PATH"])
    if not os.path.exists(time_server):
        out["time"] = f"{time_server} is missing: integration/setup.sh installs it"
    else:
        # A virtual environment: its scripts are executed, so the directory is granted for
        # execution (the interpreter it links to is under /usr, in the base profile).
        venv = os.path.dirname(os.path.dirname(time_server))
        out["time"] = ([time_server], venv, "python", "time", [])
    return out


def base_program(name, base, install):
    """The base profile's seccomp program, as `run` attaches it, in a private temporary
    file (not in the work directory, which every sandboxed case may write); None (and why)
    when mcpcell cannot export it."""
    fd, path = tempfile.mkstemp(prefix=f"bench-{name}-{base}-", suffix=".bpf")
    with os.fdopen(fd, "wb") as f:
        p = subprocess.run([c.MCPCELL, "export", "seccomp", "--format", "bpf", "-p", base,
                            "--allow-exec", install], stdout=f, stderr=subprocess.PIPE)
    if p.returncode != 0 or os.path.getsize(path) == 0:
        os.remove(path)
        return None, ("mcpcell export seccomp --format bpf failed: "
                      + c.tail(p.stderr.decode(errors="replace")))
    return path, None


def cases(command, install, base, profile, extra):
    grant = ["--allow-exec", install]
    wrapped = c.bwrap(command, ro=[install])
    end = wrapped.index("--")
    return {
        "bare": list(command),
        f"mcpcell -p {base}": c.run_argv(base, command, [*grant, *extra]),
        f"mcpcell -p {profile}": c.run_argv(profile, command, [*grant, *extra]),
        "bwrap": wrapped,
        "bwrap + filter": [*wrapped[:end], "--seccomp", FILTER_FD, *wrapped[end:]],
    }


def main():
    out_path, sessions, lists = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    server_js, time_server = sys.argv[4], sys.argv[5]
    os.environ["MEMORY_FILE_PATH"] = os.path.join(c.WORK, f"bench-memory-{os.getuid()}.jsonl")
    result = {"sessions": sessions, "lists_per_session": lists, "user": "root" if c.is_root()
              else "unprivileged", "servers": {}}
    result["child_fd_table"] = c.small_fd_table()
    todo = []
    only = [n for n in os.environ.get("BENCH_MCP_SERVERS", "").split(",") if n]
    for name, s in servers(server_js, time_server).items():
        if only and name not in only:
            continue
        if isinstance(s, str):
            result["servers"][name] = {"skipped": s}
            continue
        rows = cases(*s)
        srv = result["servers"][name] = {"command": s[0]}
        program = None
        if c.peer_missing("bwrap"):
            rows.pop("bwrap")
            rows.pop("bwrap + filter")
        else:
            program, why_not = base_program(name, s[2], s[1])
            if program is None:
                rows.pop("bwrap + filter")
                srv["filter_missing"] = why_not
        srv["rows"] = {k: {"argv": v} for k, v in rows.items()}
        todo += [(name, k, v, program if k == "bwrap + filter" else None)
                 for k, v in rows.items()]
    data = {(n, k): {"init": [], "list": [], "by_round": {}} for n, k, _, _ in todo}
    c.log(f"MCP start-up: {sessions} sessions x {len(todo)} cases, {lists} tools/list each")
    c.wait_quiet(60)
    redone = 0
    for s in range(sessions + 1):
        order = todo[:]
        random.shuffle(order)
        for name, case, argv, program in order:
            for attempt in range(3):
                with c.Others() as o:
                    try:
                        r = session(argv, lists, program)
                    except (RuntimeError, OSError, ValueError) as e:
                        data[(name, case)]["failed"] = str(e)
                        r = None
                if r is None or not o.busy:
                    break
                redone += 1
            if r is None or s == 0:
                continue  # s == 0 is the warm-up: disk cache, compiled bytecode
            data[(name, case)]["init"].append(r["init_ms"])
            data[(name, case)]["by_round"][s] = r["init_ms"]
            data[(name, case)]["list"].extend(r["list_ms"])
            data[(name, case)]["tools"] = r["tools"]
    result["redone_busy"] = redone
    for (name, case), d in data.items():
        row = result["servers"][name]["rows"][case]
        if "failed" in d:
            row["failed"] = d["failed"]
            continue
        row["init_ms"] = c.summarize(d["init"])
        row["tools_list_ms"] = c.summarize(d["list"])
        row["tools"] = d.get("tools")
    for name, srv in result["servers"].items():
        bare = srv.get("rows", {}).get("bare", {})
        if "init_ms" not in bare:
            continue
        for case, row in srv["rows"].items():
            if "init_ms" in row:
                # Paired by round: each round runs every case within a few seconds, so the
                # ratio to that round's bare (or bubblewrap) session leaves out how the
                # machine's speed drifts from round to round, which dominates the spread
                # of each case's own sessions.
                for ref, key in (("bare", "init_paired_ratio"), ("bwrap", "init_paired_to_bwrap"),
                                 ("bwrap + filter", "init_paired_to_bwrap_filter")):
                    mine, theirs = data[(name, case)]["by_round"], data.get((name, ref), {})
                    pairs = [mine[k] / theirs["by_round"][k] for k in mine
                             if k in theirs.get("by_round", {}) and theirs["by_round"][k] > 0]
                    if pairs and case != ref:
                        row[key] = c.summarize(pairs)
                row["init_ratio"] = row["init_ms"]["median"] / bare["init_ms"]["median"]
                row["init_overhead_ms"] = row["init_ms"]["median"] - bare["init_ms"]["median"]
                row["tools_list_ratio"] = (row["tools_list_ms"]["median"]
                                           / bare["tools_list_ms"]["median"])
    for _, _, _, program in todo:
        if program and os.path.exists(program):
            os.remove(program)
    if os.path.exists(os.environ["MEMORY_FILE_PATH"]):
        os.remove(os.environ["MEMORY_FILE_PATH"])
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
