"""Shared by every section: where things live, how each sandbox is invoked, statistics, and
the process tree of a launch.

Every command line a peer runs with is built here and nowhere else; `run.sh --print-commands`
prints them, and bench/README.md documents the same lines.
"""

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.environ.get("BENCH_ROOT", "/srv/mcpcell-bench")
BIN = os.path.join(ROOT, "bin")
WORK = os.environ.get("BENCH_WORK", "/srv/mcpcell-bench/work")
MCPCELL = os.environ.get("BENCH_MCPCELL", os.path.join(BIN, "mcpcell"))
# tests/nouserns: runs a command as a container's default seccomp profile does (no namespaces),
# so that mcpcell takes its namespace-free tier.
NOUSERNS = os.path.join(BIN, "nouserns")
SRT_CLI = os.path.join(ROOT, "srt", "node_modules", "@anthropic-ai", "sandbox-runtime", "dist", "cli.js")
SRT_SETTINGS = os.path.join(ROOT, "srt-settings.json")
QUICK = os.environ.get("BENCH_QUICK") == "1"

# The namespaces mcpcell creates for network mode `none`; a user namespace is added when not
# root. `unshare` creating exactly these is the floor a launch cannot go below.
UNSHARE_NS = ["--mount", "--pid", "--fork", "--mount-proc", "--net", "--ipc", "--uts", "--cgroup"]


def is_root():
    return os.geteuid() == 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- the sandboxes ---------------------------------------------------------------------

def bare(argv):
    return list(argv)


def unshare_floor(argv):
    user = [] if is_root() else ["--user", "--map-current-user"]
    return ["unshare", *user, *UNSHARE_NS, "--", *argv]


# The work directory, granted as bubblewrap binds it (`bwrap` below): the same isolation, and
# without it every launch would also write mcpcell's warning that its working directory is
# not granted.
GRANT_WORK = ["--allow-write", WORK]


def run_argv(profile, argv, options=(), binary=None):
    """mcpcell's command line in every benchmark: `run -p PROFILE` with the work directory
    granted (bubblewrap's command binds it read-write), OPTIONS, then the command; `binary`
    for another build than the one measured."""
    return [binary or MCPCELL, "run", "-p", profile, *GRANT_WORK, *options, "--", *argv]


def mcpcell(profile):
    def wrap(argv):
        return run_argv(profile, argv)
    wrap.__name__ = f"mcpcell_{profile}"
    return wrap


def in_container(wrap):
    """`wrap` under nouserns: as in a container that refuses namespaces."""
    def inner(argv):
        return [NOUSERNS, *wrap(argv)]
    inner.__name__ = f"{wrap.__name__}_in_container"
    return inner


def mcpcell_tier(profile):
    """mcpcell in its namespace-free tier: under nouserns, the tier's named losses accepted
    (`--best-effort`), as a user in a container would run it."""
    def wrap(argv):
        return [NOUSERNS, *run_argv(profile, argv, ["--best-effort"])]
    wrap.__name__ = f"mcpcell_{profile}_tier"
    return wrap


def bwrap(argv, ro=()):
    """bubblewrap as a user would set it up for the same isolation: every namespace, system
    directories read-only, a private /tmp, one writable directory, no capabilities, a new
    session. bubblewrap has no seccomp filter of its own (`--seccomp FD` loads one the caller
    compiled), so it runs without one. The benchmark's own programs (BENCH_ROOT/bin) are
    bound read-only, as a server's install directory would be; so is each directory of
    `ro` (a real server's install directory)."""
    binds = [a for d in ro for a in ("--ro-bind", d, d)]
    return [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
        "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--ro-bind", "/etc", "/etc", "--ro-bind", BIN, BIN, *binds,
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--bind", WORK, WORK, "--remount-ro", "/", "--chdir", WORK,
        "--", *argv,
    ]


def firejail(argv):
    """firejail without its default profile, with the same isolation set by options: no
    network, read-only root, one writable directory, private /tmp, new IPC and UTS namespaces
    (mount and PID are always new), all capabilities dropped, no_new_privs, its default
    seccomp filter. firejail keeps the caller's session; `setsid -w` gives it a new one."""
    return [
        "setsid", "-w", "firejail", "--quiet", "--noprofile", "--net=none", "--ipc-namespace",
        "--hostname=sandbox", "--read-only=/", f"--read-write={WORK}", "--private-tmp",
        "--caps.drop=all", "--nonewprivs", "--seccomp",
        "--", *argv,
    ]


def srt(argv):
    """Anthropic's sandbox-runtime CLI with a settings file that allows no network host and
    one writable directory. It runs bubblewrap itself, with its own seccomp filter (Unix
    socket creation blocked); it has no option to drop capabilities."""
    return [shutil.which("node") or "node", SRT_CLI, "--settings", SRT_SETTINGS, "--", *argv]


def srt_settings():
    return {
        "network": {"allowedDomains": [], "deniedDomains": []},
        "filesystem": {"denyRead": [], "allowWrite": [WORK], "denyWrite": []},
    }


def peer_missing(name):
    """Why a peer cannot run here, or None when it can."""
    if name == "bwrap":
        return None if shutil.which("bwrap") else "bwrap not installed (apt-get install bubblewrap)"
    if name == "firejail":
        if not shutil.which("firejail"):
            return "firejail not installed (apt-get install firejail)"
        return None
    if name == "srt":
        if not os.path.exists(SRT_CLI):
            return "srt not installed (a full run of run.sh installs it with npm)"
        missing = [t for t in ("bwrap", "socat", "rg", "node") if not shutil.which(t)]
        if missing:
            return "srt needs " + ", ".join(missing) + ", not installed"
        return None
    if name == "unshare":
        return None if shutil.which("unshare") else "unshare (util-linux) not installed"
    if name.endswith("-tier") or name == "bare-container":
        if not os.access(NOUSERNS, os.X_OK):
            return f"{NOUSERNS} not built"
    if name.startswith("mcpcell"):
        return None if os.access(MCPCELL, os.X_OK) else f"{MCPCELL} not built"
    return None


