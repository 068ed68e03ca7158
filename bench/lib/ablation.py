"""Where a launch's time goes, measured by taking parts away: mcpcell with profiles that each
drop one feature of `minimal` (given by path, so nothing in mcpcell changes), `unshare` with
and without its network namespace, and mcpcell doing no launch at all (`--version`,
`--dry-run`). Interleaved rounds, as in launch.py. Used by analyze.sh for ANALYSIS.md.

    ablation.py OUT.json ROUNDS PROFILE_DIR
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402
from launch import interleaved  # noqa: E402

MINIMAL = """\
description: the built-in minimal profile, {what}
filesystem:
  read: [/etc/ld.so.cache, /lib, /lib64, /usr/lib, /usr/lib64]
network:
  mode: {mode}
syscalls:
  deny: [{deny}]
env:
  pass: [PATH]
limits:
  open_files: 1024
{processes}  core_dumps: false
"""

PROFILES = {
    "same as minimal": dict(mode="none", deny='"@default"', processes="  processes: 64\n"),
    "no limits.processes (no pids cgroup for root)": dict(mode="none", deny='"@default"', processes=""),
    "no pids cgroup, no @default deny list": dict(mode="none", deny="", processes=""),
    "no pids cgroup, network host (no netns)": dict(mode="host", deny='"@default"', processes=""),
}


def main():
    out_path, rounds, pdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(pdir, exist_ok=True)
    os.chdir(c.WORK)
    variants = {
        "bare /bin/true": ["/bin/true"],
        "mcpcell --version (exec + start of the binary)": [c.MCPCELL, "--version"],
        "mcpcell run --dry-run -p minimal (plan, namespace probes, print)":
            c.run_argv("minimal", ["/bin/true"], ["--dry-run"]),
        "unshare floor": c.unshare_floor(["/bin/true"]),
        "unshare floor without --net": [x for x in c.unshare_floor(["/bin/true"]) if x != "--net"],
        "mcpcell -p minimal (built-in)": c.mcpcell("minimal")(["/bin/true"]),
    }
    for i, (what, kw) in enumerate(PROFILES.items()):
        path = os.path.join(pdir, f"ablation{i}.yaml")
        with open(path, "w") as f:
            f.write(MINIMAL.format(what=what, **kw))
        variants[f"mcpcell -p minimal, {what}"] = c.run_argv(path, ["/bin/true"])
    env = dict(os.environ)
    failed = {}
    for k, argv in variants.items():
        f = c.run_once_checked(argv)
        if f:
            failed[k] = f
    live = [k for k in variants if k not in failed]
    samples, discarded = interleaved(variants, live, rounds, env, seed=9, quiet_s=60)
    base = c.summarize(samples["bare /bin/true"])["median"]
    rows = {}
    for k in variants:
        if k in failed:
            rows[k] = {"failed": failed[k], "argv": variants[k]}
            continue
        s = c.summarize(samples[k])
        rows[k] = {"argv": variants[k], "ms": s, "overhead_ms": s["median"] - base}
    c.dump({"rounds": rounds, "discarded_busy_rounds": discarded, "uid": os.geteuid(),
            "rows": rows}, out_path)
    for k, r in rows.items():
        print(f"{k:75s} " + (f"+{r['overhead_ms']:6.2f} ms  (p25–p75 {r['ms']['p25']:.2f}–{r['ms']['p75']:.2f})"
                             if "ms" in r else r["failed"]))


if __name__ == "__main__":
    main()
