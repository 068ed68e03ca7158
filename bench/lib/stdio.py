"""3. Stdio throughput and exactness: a file of random bytes is piped through a sandboxed
`cat`: `pump` (c/pump.c) splices it into the pipe at almost no CPU cost, and `sink`
(c/sink.c) times the stream from its first byte to EOF, so launch time is not counted. A separate pass hashes what comes out (sha256) and compares it with the input's hash.

Two placements: all three processes pinned to one CPU (`taskset`), where throughput measures
the CPU cost per byte and is stable from run to run; and free, where the scheduler decides,
which is how a client and server really run but varies a lot on a 2-core machine.

    stdio.py OUT.json SIZE_MIB REPEATS
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402

SINK = os.path.join(c.BIN, "sink")
PUMP = os.path.join(c.BIN, "pump")
CHUNK = 1 << 20


def blob(size_mib):
    """A file of random bytes, made once and kept in BENCH_ROOT/data; returns (path, sha256)."""
    path = os.path.join(c.ROOT, "data", f"random-{size_mib}MiB")
    if not os.path.exists(path) or os.path.getsize(path) != size_mib * CHUNK:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".part", "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(CHUNK))
        os.replace(path + ".part", path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return path, h.hexdigest()


PINNED_CPU = "1"


def pinned(pin):
    """The prefix that runs a command on PINNED_CPU when `pin`, else nothing."""
    return ["taskset", "-c", PINNED_CPU] if pin else []


def pipeline(path, argv, consumer, pin=False):
    """pump PATH | argv | consumer; returns (consumer's result, middle's exit code, stderr)."""
    pre = pinned(pin)
    src = subprocess.Popen([*pre, PUMP, path], stdout=subprocess.PIPE)
    mid = subprocess.Popen([*pre, *argv], stdin=src.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    src.stdout.close()
    out = consumer(mid.stdout, pre)
    mid.stdout.close()
    err = mid.stderr.read().decode(errors="replace")
    code = mid.wait()
    src.wait()
    return out, code, err


def sink_consumer(stream, pre):
    with tempfile.NamedTemporaryFile(mode="r", suffix=".json") as res:
        subprocess.run([*pre, SINK, res.name], stdin=stream, check=True)
        return json.load(res)


def sha_consumer(stream, _pre):
    h = hashlib.sha256()
    n = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    return {"sha256": h.hexdigest(), "bytes": n}


def rates(result, live, repeats, seed, run):
    """2 × repeats rounds over the `live` rows of result["rows"], in a shuffled order,
    alternately pinned and free: `run(name, pin)` returns {"bytes", "seconds"} or why it
    failed (the row is then dropped). A run during which another process was busy is
    measured again (up to three times)."""
    rows = result["rows"]
    c.wait_quiet(5 if c.QUICK else 60)
    rng = random.Random(seed)
    for i in range(2 * repeats):
        pin = i % 2 == 0
        rng.shuffle(live)
        for name in list(live):
            for _ in range(4):
                with c.Others() as others:
                    res = run(name, pin)
                if not others.busy or isinstance(res, str):
                    break
                result["discarded_busy_runs"] += 1
            if isinstance(res, str):
                rows[name]["failed"] = res
                live.remove(name)
                continue
            rows[name]["mb_s" if pin else "mb_s_free"].append(res["bytes"] / res["seconds"] / 1e6)


def ratios(rows, reference):
    """Summarizes each row's rates, and divides their medians by the reference row's."""
    for key, ratio in (("mb_s", "ratio"), ("mb_s_free", "ratio_free")):
        ref = None
        for name, r in rows.items():
            r[key] = c.summarize(r[key]) if r[key] and "failed" not in r else None
            if name == reference and r[key]:
                ref = r[key]["median"]
            if r[key] and ref:
                r[ratio] = r[key]["median"] / ref


def main():
    out_path, size_mib, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.chdir(c.WORK)
    c.log(f"stdio: {size_mib} MiB through cat, {repeats} runs each")
    path, digest = blob(size_mib)
    result = {"size_mib": size_mib, "repeats": repeats, "sha256": digest, "rows": {}}
    rows = result["rows"]
    result["discarded_busy_runs"] = 0
    live = []
    for name, wrap, missing in c.sandboxes(("bare", "mcpcell-default", "bwrap", "firejail", "srt")):
        # `cat` by absolute path, so that every sandbox runs the same file.
        rows[name] = {"argv": wrap(["/usr/bin/cat"]), "mb_s": [], "mb_s_free": []}
        if missing:
            rows[name]["skipped"] = missing
        else:
            live.append(name)
    def run(name, pin):
        res, code, err = pipeline(path, rows[name]["argv"], sink_consumer, pin)
        if code != 0 or res["bytes"] != size_mib * CHUNK:
            return f"exit {code}, {res['bytes']} bytes: {c.tail(err)}"
        return res

    rates(result, live, repeats, 3, run)
    for name in live:
        res, code, err = pipeline(path, rows[name]["argv"], sha_consumer)
        rows[name]["sha256"] = res["sha256"]
        rows[name]["exact"] = res["sha256"] == digest and res["bytes"] == size_mib * CHUNK
    ratios(rows, "bare")
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