def sandboxes(include=("bare", "unshare", "mcpcell-minimal", "mcpcell-default", "mcpcell-node",
                       "bare-container", "mcpcell-minimal-tier", "mcpcell-default-tier",
                       "bwrap", "firejail", "srt")):
    """(name, wrap function, why it is missing or None), in report order."""
    table = {
        "bare": bare,
        "unshare": unshare_floor,
        "mcpcell-minimal": mcpcell("minimal"),
        "mcpcell-default": mcpcell("default"),
        "mcpcell-node": mcpcell("node"),
        "bare-container": in_container(bare),
        "mcpcell-minimal-tier": mcpcell_tier("minimal"),
        "mcpcell-default-tier": mcpcell_tier("default"),
        "bwrap": bwrap,
        "firejail": firejail,
        "srt": srt,
    }
    return [(n, table[n], peer_missing(n)) for n in include]


# --- statistics ---------------------------------------------------------------------------

def percentile(sorted_xs, p):
    if not sorted_xs:
        return float("nan")
    k = (len(sorted_xs) - 1) * p
    f = math.floor(k)
    c = min(f + 1, len(sorted_xs) - 1)
    return sorted_xs[f] + (sorted_xs[c] - sorted_xs[f]) * (k - f)


def summarize(xs):
    """Median, quartiles and a 95% confidence interval of the median (from order statistics,
    no assumption about the distribution)."""
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return {"n": 0}
    half = 1.96 * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return {
        "n": n,
        "median": statistics.median(s),
        "p25": percentile(s, 0.25),
        "p75": percentile(s, 0.75),
        "min": s[0],
        "max": s[-1],
        "ci95": [s[lo], s[hi]],
    }


# --- a shared machine ------------------------------------------------------------------------

HZ = os.sysconf("SC_CLK_TCK")
# A measurement is thrown away when processes outside the benchmark used more than this
# fraction of one CPU while it ran (another build or test run on the same 2 cores).
BUSY_LIMIT = 0.25


def _busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / HZ


def _ours_s():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


PR_SET_CHILD_SUBREAPER = 36
# How long a block waits, at its end, for the descendants it adopted to exit.
ORPHAN_WAIT_S = 5.0


def _adopt_orphans():
    """Makes this process the reaper of its orphaned descendants. bubblewrap with
    `--unshare-pid` exits without waiting for its pid 1, so the CPU time of the sandboxed
    command never reaches this process's children times: every such run looked busy."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _children():
    kids = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                kids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return kids


def _reap(pids):
    """Waits (a bounded time) for adopted orphans, so that their CPU time is counted as ours."""
    deadline = time.monotonic() + ORPHAN_WAIT_S
    for pid in pids:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.001)


class Others:
    """Measures how much CPU processes other than this one and its descendants used during a
    block: `with Others() as o: ...; o.busy` is True when it was too much. Descendants that
    outlive their parent are adopted and waited for at the end of the block."""

    adopted = False

    def __enter__(self):
        if not Others.adopted:
            _adopt_orphans()
            Others.adopted = True
        self.kids0 = _children()
        self.t0, self.b0, self.o0 = time.monotonic(), _busy_s(), _ours_s()
        return self

    def __exit__(self, *exc):
        wall = max(time.monotonic() - self.t0, 1e-3)
        _reap(_children() - self.kids0)
        others = (_busy_s() - self.b0) - (_ours_s() - self.o0)
        self.fraction = max(others, 0) / wall
        # With 10 ms clock ticks a short block cannot be judged finely: allow one tick.
        self.busy = others > BUSY_LIMIT * wall + 1.0 / HZ
        return False


def wait_quiet(max_s):
    """Waits up to max_s seconds for a second in which other processes used < BUSY_LIMIT."""
    deadline = time.monotonic() + max_s
    while True:
        with Others() as o:
            time.sleep(1)
        if not o.busy or time.monotonic() > deadline:
            return not o.busy


def small_fd_table():
    """Closes every descriptor above stderr this process inherited. A child's descriptor table
    is copied at the size the parent's highest open descriptor needs, so a harness that
    inherited, say, descriptor 255 starts every command with a 256-entry table, while MCP
    clients start their servers from the default 64 entries. The difference is not neutral:
    a table shared between threads grows only after an RCU grace period (ANALYSIS.md §1.29).
    Returns the table size a child now starts with."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    r, w = os.pipe()
    try:
        pid = os.posix_spawn("/bin/grep", ["grep", "^FDSize:", "/proc/self/status"],
                             {}, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
        os.close(w)
        w = None
        out = os.read(r, 256).decode()
        os.waitpid(pid, 0)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    return int(out.split()[1])


# --- processes ----------------------------------------------------------------------------

def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def descendants(pid):
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def memory_kib(pid):
    """VmHWM (peak RSS), VmRSS and PSS of a process, in KiB."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1])
    except OSError:
        return None
    return out


def dump(obj, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def tail(text, n=300):
    text = (text or "").strip()
    return text[-n:]


def run_once_checked(argv, timeout=60):
    """Runs argv once; returns None when it exits 0, else a short description of the failure."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=WORK, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if p.returncode != 0:
        return f"exit {p.returncode}: {tail(p.stderr.decode(errors='replace'))}"
    return None
