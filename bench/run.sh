#!/usr/bin/env bash
# mcpcell's benchmark suite: launch overhead, per-syscall filter cost, stdio throughput,
# supervisor memory, MCP round trip and proxy tunnel throughput, each side by side with bare
# runs and with the peers (bubblewrap, firejail, Anthropic's sandbox-runtime), in one run. Not
# part of the test suite: it prints ratios and never fails on a number.
#
#   bench/run.sh                  full run (as root: installs missing peers, ~45 minutes on 2 cores),
#                                 then writes bench/RESULTS.md, bench/results/summary.json
#                                 and bench/results/benchmarks.png
#   bench/run.sh --quick          smoke run for CI: few iterations, under ~2 minutes, installs
#                                 nothing, a missing peer is reported and skipped
#   bench/run.sh --print-commands the exact command line of every sandbox, then exit
#
# Options: --no-install (full run without apt-get/npm), --no-user (skip the unprivileged
# launch measurements). Environment: BENCH_ROOT (binaries, data, srt; default
# /srv/mcpcell-bench), BENCH_WORK (the one writable directory; default $BENCH_ROOT/work),
# BENCH_USER (unprivileged user for the launch figures; default mcpcell-test), BENCH_MCP_LONG
# (sessions a case of the servers' long start-up run; default 150, 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BENCH=$REPO/bench

QUICK=0 INSTALL=1 USER_RUN=1 PRINT=0
for a in "$@"; do
  case $a in
    --quick) QUICK=1 INSTALL=0 ;;
    --no-install) INSTALL=0 ;;
    --no-user) USER_RUN=0 ;;
    --print-commands) PRINT=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

export BENCH_ROOT=${BENCH_ROOT:-/srv/mcpcell-bench}
export BENCH_WORK=${BENCH_WORK:-$BENCH_ROOT/work}
export BENCH_QUICK=$QUICK
BENCH_USER=${BENCH_USER:-mcpcell-test}
SRT_VERSION=0.0.83
SERVER_JS=$REPO/integration/node/node_modules/@modelcontextprotocol/server-memory/dist/index.js
# Without `npm ci` here, the same pinned server from the integration suite's install
# (integration/setup.sh), if there is one.
DEPS_JS=${MCPCELL_DEPS:-/opt/mcpcell-deps}/node/node_modules/@modelcontextprotocol/server-memory/dist/index.js
if [ ! -f "$SERVER_JS" ] && [ -f "$DEPS_JS" ]; then SERVER_JS=$DEPS_JS; fi
# The time server on Python, from the integration suite's install (integration/setup.sh).
TIME_SERVER=${MCPCELL_DEPS:-/opt/mcpcell-deps}/python/bin/mcp-server-time
# The system Python: stdlib only for the measurements, Debian's matplotlib for the plot.
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)

