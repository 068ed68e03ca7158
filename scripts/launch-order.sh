#!/usr/bin/env bash
# The launch layout (build.rs): packaging/launch-order.txt lists the functions mcpcell's
# launcher runs, in the order it first runs them, and then those the sandbox's init runs, so
# that lld places them together and a launch makes ~1.1 MiB of the binary resident instead of
# 3.5 MiB.
#
#   scripts/launch-order.sh          write the list again from real launches under gdb (root
#                                    and, when run as root, the ordinary user $MCPCELL_TEST_USER);
#                                    what the list had and these runs missed is kept (empty
#                                    the list first to drop what launches no longer run)
#   scripts/launch-order.sh --check  how many of the listed functions the release build has;
#                                    fails under 90% (after a toolchain or dependency update)
set -euo pipefail
cd "$(dirname "$0")/.."
here=scripts/launch-order
order=packaging/launch-order.txt
cargo build --release --locked --bin mcpcell >&2
release=target/x86_64-unknown-linux-gnu/release
map="$(ls -t "$release"/build/mcpcell-*/out/mcpcell.map 2>/dev/null | head -1)"
[ -n "$map" ] || { echo "launch-order.sh: no link map in $release/build (is MCPCELL_NO_LAYOUT set?)" >&2; exit 1; }
if [ "${1:-}" = --check ]; then
  exec python3 "$here/layout.py" check "$map" "$order"
fi
command -v gdb >/dev/null || { echo "launch-order.sh: needs gdb (Debian: apt-get install gdb)" >&2; exit 1; }
work="$(mktemp -d)"
sibling="" profiles=""
cleanup() {
  if [ -n "$sibling" ]; then kill "$sibling" 2>/dev/null || true; wait "$sibling" 2>/dev/null || true; fi
  rm -rf "$work" ${profiles:+"$profiles"}
}
trap cleanup EXIT
chmod 755 "$work"
cp "$release/mcpcell" "$here/coverage.py" "$work/"
# A client runs several servers: a root launch finds the others' pids cgroups beside its own
# and checks that their launchers still run (src/cgroup, remove_stale). One sandbox stays up
# while the launches below run, so that they all see one; without it the check runs only
# when a cgroup happens to be left, and the list has its functions or not.
if [ "$(id -u)" = 0 ]; then
  "$work/mcpcell" run -p default -- sleep 3600 </dev/null >/dev/null 2>&1 &
  sibling=$!
fi
python3 "$here/layout.py" symbols "$map" >"$work/symbols"
: >"$work/order"
: >"$work/after"
: >"$work/package"
: >"$work/init"
chmod 644 "$work/symbols" && chmod 666 "$work/order" "$work/after" "$work/package" "$work/init"
# Each launch starts from /, where nothing is logged at its start (from a directory in /tmp
# every launch warned that the server starts in / instead): the logging's functions are then
# listed where a launch below first logs after the page drop, with what runs after it, or kept
# where the previous list had them; not among the start-up's blocks, which a launch from a
# granted directory never needs.
# On one CPU: mcpcell then clones the sandbox itself. With a second CPU a process sharing
# mcpcell's memory makes the sandbox's namespaces (src/netns/maker.rs), and gdb, detaching
# that process as it would a forked one, takes its breakpoints out of the memory they share:
# nothing the launcher runs after it would be recorded. That process's own functions are
# placed by hand in the list, and kept (below).
launch() {
  (cd / && taskset -c "$cpu" "$@" env COV_SYMS="$work/symbols" COV_OUT="${cov_out-$work/order}" \
    COV_AFTER="${cov_after-$work/after}" gdb -q -batch -x "$work/coverage.py" --args "$work/mcpcell" run "${args[@]}" >/dev/null 2>&1) || true
}
cpu="$(cut -d' ' -f39 /proc/self/stat)"
user="${MCPCELL_TEST_USER:-mcpcell-test}"
as_user=()
[ "$(id -u)" = 0 ] && id "$user" >/dev/null 2>&1 &&
  as_user=(runuser -u "$user" -- env -i PATH=/usr/local/bin:/usr/bin:/bin "HOME=$(getent passwd "$user" | cut -d: -f6)")
for p in default minimal node python memory time; do
  args=(-p "$p" -- /bin/true); launch </dev/null
