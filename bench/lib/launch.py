"""1. Launch overhead: the wall time from spawn to exit of `/bin/true` and `node -e 0`, bare,
under the namespace floor (`unshare`), under mcpcell's profiles and under each peer.

Runs are interleaved: each round runs every sandbox once, in a shuffled order, so that the
noise of a shared 2-core machine falls on all of them alike. The harness spawns with
posix_spawn (vfork + exec), whose own cost is part of every figure, bare included, and cancels
out of the overhead (median − bare median). Every command starts from a 64-entry descriptor
table, as MCP clients start their servers (`common.small_fd_table`).

    launch.py OUT.json ROUNDS NODE_ROUNDS SLOW_ROUNDS
"""

import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402

# Peers slower than this many milliseconds per launch get SLOW_ROUNDS rounds, not all.
SLOW_MS = 100


def spawn_wait(argv, env):
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0] if "/" in argv[0] else shutil.which(argv[0]), argv, env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                           (os.POSIX_SPAWN_DUP2, devnull, 1),
                                           (os.POSIX_SPAWN_DUP2, devnull, 2)])
        _, status = os.waitpid(pid, 0)
        t1 = time.perf_counter_ns()
    finally:
        os.close(devnull)
    return (t1 - t0) / 1e6, os.waitstatus_to_exitcode(status)


def interleaved(variants, names, rounds, env, seed, quiet_s):
    """Runs each of `names` once per round, in a shuffled order, for `rounds` rounds; a round
    during which other processes used the CPU is measured again (at most `rounds` times).
    Returns the wall times in ms by name, and how many rounds were measured again."""
    samples = {k: [] for k in names}
    names = list(names)
    rng = random.Random(seed)
    c.wait_quiet(quiet_s)
    r = discarded = 0
    while r < rounds:
        rng.shuffle(names)
        got = []
        with c.Others() as o:
            for k in names:
                got.append((k, spawn_wait(variants[k], env)[0]))
        if o.busy and discarded < rounds:
            discarded += 1
            continue
        for k, ms in got:
            samples[k].append(ms)
        r += 1
    return samples, discarded


def measure(workload, argv, rounds, slow_rounds, env, skip=None):
    variants = []
    for name, wrap, missing in c.sandboxes():
        v = {"name": name, "argv": wrap(argv), "samples": []}
        missing = missing or (skip or {}).get(name)
        if missing:
            v["skipped"] = missing
        else:
            failure = c.run_once_checked(v["argv"])
            if failure:
                v["failed"] = failure
        variants.append(v)
    live = [v for v in variants if "skipped" not in v and "failed" not in v]
    # Warm-up: caches, and a first estimate of each one's speed.
    for v in live:
        for _ in range(3):
            ms, _ = spawn_wait(v["argv"], env)
        v["limit"] = slow_rounds if ms > SLOW_MS else rounds
    rng = random.Random(6)
    discarded = 0
    c.wait_quiet(5 if c.QUICK else 60)
    r = 0
    while r < rounds:
        order = [v for v in live if r < v["limit"]]
        rng.shuffle(order)
        times = []
        with c.Others() as others:
            for v in order:
                ms, code = spawn_wait(v["argv"], env)
                if code != 0:
                    v["failed"] = f"exit {code} in round {r}"
                times.append((v, ms))
        # A round during which something else ran on the machine is measured again (up to
        # as many extra rounds as planned ones).
        if others.busy and discarded < rounds:
            discarded += 1
            continue
        for v, ms in times:
            v["samples"].append(ms)
        r += 1
        if r % 50 == 0:
            c.log(f"  {workload}: round {r}/{rounds} ({discarded} busy rounds discarded)")
    out = {"_discarded_busy_rounds": discarded}
    for v in variants:
        entry = {"argv": v["argv"]}
        for k in ("skipped", "failed"):
            if k in v:
                entry[k] = v[k]
        if v["samples"] and "failed" not in v:
            entry["ms"] = c.summarize(v["samples"])
            entry["samples"] = v["samples"]
        out[v["name"]] = entry
    base = out.get("bare", {}).get("ms", {}).get("median")
    for e in out.values():
        if base and isinstance(e, dict) and "ms" in e:
            e["overhead_ms"] = e["ms"]["median"] - base
            e["ratio"] = e["ms"]["median"] / base
    return out


def main():
    out_path, rounds, node_rounds, slow_rounds = sys.argv[1], *map(int, sys.argv[2:5])
    os.makedirs(c.WORK, exist_ok=True)
    os.chdir(c.WORK)
    env = dict(os.environ)
    node = shutil.which("node")
    result = {"uid": os.geteuid(), "rounds": rounds, "workloads": {},
              "child_fd_table": c.small_fd_table()}
    c.log(f"launch overhead as uid {os.geteuid()}: /bin/true x {rounds}")
    result["workloads"]["/bin/true"] = measure("/bin/true", ["/bin/true"], rounds, slow_rounds, env)
    if node:
        c.log(f"launch overhead as uid {os.geteuid()}: node -e 0 x {node_rounds}")
        result["workloads"]["node -e 0"] = measure(
            "node -e 0", [node, "-e", "0"], node_rounds, min(slow_rounds, node_rounds), env,
            skip={name: "not applicable: `minimal` is for static binaries and does not grant "
                        "/etc/ssl/openssl.cnf, which node reads at start"
                  for name in ("mcpcell-minimal", "mcpcell-minimal-tier")})
    else:
        result["workloads"]["node -e 0"] = {"skipped": "node is not installed"}
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
