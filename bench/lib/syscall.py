"""2. Per-syscall cost of the seccomp filter and Landlock: `syscall_loop` (c/syscall_loop.c)
times getppid, stat("/usr") and open+close of a module deep in npm's node_modules in a loop, bare, with a one-instruction allow-all filter, and inside mcpcell
and each peer. Decomposition rows help read the figures: a Landlock domain alone
(no filter), mcpcell's `default` filter alone (no Landlock, no namespaces: the SPEC's target
is about it), and the allow-all filter inside the floor's namespaces.

    syscall.py OUT.json REPEATS GETPPID_ITERATIONS STAT_ITERATIONS

The open loop runs STAT_ITERATIONS / 2 times (an open and a close per iteration).
"""

import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402

LOOP = os.path.join(c.BIN, "syscall_loop")
# mcpcell's `default` filter as the kernel holds it, read from a sandboxed process by run.sh
# (filter_dump.py, root only): the filter alone, without Landlock or the namespaces, is what
# the target "allowed syscalls within 5% of an allow-all filter" is about.
FILTER = os.path.join(c.ROOT, "filter-default.bpf")
# syscall_loop's default for `open`: 9 directories deep, readable in every sandbox measured.
OPEN_PATH = "/usr/lib/node_modules/npm/node_modules/@npmcli/arborist/lib/arborist/index.js"


def variants():
    """(name, wrap, extra loop options, missing)."""
    out = [
        ("bare", c.bare, [], None),
        ("allow-all filter", c.bare, ["--allow-all-filter"], None),
        ("Landlock only", c.bare, ["--landlock"], None),
        ("mcpcell's filter alone", c.bare, ["--filter", FILTER],
         None if os.path.exists(FILTER) else "mcpcell's filter was not read (root only)"),
        ("unshare + allow-all filter", c.unshare_floor, ["--allow-all-filter"], c.peer_missing("unshare")),
    ]
    for name, wrap, missing in c.sandboxes(("mcpcell-default", "bwrap", "firejail", "srt")):
        out.append((name, wrap, [], missing))
    return out


def main():
    out_path, repeats, n_ppid, n_stat = sys.argv[1], *map(int, sys.argv[2:5])
    os.chdir(c.WORK)
    n_open = max(n_stat // 2, 1)
    result = {"repeats": repeats, "iterations": {"getppid": n_ppid, "stat": n_stat, "open": n_open},
              "open_path": OPEN_PATH, "rows": {}}
    rows = result["rows"]
    result["discarded_busy_runs"] = 0
    todo = []
    for name, wrap, opts, missing in variants():
        rows[name] = {"getppid": [], "stat": [], "open": []}
        if missing:
            rows[name]["skipped"] = missing
            continue
        for sc, n in (("getppid", n_ppid), ("stat", n_stat), ("open", n_open)):
            if sc == "open" and not os.path.exists(OPEN_PATH):
                continue
            todo.append((name, sc, wrap([LOOP, sc, str(n), *opts])))
        rows[name]["argv"] = wrap([LOOP, "getppid", str(n_ppid), *opts])
    c.wait_quiet(5 if c.QUICK else 60)
    rng = random.Random(2)
    c.log(f"per-syscall cost: {len(todo)} cases x {repeats}")
    for _ in range(repeats):
        rng.shuffle(todo)
        for name, sc, argv in todo:
            if "failed" in rows[name]:
                continue
            for _ in range(4):  # measured again while another process was busy
                with c.Others() as others:
                    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                       text=True, timeout=300)
                if not others.busy:
                    break
                result["discarded_busy_runs"] += 1
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if p.returncode != 0 or not line:
                rows[name]["failed"] = f"exit {p.returncode}: {c.tail(p.stderr)}"
                continue
            rows[name][sc].append(json.loads(line[-1])["ns_per_call"])
    for name, r in rows.items():
        for sc in ("getppid", "stat", "open"):
            r[sc] = c.summarize(r[sc]) if r[sc] and "failed" not in r else None
    ref = rows["allow-all filter"]
    bare = rows["bare"]
    for r in rows.values():
        for sc in ("getppid", "stat", "open"):
            if r[sc] and ref[sc] and bare[sc]:
                r[f"{sc}_vs_allow_all"] = r[sc]["median"] / ref[sc]["median"]
                r[f"{sc}_vs_bare"] = r[sc]["median"] / bare[sc]["median"]
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