say() { printf '\n== %s\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }

# Every measurement runs with the same small environment: variables such as
# NODE_EXTRA_CA_CERTS (which makes node load a CA bundle at start) would otherwise reach bare
# runs and the peers but not mcpcell, which passes only its profile's variables.
clean_env() {
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 \
    BENCH_ROOT="$BENCH_ROOT" BENCH_WORK="$BENCH_WORK" BENCH_QUICK="$QUICK" "$@"
}
# The same as the unprivileged $BENCH_USER, with that user's home.
user_env() {
  runuser -u "$BENCH_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin \
    HOME="$(getent passwd "$BENCH_USER" | cut -d: -f6)" LANG=C.UTF-8 \
    BENCH_ROOT="$BENCH_ROOT" BENCH_WORK="$BENCH_WORK" BENCH_QUICK="$QUICK" "$@"
}

if [ $PRINT = 1 ]; then
  clean_env $PY - "$BENCH/lib" <<'PY'
import shlex, sys
sys.path.insert(0, sys.argv[1])
import common as c
for name, wrap, missing in c.sandboxes():
    print(f"{name}:\n  {shlex.join(wrap(['COMMAND', 'ARGS']))}" + (f"\n  (missing here: {missing})" if missing else ""))
PY
  exit
fi

# --- peers and tools ------------------------------------------------------------------------
if [ $INSTALL = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    need=()
    for t in bwrap:bubblewrap firejail:firejail hyperfine:hyperfine socat:socat rg:ripgrep \
             unshare:util-linux runuser:util-linux taskset:util-linux gcc:gcc perf:linux-perf \
             strace:strace; do
      command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
    done
    $PY -c 'import matplotlib' 2>/dev/null || need+=(python3-matplotlib)
    if [ ${#need[@]} -gt 0 ]; then
      say "installing ${need[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    fi
  else
    note "not root: installing nothing; missing peers are skipped"
  fi
  if [ ! -f "$BENCH_ROOT/srt/node_modules/@anthropic-ai/sandbox-runtime/dist/cli.js" ] && command -v npm >/dev/null; then
    say "installing @anthropic-ai/sandbox-runtime@$SRT_VERSION (srt) into $BENCH_ROOT/srt"
    mkdir -p "$BENCH_ROOT/srt"
    npm install --prefix "$BENCH_ROOT/srt" --no-audit --no-fund --loglevel=error \
      "@anthropic-ai/sandbox-runtime@$SRT_VERSION" >&2 || note "srt could not be installed"
  fi
  if [ ! -f "$SERVER_JS" ] && command -v npm >/dev/null; then
    say "npm ci in integration/node (the MCP memory server)"
    # The lockfile also holds Puppeteer (for other servers), whose install would download a browser.
    (cd "$REPO/integration/node" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2) || note "npm ci failed"
  fi
fi

# --- mcpcell and the benchmark programs, where the unprivileged user can run them ---------------
say "building mcpcell (release) and the benchmark programs"
cargo build --release --locked --quiet
mkdir -p "$BENCH_ROOT/bin" "$BENCH_ROOT/lib" "$BENCH_WORK"
chmod 1777 "$BENCH_WORK" 2>/dev/null || true
install -m 0755 target/x86_64-unknown-linux-gnu/release/mcpcell "$BENCH_ROOT/bin/mcpcell"
for p in syscall_loop sink pump tcpget splice_relay; do
  gcc -O2 -Wall -Wextra -pthread -o "$BENCH_ROOT/bin/$p" "$BENCH/c/$p.c"
done
# Namespaces refused, as in a container: the launch figures of the namespace-free tier.
gcc -static -O2 -Wall -o "$BENCH_ROOT/bin/nouserns" "$REPO/tests/nouserns/nouserns.c"
cp "$BENCH"/lib/*.py "$BENCH_ROOT/lib/"
# Every launcher's binary in the page cache as one read from disk, as an installed program's
# usually is: a file just written (mcpcell's copy above, a peer apt-get has just installed)
# sits in the large folios the write made, and a fault maps a whole folio, so its launch
# peak is ~190 KiB higher (bench/ANALYSIS.md §1.13). Its dirty pages written out, then dropped.
for b in "$BENCH_ROOT/bin/mcpcell" "$(command -v bwrap)" "$(command -v firejail)"; do
  [ -f "$b" ] || continue
  sync "$b" && $PY -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$b" ||
    note "$b: its page cache could not be dropped; its launch peak may read higher"
done
clean_env $PY -c 'import json, sys; sys.path.insert(0, sys.argv[1]); import common as c; json.dump(c.srt_settings(), open(c.SRT_SETTINGS, "w"), indent=1)' "$BENCH_ROOT/lib"
chmod -R a+rX "$BENCH_ROOT" 2>/dev/null || true

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
SUFFIX=""
[ $QUICK = 1 ] && SUFFIX=-quick
OUT=$BENCH/results/raw/$STAMP$SUFFIX
mkdir -p "$OUT"
cat /proc/loadavg > "$OUT/loadavg-start"

if [ $QUICK = 1 ]; then
  LAUNCH=(15 4 2) SYSCALL=(1 200000 50000) STDIO=(64 2) MEMORY=1 MCP=(2 3) PROXY=(64 1)
  MCP_LONG=2
else
  LAUNCH=(300 200 20) SYSCALL=(7 1000000 200000) STDIO=(1024 7) MEMORY=7 MCP=(15 20) PROXY=(1024 7)
  MCP_LONG=${BENCH_MCP_LONG:-150}
fi

# --- 1. launch overhead -----------------------------------------------------------------------
say "1. launch overhead (as $(id -un))"
clean_env $PY "$BENCH_ROOT/lib/launch.py" "$OUT/launch-$(id -un).json" "${LAUNCH[@]}"
if [ $USER_RUN = 1 ] && [ "$(id -u)" = 0 ]; then
  if id "$BENCH_USER" >/dev/null 2>&1; then
    say "1. launch overhead (as the unprivileged $BENCH_USER: mcpcell creates a user namespace)"
    tmp=$BENCH_WORK/launch-user.json
    user_env $PY "$BENCH_ROOT/lib/launch.py" "$tmp" "${LAUNCH[@]}" \
      && mv "$tmp" "$OUT/launch-user.json" || note "the unprivileged run failed"
  else
    note "no user $BENCH_USER: the unprivileged launch figures are skipped (BENCH_USER=...)"
  fi
fi
if [ $QUICK = 0 ] && command -v hyperfine >/dev/null; then
  say "1. cross-check with hyperfine"
  (cd "$BENCH_WORK" && clean_env hyperfine -N --style none --warmup 20 --runs 300 \
    --export-json "$OUT/hyperfine.json" /bin/true \
    "$BENCH_ROOT/bin/mcpcell run -p minimal -- /bin/true" \
    "unshare --mount --pid --fork --mount-proc --net --ipc --uts --cgroup -- /bin/true" >&2)
fi

# --- 2. per-syscall cost --------------------------------------------------------------------
say "2. per-syscall cost of the seccomp filter"
# mcpcell's `default` filter as the kernel holds it, for the "filter alone" row (reading a
# process's filter needs CAP_SYS_ADMIN).
rm -f "$BENCH_ROOT/filter-default.bpf"
if [ "$(id -u)" = 0 ]; then
  clean_env $PY "$BENCH_ROOT/lib/filter_dump.py" "$BENCH_ROOT/bin/mcpcell" default \
    "$BENCH_ROOT/filter-default.bpf" >&2 && chmod a+r "$BENCH_ROOT/filter-default.bpf" ||
    note "mcpcell's filter could not be read: no \"filter alone\" row"
fi
clean_env $PY "$BENCH_ROOT/lib/syscall.py" "$OUT/syscall.json" "${SYSCALL[@]}"

# --- 3. stdio throughput ----------------------------------------------------------------------
say "3. stdio throughput and exactness (${STDIO[0]} MiB)"
clean_env $PY "$BENCH_ROOT/lib/stdio.py" "$OUT/stdio.json" "${STDIO[@]}"

# --- 4. supervisor memory ---------------------------------------------------------------------
say "4. supervisor memory"
clean_env $PY "$BENCH_ROOT/lib/memory.py" "$OUT/memory.json" "$MEMORY" "$SERVER_JS"

# --- 5. MCP start-up and round trip -------------------------------------------------------------
say "5. MCP start-up of real servers (memory on Node, time on Python), as $(id -un)"
clean_env $PY "$BENCH_ROOT/lib/mcp.py" "$OUT/mcp-$(id -un).json" "${MCP[@]}" "$SERVER_JS" "$TIME_SERVER"
if [ $USER_RUN = 1 ] && [ "$(id -u)" = 0 ] && id "$BENCH_USER" >/dev/null 2>&1; then
  say "5. MCP start-up, as the unprivileged $BENCH_USER"
  tmp=$BENCH_WORK/mcp-user.json
  user_env $PY "$BENCH_ROOT/lib/mcp.py" "$tmp" "${MCP[@]}" "$SERVER_JS" "$TIME_SERVER" \
    && mv "$tmp" "$OUT/mcp-user.json" || note "the unprivileged run failed"
fi

# The start-up target is 3% and the sessions above give a median's interval of about ±10%:
# each server again, MCP_LONG sessions a case (one tools/list each), resolves it. The report
# judges the servers' start-up targets on this run.
if [ "$MCP_LONG" -gt 0 ]; then
  say "5. MCP start-up of the memory and time servers, long: $MCP_LONG sessions a case, as $(id -un)"
  clean_env BENCH_MCP_SERVERS=memory,time $PY "$BENCH_ROOT/lib/mcp.py" "$OUT/mcp-long-$(id -un).json" \
    "$MCP_LONG" 1 "$SERVER_JS" "$TIME_SERVER"
  if [ $USER_RUN = 1 ] && [ "$(id -u)" = 0 ] && id "$BENCH_USER" >/dev/null 2>&1; then
    say "5. MCP start-up of the memory and time servers, long: $MCP_LONG sessions a case, as the unprivileged $BENCH_USER"
    tmp=$BENCH_WORK/mcp-long-user.json
    user_env BENCH_MCP_SERVERS=memory,time $PY "$BENCH_ROOT/lib/mcp.py" "$tmp" "$MCP_LONG" 1 \
      "$SERVER_JS" "$TIME_SERVER" \
      && mv "$tmp" "$OUT/mcp-long-user.json" || note "the unprivileged long run failed"
  fi
fi

# --- 6. proxy tunnel throughput ---------------------------------------------------------------
say "6. proxy tunnel throughput (${PROXY[0]} MiB) and the supervisor's memory in proxy mode"
clean_env $PY "$BENCH_ROOT/lib/proxy.py" "$OUT/proxy.json" "${PROXY[@]}"

cat /proc/loadavg > "$OUT/loadavg-end"

# --- report ---------------------------------------------------------------------------------
say "report"
if [ $QUICK = 1 ]; then
  $PY "$BENCH/lib/report.py" "$OUT"
else
  $PY "$BENCH/lib/report.py" "$OUT" --write "$BENCH"
fi
