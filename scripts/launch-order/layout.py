"""The launch layout's two helpers, reading lld's link map of the release binary.

  layout.py symbols MAP         every function's entry point: `ADDRESS NAME` lines, NAME as
                                the symbol ordering file names it (mangled)
  layout.py order RAW [LATE [EXTRA]] [--keep PREVIOUS SYMBOLS]
                                RAW's names (coverage.py's output), each once, in the order
                                first seen, then LATE's (what runs once the server runs,
                                coverage.py's $COV_AFTER) together, then EXTRA's names that
                                neither has (what only some launches run): the text of
                                packaging/launch-order.txt. With --keep, each name of the
                                PREVIOUS list that is missing and still in SYMBOLS (the
                                `symbols` output; by exact name, else by name without
                                hashes) is kept, right after the name it followed
  layout.py check MAP ORDER     how many of ORDER's functions the binary has, by exact name
                                and by name without what changes from build to build (the
                                `17h<hash>E` of legacy mangling, v0 mangling's crate
                                disambiguators `Cs<id>_`, LLVM's `.N` / `.llvm.N` suffixes of
                                local copies), as the linker wrapper matches them; exit 1 when
                                under 90% are found either way, or when `.rodata.launch` (the
                                launch's read-only data, laid out by the linker wrapper) holds
                                fewer than 100 of the program's sections
"""
import os
import re
import sys


def norm(name):
    """A symbol's name without what changes from build to build."""
    name = re.sub(r"17h[0-9a-f]+E$", "E", name)
    name = re.sub(r"\.llvm\.[0-9]+$", "", name)
    name = re.sub(r"\.[0-9]+$", "", name)
    return re.sub(r"Cs[0-9A-Za-z]+_", "Cs_", name)


def rodata_launch(map_path):
    """The size of the output section `.rodata.launch` in the map and how many of the Rust
    object's sections it holds (glibc's and lld's merged strings alone make ~15 KiB)."""
    size, rust, inside = 0, 0, False
    for line in open(map_path, encoding="utf-8", errors="replace"):
        # An output section's line has its name one space after the alignment; its input
        # sections' lines are indented further.
        out = re.match(r"\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9]+ (\S+)$", line)
        if out:
            inside = out.group(2) == ".rodata.launch"
            if inside:
                size = int(out.group(1), 16)
        elif inside and ".rcgu.o:(.rodata." in line:
            rust += 1
    return size, rust


def symbols(map_path):
    """(address, name) of each function in the map's .text output section. Rust functions
    each have their own input section (`.text.<mangled name>`); C objects (libc) list their
    functions as symbol lines under one `.text` input section."""
    out_sec = None
    for line in open(map_path, encoding="utf-8", errors="replace"):
        cols = line.split(None, 4)
        if len(cols) < 5 or not re.fullmatch(r"[0-9a-f]+", cols[0]):
            continue
        rest = cols[4].rstrip("\n")
        depth = len(line) - len(line.lstrip(" "))
        if ":(" not in rest and rest.startswith(".") and depth < 20 and " " not in rest:
            out_sec = rest  # an output section: `.text`, `.rodata`, ...
            continue
        if out_sec != ".text":
            continue
        if ":(" in rest:
            sec = rest[rest.rindex(":(") + 2 : -1]
            m = re.match(r"\.text(?:\.unlikely|\.startup|\.hot)?\.(_ZN.*|_R.*)$", sec)
            if m and int(cols[2], 16) > 0:
                yield int(cols[0], 16), m.group(1)
        else:
            name = rest.strip()
            if re.fullmatch(r"[A-Za-z_.$][\w.$@]*", name):
                yield int(cols[0], 16), name


def kept(new, previous, exists):
    """`new` with each name of `previous` it lacks (and the binary still has, by exact name or
    by name without hashes, as the linker wrapper matches) put back right after the name it
    followed in `previous`; one missing at the start goes first."""
    have = set(new)
    have_norm = {norm(n) for n in new}
    by_norm = {}
    for n in sorted(exists):
        by_norm.setdefault(norm(n), n)
    after = {}  # a name of `new` (or "" for the start) -> the missing names that follow it
    anchor = ""
    for n in previous:
        if n in have:
            anchor = n
            continue
        if n in exists:
            name = n
        else:
            # Renamed by a rebuild: the binary's copy of that name, unless the list already
            # has one (a generic function's copies differ only in their hashes).
            name = by_norm.get(norm(n))
            if name is None or name in have or norm(name) in have_norm:
                continue
        have.add(name)
        have_norm.add(norm(name))
        after.setdefault(anchor, []).append(name)
    out = list(after.get("", []))
    for n in new:
        out.append(n)
        out.extend(after.get(n, []))
    return out


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "symbols":
        for addr, name in symbols(sys.argv[2]):
            print(f"{addr:x} {name}")
    elif 3 <= len(sys.argv) <= 8 and sys.argv[1] == "order":
        args, keep = sys.argv[2:], None
        if "--keep" in args:
            i = args.index("--keep")
            args, keep = args[:i], args[i + 1 :]
            if len(keep) != 2:
                sys.exit(__doc__)
        if not 1 <= len(args) <= 3:
            sys.exit(__doc__)

        def first_seen(path):
            seen, out = set(), []
            for line in open(path):
                n = line.strip()
                if n and n not in seen:
                    seen.add(n)
                    out.append(n)
            return out
        # What runs once the server runs goes last, together: after the supervisor drops its
        # start-up pages, the few it faults back in lie side by side.
        # What only some launches run goes after both, so that it does not move the blocks
        # every launch uses.
        late = first_seen(args[1]) if len(args) >= 2 else []
        late_set = set(late)
        early = [n for n in first_seen(args[0]) if n not in late_set]
        known = late_set.union(early)
        extra = [n for n in first_seen(args[2]) if n not in known] if len(args) == 3 else []
        out = early + late + extra
        if keep:
            out = kept(out, first_seen(keep[0]), {l.split(" ", 1)[1].strip() for l in open(keep[1])})
        print("\n".join(out))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        exact = {name for _, name in symbols(sys.argv[2])}
        have = {norm(n) for n in exact}
        want = [l.strip() for l in open(sys.argv[3]) if l.strip()]
        found = sum(1 for n in want if n in exact)
        near = sum(1 for n in want if n in exact or norm(n) in have)
        print(f"launch layout: of the {len(want)} functions of {sys.argv[3]}, {found} are in the "
              f"binary by exact name, {near} by name without hashes")
        if not want or near / len(want) < 0.9:
            sys.exit(f"{sys.argv[3]} no longer names the launch's functions: run "
                     "scripts/launch-order.sh to write it again")
        # The read-only data the launch reads, placed by the linker wrapper's script; a link
        # the script broke is made again without it, which only this says.
        size, rust = rodata_launch(sys.argv[2])
        print(f"launch layout: {size // 1024} KiB of read-only data in .rodata.launch, "
              f"{rust} of the program's sections")
        if rust < 100:
            refused = os.path.join(os.path.dirname(sys.argv[2]), "rodata-layout.err")
            said = open(refused).read() if os.path.exists(refused) else ""
            sys.exit("the release link did not place the launch's read-only data "
                     "(scripts/launch-order/linker: readelf, nm or awk missing, or lld "
                     f"refused its script{': ' + said.strip() if said.strip() else ''})")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
