"""4. Supervisor memory: while a server runs, the peak resident set and the proportional set
size (PSS) of the launcher, the process outside the sandbox that the client started, and of all
support processes of the launch (every process in the tree but the server).

The server is `cat`; for mcpcell also `cat` under a profile file (which a built-in profile
does not need: the YAML parser runs) and the real MCP memory server under the `node`
profile, whose plan is larger. Once the server is up and has settled, the launcher's peak so far
(VmHWM: the launch's peak) is read, the peak is reset to the current resident set (`5` to
/proc/PID/clear_refs, the kernel's way of measuring the peak of a phase), stdin carries
TRAFFIC bytes for `cat` to pass on, and the peak is read again: the peak while the server
runs. Every launcher is measured the same way. Then the launch ends by closing its stdin.

    memory.py OUT.json REPEATS [SERVER_JS]
"""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402

SETTLE_S = 0.3
TRAFFIC = 4 << 20


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def sample(argv, server_comm):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    server = None
    while time.monotonic() < deadline and p.poll() is None:
        tree = c.descendants(p.pid)
        hits = [q for q in tree if q != p.pid and c.comm(q) == server_comm]
        if hits:
            server = hits[-1]
            break
        time.sleep(0.01)
    if server is None:
        p.kill()
        err = p.stderr.read().decode(errors="replace")
        p.wait()
        return {"failed": f"the server never started: {c.tail(err)}"}
    time.sleep(SETTLE_S)
    at_start = c.memory_kib(p.pid) or {}
    if not reset_peak(p.pid):
        at_start = {}
    if server_comm == "cat":
        chunk = b"x" * 4095 + b"\n"
        for _ in range(TRAFFIC // len(chunk)):
            p.stdin.write(chunk)
        p.stdin.flush()
    time.sleep(SETTLE_S)
    tree = c.descendants(p.pid)
    # The server and anything it started are not the launcher's cost.
    server_tree = set(c.descendants(server))
    support = []
    for q in tree:
        if q in server_tree:
            continue
        m = c.memory_kib(q)
        if m:
            support.append({"pid": q, "comm": c.comm(q), **m})
    launcher = next((h for h in support if h["pid"] == p.pid), None)
    if launcher is not None and "VmHWM" in at_start:
        launcher["launch_VmHWM"] = at_start["VmHWM"]
    p.stdin.close()
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return {"launcher": launcher, "support": support}


def main():
    out_path, repeats = sys.argv[1], int(sys.argv[2])
    server_js = sys.argv[3] if len(sys.argv) > 3 else None
    os.chdir(c.WORK)
    c.log(f"memory: {repeats} launches each")
    cases = []
    for name, wrap, missing in c.sandboxes(("mcpcell-default", "bwrap", "firejail", "srt")):
        cases.append((name, wrap(["/usr/bin/cat"]), "cat", missing))
    # A profile of the user's own: only a profile file runs the YAML parser (the built-in
    # profiles are read as JSON written at build time). Outside the writable work directory,
    # where mcpcell would refuse it.
    profile = os.path.join(c.ROOT, "memory-profile.yaml")
    with open(profile, "w") as f:
        f.write("# written by bench/lib/memory.py\nextends: [default]\n"
                f"filesystem:\n  read: [\"{c.BIN}\"]\n")
    os.chmod(profile, 0o644)
    cases.append(("mcpcell, a profile file", c.run_argv(profile, ["/usr/bin/cat"]), "cat",
                  c.peer_missing("mcpcell")))
    if server_js and os.path.exists(server_js):
        modules = server_js.split("/node_modules/")[0] + "/node_modules"
        cases.append(("mcpcell-node (server-memory)",
                      c.run_argv("node", [shutil.which("node") or "node", server_js],
                                 ["--allow-read", modules]), "node", c.peer_missing("mcpcell")))
    rows = {}
    for name, argv, comm, missing in cases:
        row = rows[name] = {"argv": argv}
        if missing:
            row["skipped"] = missing
            continue
        samples = []
        for _ in range(repeats):
            s = sample(argv, comm)
            if "failed" in s:
                row["failed"] = s["failed"]
                break
            samples.append(s)
        if "failed" in row:
            continue
        row["samples"] = samples
        row["launcher_comm"] = samples[0]["launcher"]["comm"]
        row["launcher_hwm_kib"] = c.summarize([s["launcher"]["VmHWM"] for s in samples])
        if all("launch_VmHWM" in s["launcher"] for s in samples):
            row["launcher_launch_hwm_kib"] = c.summarize([s["launcher"]["launch_VmHWM"] for s in samples])
        row["launcher_rss_kib"] = c.summarize([s["launcher"]["VmRSS"] for s in samples])
        row["launcher_pss_kib"] = c.summarize([s["launcher"]["Pss"] for s in samples])
        row["support_pss_kib"] = c.summarize([sum(h["Pss"] for h in s["support"]) for s in samples])
        row["support_hwm_kib"] = c.summarize([sum(h["VmHWM"] for h in s["support"]) for s in samples])
        row["support_processes"] = [f"{h['comm']}" for h in samples[0]["support"]]
    c.dump({"repeats": repeats, "rows": rows}, out_path)


if __name__ == "__main__":
    main()
