"""The seccomp program a profile attaches, as the kernel holds it: starts
`mcpcell run -p PROFILE -- sleep 30` (with the benchmark's work directory granted), reads the
filter of the sandboxed `sleep` with ptrace(PTRACE_SECCOMP_GET_FILTER) (root only: it needs
CAP_SYS_ADMIN), writes its raw `struct sock_filter` entries to OUT for bench/c/attach_cost.c,
and prints how many instructions of each class it holds.

    filter_dump.py MCPCELL PROFILE OUT
"""

import collections
import ctypes
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_SECCOMP_GET_FILTER = 0x420c
WALL = 0x40000000

CLASSES = {0x00: "load", 0x01: "load index", 0x02: "store", 0x03: "store index", 0x04: "arithmetic",
           0x05: "jump", 0x06: "return", 0x07: "misc"}


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def find(pid, comm):
    """The first descendant of `pid` whose command is `comm`."""
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == comm:
                    return p
        except OSError:
            pass
        todo.extend(children(p))
    return None


def main():
    mcpcell, profile, out = sys.argv[1:4]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    run = subprocess.Popen(c.run_argv(profile, ["/bin/sleep", "30"], binary=mcpcell),
                           cwd=c.WORK, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = None
        for _ in range(100):
            pid = find(run.pid, "sleep")
            if pid:
                break
            time.sleep(0.05)
        if not pid:
            sys.exit("filter_dump: the sandboxed sleep did not start")
        if libc.ptrace(PTRACE_SEIZE, pid, None, None) != 0:
            sys.exit(f"filter_dump: ptrace: {os.strerror(ctypes.get_errno())} (run as root)")
        libc.ptrace(PTRACE_INTERRUPT, pid, None, None)
        os.waitpid(pid, WALL)
        n = libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, ctypes.c_void_p(0), None)
        if n <= 0:
            sys.exit(f"filter_dump: no filter read: {os.strerror(ctypes.get_errno())}")
        buf = ctypes.create_string_buffer(8 * n)
        libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, ctypes.c_void_p(0), buf)
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    finally:
        run.terminate()
        run.wait()
    with open(out, "wb") as f:
        f.write(buf.raw)
    insns = [struct.unpack_from("<HBBI", buf.raw, 8 * i) for i in range(n)]
    kinds = collections.Counter(CLASSES[code & 0x07] for code, _, _, _ in insns)
    jumps = collections.Counter(code & 0xf0 for code, _, _, _ in insns if code & 0x07 == 0x05)
    print(f"-p {profile}: {n} instructions: "
          + ", ".join(f"{v} {k}" for k, v in kinds.most_common())
          + f"; of the jumps, {jumps.get(0x00, 0)} unconditional (JA)")


if __name__ == "__main__":
    main()