done
# The relay of a server's standard streams.
args=(-p default -- cat); echo hello | launch
# As a client starts a real server: grants and a variable on the command line, a server that
# writes to stderr before and after the moment the launcher drops its start-up pages (the
# memory server of bench/lib/memory.py writes its first line after it). What runs from that
# moment on is listed last, together. Under gdb the launcher takes a few seconds to reach the
# moment, so the servers wait for it.
args=(-p node --allow-exec "$work" --allow-write "$work" --pass-env HOME
  -- /bin/sh -c 'echo started >&2; sleep 6; echo "Example MCP Server running on stdio" >&2
    echo "Error: EACCES: permission denied, open '"'"'/etc/shadow'"'"'" >&2; sleep 0.5; cat')
echo hello | launch
# A server whose first line to stderr comes after the drop (the memory server's): the relay's
# thread starts then, and its start (std's spawn, glibc's pthread_create) is listed with what
# runs after the drop instead of among the start-up's blocks, which it faulted back in (the
# supervisor at 1.31 MiB instead of 0.5 while the memory server ran).
args=(-p node --allow-exec "$work" --allow-write "$work" --pass-env HOME
  -- /bin/sh -c 'sleep 6; echo "Knowledge Graph MCP Server running on stdio" >&2; sleep 0.5')
launch </dev/null
if command -v node >/dev/null; then
  args=(-p node --allow-exec "$work" --allow-write "$work" --pass-env HOME
    -- node -e 'console.error("started");
      setTimeout(() => console.error("Example MCP Server running on stdio"), 6000)')
  launch </dev/null
fi
if [ ${#as_user[@]} -gt 0 ]; then
  for p in default node; do args=(-p "$p" -- /bin/true); launch "${as_user[@]}" </dev/null; done
fi
# Servers run from their packages, as npx and uvx start them: a script in a node_modules tree
# and a virtual environment's console script. The launcher finds the package's tree and grants
# it (src/plan/command.rs), code no launch above runs. What only these launches (and the
# profile file's below) run is listed after everything else, so that it does not move the
# blocks every launch uses (listed among them, it raised a `default` launch's peak by ~190
# KiB); what runs after their launch is not listed (cov_after empty): their servers exit at
# once, and their exit, under gdb often after the page drop, would move functions every
# launch runs into the last part.
mkdir -p "$work/pkg/node_modules/demo" "$work/venv/bin"
echo 'console.error("started")' >"$work/pkg/node_modules/demo/index.js"
echo 'home = /usr/bin' >"$work/venv/pyvenv.cfg"
ln -s /usr/bin/python3 "$work/venv/bin/python3"
printf '#!%s\nimport sys\nprint("started", file=sys.stderr)\n' "$work/venv/bin/python3" >"$work/venv/bin/server"
chmod -R a+rX "$work/pkg" "$work/venv" && chmod 755 "$work/venv/bin/server"
if command -v node >/dev/null; then
  args=(-p node --allow-read "$work/pkg" -- node "$work/pkg/node_modules/demo/index.js")
  cov_out="$work/package" cov_after='' launch </dev/null
fi
args=(-p python -- "$work/venv/bin/server"); cov_out="$work/package" cov_after='' launch </dev/null
# A profile of the user's own, from a file: the built-in profiles are read as JSON written at
# build time, so only a profile file runs the YAML parser. Listed last, as the launches above.
# Outside /tmp, which the profiles make writable (mcpcell refuses a profile in a writable place).
profiles="$(mktemp -d -p /var/tmp)"
chmod 755 "$profiles"
cat >"$profiles/server.yaml" <<'YAML'
# A server's own profile, as users write one.
description: >-
  A local server: the time-zone database, and one API through the egress proxy.
extends: [node]
filesystem:
  read:
    - /usr/share/zoneinfo
env:
  pass: [HOME, LANG]
  set:
    LOG_LEVEL: "info"
network:
  mode: proxy
  allow: [api.example.com]
YAML
chmod 644 "$profiles/server.yaml"
args=(-p "$profiles/server.yaml" -- /bin/sh -c 'echo started >&2')
cov_out="$work/package" cov_after='' launch </dev/null
# The sandbox's init, a process of its own (mounts, Landlock, the seccomp filter, then the
# loop that waits for the server): its peak is the launch's too for a client, which reads the
# largest of its children's. Its functions the launcher never runs (~17, ~16 KiB) are listed
# right after the launcher's start-up, instead of spread through the binary and libc: the
# init's peak fell from ~1.85 to ~1.3 MiB (bench/ANALYSIS.md).
for p in default node python "$profiles/server.yaml"; do
  args=(-p "$p" -- /bin/true); cov_out="$work/init" cov_after='' launch env COV_FOLLOW=child </dev/null
done
if [ ${#as_user[@]} -gt 0 ]; then
  args=(-p node -- /bin/true); cov_out="$work/init" cov_after='' launch "${as_user[@]}" COV_FOLLOW=child </dev/null
fi
# The server's process from its clone to its execve (src/sandbox/child.rs, spawn_server): it
# runs on the init's memory, so what it runs faults into the init's peak, and the runs above
# leave it untraced. Unlisted, its few functions (exec_server, glibc's getppid, fcntl,
# close_range, execve) lay in blocks nothing else of the init uses (bench/ANALYSIS.md §1.23).
args=(-p default -- /bin/true); cov_out="$work/init" cov_after='' launch env COV_FOLLOW=server </dev/null
cat "$work/init" >>"$work/order"
# Under gdb, what a launch runs depends a little on timing and state (whether a line reaches
# the relay before or after the page drop, a hint's time window): the previous list's
# functions the runs missed are kept, each after the one it followed, while the binary has them.
cp "$order" "$work/previous"
python3 "$here/layout.py" order "$work/order" "$work/after" "$work/package" \
  --keep "$work/previous" "$work/symbols" >"$work/new"
mv "$work/new" "$order"
echo "launch-order.sh: $(sort -u "$work/after" | wc -l) of them run once the server runs" >&2
echo "launch-order.sh: $(wc -l <"$order") functions in $order" >&2
cargo build --release --locked --bin mcpcell >&2
python3 "$here/layout.py" check "$(ls -t "$release"/build/mcpcell-*/out/mcpcell.map | head -1)" "$order"
