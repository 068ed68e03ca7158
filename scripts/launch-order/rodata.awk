# The read-only data the launch's functions refer to, for the linker script that places it
# together (scripts/launch-order/linker). Reads, in this order:
#   1. `readelf -SWs OBJECT`: section headers (index, name, flags) and symbols (the section
#      each local symbol lies in);
#   2. the launch's function names, one a line, in the order a launch first runs them;
#   3. `readelf -rW OBJECT`: each section's relocations.
# Prints "RANK SEQ SECTION" for each read-only data section a launch function refers to
# (RANK: the first such function's place in the list) and, ranked after all of those, each
# one reached from what such a function refers to through tables of pointers (`.data.rel.ro`,
# or a table of relative offsets in `.rodata`: the seccomp groups' tables of syscall names,
# say), nearest first. The caller sorts by rank and keeps each section's first line.
# Sections the linker merges (flag M: strings, constants) are left out: it merges them across
# the whole output section whatever the order.
FILENAME == ARGV[1] {
  if ($0 ~ /^ *\[ *[0-9]+\] /) {
    line = $0
    sub(/^ *\[ */, "", line)
    split(line, f, /[] ]+/)
    # f[1] index, f[2] name, f[3] type, f[4] address, f[5] offset, f[6] size, f[7] entry
    # size, f[8] flags (absent when none: then a number).
    name[f[1]] = f[2]
    if (f[8] ~ /M/) merged[f[2]] = 1
  } else if ($1 ~ /^[0-9]+:$/ && NF >= 8 && $7 ~ /^[0-9]+$/) {
    symsec[$8] = $7
  }
  next
}
FILENAME == ARGV[2] {
  if ($0 != "" && !($0 in rank)) rank[$0] = ++n
  next
}
/^Relocation section '/ {
  cur = $3
  gsub(/'/, "", cur)
  sub(/^\.rela/, "", cur)
  fn = cur
  if (!sub(/^\.text\.(unlikely|hot|startup|exit)\./, "", fn)) sub(/^\.text\./, "", fn)
  from = (cur ~ /^\.text\./ && fn in rank) ? rank[fn] : 0
  data = cur ~ /^\.(data\.rel\.ro|rodata)\./
  next
}
NF >= 5 && $3 ~ /^R_/ {
  sym = $5
  target = (sym ~ /^\.(rodata|data\.rel\.ro)\./) ? sym : name[symsec[sym]]
  if (target !~ /^\.(rodata|data\.rel\.ro)\./ || target in merged) next
  if (from) {
    if (target ~ /^\.rodata\./) print from, ++seq, target
    if (!(target in first)) found[++nfound] = target
    if (!(target in first) || first[target] > from) first[target] = from
  }
  if (data) points[cur] = points[cur] " " target
}
END {
  # Breadth first from what the launch's functions refer to, in the list's order.
  # In the order the relocations named them (not awk's hash order: the layout, and so the
  # binary, is the same with any awk).
  for (i = 1; i <= nfound; i++) seeds[first[found[i]]] = seeds[first[found[i]]] " " found[i]
  tail = 0
  for (r = 1; r <= n; r++) {
    k = split(seeds[r], to, " ")
    for (i = 1; i <= k; i++) if (!(to[i] in queued)) { queued[to[i]] = 1; queue[++tail] = to[i] }
  }
  for (head = 1; head <= tail; head++) {
    k = split(points[queue[head]], to, " ")
    for (i = 1; i <= k; i++) {
      if (to[i] in queued) continue
      queued[to[i]] = 1
      queue[++tail] = to[i]
      if (to[i] ~ /^\.rodata\./) print n + head, i, to[i]
    }
  }
}
