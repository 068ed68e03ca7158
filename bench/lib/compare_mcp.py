"""Compares builds of mcpcell on the memory server's start-up: each round runs a bare session
and one session under each build (`run -p node`, the server's install directory granted, as
`mcp.py`'s `mcpcell -p node` line), in a shuffled order; prints each build's median of the
per-round ratios to bare, and the second build's to the first's, with bootstrap 95%
intervals. Used to measure a change to the launch side by side (ANALYSIS.md §1.29), e.g. as
the unprivileged user:

    compare_mcp.py ROUNDS SERVER_JS before=/path/to/old/mcpcell after=target/.../mcpcell

Sessions start from a 64-entry descriptor table (`common.small_fd_table`), as most clients
start a server. A session during which other processes used the CPU is measured again (at
most twice).
"""

import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402
import mcp  # noqa: E402


def interval(ratios, rng):
    boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return boot[50], boot[1949]


def main():
    rounds, server_js = int(sys.argv[1]), sys.argv[2]
    builds = dict(a.split("=", 1) for a in sys.argv[3:])
    print(f"commands start with a {c.small_fd_table()}-entry descriptor table")
    os.environ["MEMORY_FILE_PATH"] = os.path.join(c.WORK, f"compare-memory-{os.getuid()}.jsonl")
    found = mcp.servers(server_js, "/nonexistent")["memory"]
    if isinstance(found, str):
        sys.exit(found)
    command, install, base, _, extra = found
    cases = {"bare": list(command)}
    for name, path in builds.items():
        cases[name] = c.run_argv(base, command, ["--allow-exec", install, *extra], binary=path)
    by = {k: {} for k in cases}
    rng = random.Random(7)
    c.wait_quiet(30)
    for r in range(rounds + 1):  # round 0 warms the caches and is not counted
        order = list(cases)
        rng.shuffle(order)
        for k in order:
            for _ in range(3):
                with c.Others() as o:
                    res = mcp.session(cases[k], 0)
                if not o.busy:
                    break
            if r:
                by[k][r] = res["init_ms"]
    bare = by["bare"]
    print(f"{rounds} rounds; bare median {statistics.median(bare.values()):.1f} ms")
    for k in builds:
        ratios = [by[k][r] / bare[r] for r in bare]
        lo, hi = interval(ratios, rng)
        print(f"{k}: median {statistics.median(by[k].values()):.1f} ms, "
              f"paired {statistics.median(ratios):.4f} × bare ({lo:.4f}–{hi:.4f})")
    names = list(builds)
    if len(names) == 2:
        a, b = names
        ratios = [by[b][r] / by[a][r] for r in bare]
        lo, hi = interval(ratios, rng)
        print(f"{b} / {a}: paired {statistics.median(ratios):.4f} ({lo:.4f}–{hi:.4f})")


if __name__ == "__main__":
    main()
