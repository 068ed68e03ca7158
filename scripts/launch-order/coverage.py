"""gdb script: the functions a process runs, in the order it first enters them, appended to
$COV_OUT. A temporary breakpoint on the entry of every function listed in $COV_SYMS
(`ADDRESS NAME`, from layout.py symbols); forked children are left to run untraced.

With $COV_AFTER, the breakpoints are set again once the supervisor has dropped its start-up
pages (`residency::release_launch_pages`), and the functions run from then on (the supervisor
and the stream relay while the server runs) are appended to $COV_AFTER in the same way. The
drop (madvise) discards the pages gdb wrote its breakpoint instructions to, so each madvise
of the binary's pages is caught as a system call: the breakpoints are taken out before it
and set again after it.

With COV_FOLLOW=child, what the sandbox's init runs instead: gdb follows the launcher's
first child (the init, cloned into its namespaces) and leaves the launcher and the server the
init starts to run untraced. The init's functions are listed only from its first stop on.

With COV_FOLLOW=server, what the server's process runs before its execve: gdb follows the
init, then the process it starts, and lists that process's functions until it execs. It runs
on the init's memory (`CLONE_VM|CLONE_VFORK`), so its pages count in the init's peak.

  COV_SYMS=... COV_OUT=... [COV_AFTER=...] [COV_FOLLOW=child|server] gdb -q -batch -x coverage.py \
    --args BINARY ARGS...
"""
import bisect
import os

import gdb

binary = os.path.realpath(gdb.current_progspace().filename)
functions = []
for line in open(os.environ["COV_SYMS"]):
    addr, name = line.split()
    functions.append((int(addr, 16), name))
follow = os.environ.get("COV_FOLLOW")
follow_child = follow in ("child", "server")
for setting in ("pagination off", "confirm off", "detach-on-fork on",
                "print thread-events off", "breakpoint pending off"):
    gdb.execute("set " + setting)
gdb.execute("set follow-fork-mode " + ("child" if follow_child else "parent"))
gdb.execute("starti", to_string=True)
if follow == "server":
    gdb.execute("catch exec", to_string=True)
# A position-independent binary: the link map's addresses are offsets from where it is loaded.
pid = gdb.selected_inferior().pid
mapped = [l.split() for l in open(f"/proc/{pid}/maps")]
base = next(int(m[0].split("-")[0], 16) for m in mapped if m[-1] == binary and m[2] == "00000000")
end = max(int(m[0].split("-")[1], 16) for m in mapped if m[-1] == binary)
names = {}
for addr, name in functions:
    names.setdefault(base + addr, name)


starts = sorted(names)


def running():
    """The functions on every thread's stack: they run on after the drop without being
    entered again."""
    out = []
    for thread in gdb.selected_inferior().threads():
        thread.switch()
        frame = gdb.newest_frame()
        while frame is not None:
            i = bisect.bisect_right(starts, frame.pc()) - 1
            if i >= 0:
                out.append(names[starts[i]])
            try:
                frame = frame.older()
            except gdb.error:
                break
    return out


def arm():
    return [gdb.Breakpoint(f"*{pc:#x}", internal=True, temporary=True) for pc in names]


def note(name, seen, out):
    """Appends `name` to `out` the first time it is seen."""
    if name not in seen:
        seen.add(name)
        out.append(name)


breakpoints = arm()
after_out = os.environ.get("COV_AFTER")
if after_out:
    gdb.execute("catch syscall madvise", to_string=True)
SYS_MADVISE, ENOSYS = 28, 38
dropping = False
order, seen = [], set()
init_pid = None
after, after_seen = [], None
while True:
    try:
        gdb.execute("continue", to_string=True)
        pc = int(gdb.parse_and_eval("$pc"))
    except gdb.error:
        break  # the process has exited
    if after_out and int(gdb.parse_and_eval("$orig_rax")) == SYS_MADVISE:
        entering = int(gdb.parse_and_eval("$rax")) == -ENOSYS
        if entering and base <= int(gdb.parse_and_eval("$rdi")) < end:
            for b in breakpoints:
                if b.is_valid():
                    b.delete()
            dropping = True
        elif not entering and dropping:
            breakpoints = arm()
            dropping = False
            if after_seen is None:
                after_seen = set()
                for name in running():
                    note(name, after_seen, after)
        continue
    if follow_child:
        current = gdb.selected_inferior().pid
        if current == pid:
            continue  # the launcher, before its clone
        if follow == "server":
            if init_pid is None:
                init_pid = current
            if current == init_pid:
                continue  # the init, listed by COV_FOLLOW=child
            if os.path.realpath(f"/proc/{current}/exe") != binary:
                break  # the server has exec'd
        elif not seen:
            # In the init: the server it starts (a vfork) is left to run untraced.
            gdb.execute("set follow-fork-mode parent")
    name = names.get(pc)
    if not name:
        continue
    if after_seen is None:
        note(name, seen, order)
    else:
        note(name, after_seen, after)
with open(os.environ["COV_OUT"], "a") as f:
    f.write("".join(n + "\n" for n in order))
if after_out:
    with open(after_out, "a") as f:
        f.write("".join(n + "\n" for n in after))
