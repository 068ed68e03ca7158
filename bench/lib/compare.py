"""Compares builds of mcpcell: launch overhead over bare `/bin/true` (interleaved rounds) and
the supervisor's peak RSS while the server (`cat`) runs (measured as in memory.py) and PSS,
for each binary given. Used to check a proposed change of build settings or code before it
is made, e.g.

    CARGO_PROFILE_RELEASE_OPT_LEVEL=s cargo build --release --target-dir /tmp/opt-s
    compare.py OUT.json ROUNDS PROFILE built=target/x86_64-unknown-linux-gnu/release/mcpcell \
        opt-s=/tmp/opt-s/x86_64-unknown-linux-gnu/release/mcpcell
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402
from launch import interleaved  # noqa: E402
from memory import sample  # noqa: E402


def main():
    out_path, rounds, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    builds = dict(a.split("=", 1) for a in sys.argv[4:])
    os.chdir(c.WORK)
    env = dict(os.environ)
    variants = {"bare": ["/bin/true"]}
    for name, path in builds.items():
        variants[name] = c.run_argv(profile, ["/bin/true"], binary=path)
    samples, discarded = interleaved(variants, variants, rounds, env, seed=4, quiet_s=30)
    base = c.summarize(samples["bare"])["median"]
    result = {"profile": profile, "rounds": rounds, "discarded_busy_rounds": discarded, "builds": {}}
    for name, path in builds.items():
        s = c.summarize(samples[name])
        mem = [sample(c.run_argv(profile, ["/usr/bin/cat"], binary=path), "cat") for _ in range(5)]
        mem = [m for m in mem if "launcher" in m]
        row = {
            "path": path,
            "size_bytes": os.path.getsize(path),
            "launch_ms": s,
            "overhead_ms": s["median"] - base,
            "supervisor_hwm_kib": c.summarize([m["launcher"]["VmHWM"] for m in mem]),
            "supervisor_pss_kib": c.summarize([m["launcher"]["Pss"] for m in mem]),
        }
        result["builds"][name] = row
        print(f"{name:12s} {row['size_bytes'] / 1e6:5.2f} MB  launch +{row['overhead_ms']:.2f} ms "
              f"(p25–p75 {s['p25']:.2f}–{s['p75']:.2f})  supervisor peak RSS while running "
              f"{row['supervisor_hwm_kib']['median'] / 1024:.2f} MiB, PSS "
              f"{row['supervisor_pss_kib']['median'] / 1024:.2f} MiB")
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
