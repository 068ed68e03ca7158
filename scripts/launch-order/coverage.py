"""gdb script: the functions a process runs, in the order it first enters them, appended to
$COV_OUT. A temporary breakpoint on the entry of every function listed in $COV_SYMS
(`ADDRESS NAME`, from layout.py symbols); forked children are left to run untraced.

  COV_SYMS=... COV_OUT=... gdb -q -batch -x coverage.py --args BINARY ARGS...
"""
import os

import gdb

binary = os.path.realpath(gdb.current_progspace().filename)
functions = []
for line in open(os.environ["COV_SYMS"]):
    addr, name = line.split()
    functions.append((int(addr, 16), name))
for setting in ("pagination off", "confirm off", "follow-fork-mode parent", "detach-on-fork on",
                "print thread-events off", "breakpoint pending off"):
    gdb.execute("set " + setting)
gdb.execute("starti", to_string=True)
# A position-independent binary: the link map's addresses are offsets from where it is loaded.
pid = gdb.selected_inferior().pid
base = next(int(l.split("-")[0], 16) for l in open(f"/proc/{pid}/maps")
            if l.split()[-1] == binary and l.split()[2] == "00000000")
names = {}
for addr, name in functions:
    if base + addr not in names:
        names[base + addr] = name
        gdb.Breakpoint(f"*{base + addr:#x}", internal=True, temporary=True)
order, seen = [], set()
while True:
    try:
        gdb.execute("continue", to_string=True)
        pc = int(gdb.parse_and_eval("$pc"))
    except gdb.error:
        break  # the process has exited
    name = names.get(pc)
    if name and name not in seen:
        seen.add(name)
        order.append(name)
with open(os.environ["COV_OUT"], "a") as f:
    f.write("".join(n + "\n" for n in order))
