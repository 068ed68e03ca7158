#!/usr/bin/env bash
# The launch path of `mcpcell run` taken apart, for bench/ANALYSIS.md: what each feature of a
# profile costs (ablation), every syscall of one launch with timestamps (strace), how many
# instructions each function runs (callgrind), and what the supervisor's memory is made of.
# Run after bench/run.sh (it uses the binaries that run.sh put in $BENCH_ROOT/bin). As root.
#
#   bench/analyze.sh [ROUNDS] [--builds]
#
# ROUNDS (default 200) interleaved rounds for the ablation. The callgrind step builds an
# unstripped copy of mcpcell (same sources and settings, symbols kept) into
# $BENCH_ROOT/build-sym so that functions have names. --builds also builds mcpcell with
# opt-level "s" and dynamically linked (cargo settings given in the environment, nothing in
# the repository changes) and compares their launch time and supervisor memory with compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BENCH=$PWD/bench
export BENCH_ROOT=${BENCH_ROOT:-/srv/mcpcell-bench}
export BENCH_WORK=${BENCH_WORK:-$BENCH_ROOT/work}
ROUNDS=${1:-200}
BUILDS=0
[ "${2:-}" = --builds ] && BUILDS=1
M=$BENCH_ROOT/bin/mcpcell
PY=/usr/bin/python3
OUT=$BENCH/results/raw/analysis-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
clean_env() {
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 \
    BENCH_ROOT="$BENCH_ROOT" BENCH_WORK="$BENCH_WORK" "$@"
}
say() { printf '\n== %s\n' "$*"; }
cd "$BENCH_WORK"

cp "$BENCH"/lib/*.py "$BENCH_ROOT/lib/"
say "ablation as root ($ROUNDS rounds): overhead over bare /bin/true, median"
clean_env $PY "$BENCH_ROOT/lib/ablation.py" "$OUT/ablation-root.json" "$ROUNDS" "$BENCH_ROOT/ablation" \
  | tee "$OUT/ablation-root.txt"
if id mcpcell-test >/dev/null 2>&1; then
  say "ablation as mcpcell-test"
  runuser -u mcpcell-test -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/mcpcell-test \
    LANG=C.UTF-8 BENCH_ROOT="$BENCH_ROOT" BENCH_WORK="$BENCH_WORK" \
    $PY "$BENCH_ROOT/lib/ablation.py" "$BENCH_WORK/ablation-user.json" "$ROUNDS" "$BENCH_WORK/ablation-profiles" \
    | tee "$OUT/ablation-user.txt"
  mv "$BENCH_WORK/ablation-user.json" "$OUT/"
fi

for prof in minimal default node; do
  say "strace -f -ttt -T: one launch, -p $prof, as root"
  clean_env strace -f -ttt -T -qq -o "$OUT/strace-$prof.txt" "$M" run -p "$prof" -- /bin/true
  # Syscalls per process (the first pid is the supervisor, then the sandbox's init, then the server).
  awk '{n[$1]++} END {for (p in n) print p, n[p]}' "$OUT/strace-$prof.txt" | sort -n | tee "$OUT/strace-$prof-per-pid.txt"
  clean_env strace -f -c -o "$OUT/strace-$prof-summary.txt" "$M" run -p "$prof" -- /bin/true
  head -25 "$OUT/strace-$prof-summary.txt"
done
say "strace -c: the floor, unshare"
clean_env strace -f -c -o "$OUT/strace-unshare-summary.txt" unshare --mount --pid --fork --mount-proc --net --ipc --uts --cgroup -- /bin/true
tail -3 "$OUT/strace-unshare-summary.txt"

if command -v perf >/dev/null && id mcpcell-test >/dev/null 2>&1; then
  say "perf (cpu-clock, whole system): 300 unprivileged launches of -p minimal"
  perf record -q -F 4999 -e cpu-clock -a -g -o "$OUT/perf.data" -- runuser -u mcpcell-test -- \
    env -i PATH=/usr/bin:/bin HOME=/home/mcpcell-test sh -c \
    "for i in \$(seq 300); do $M run -p minimal -- /bin/true; done" 2>/dev/null
  perf report -i "$OUT/perf.data" --no-children --sort comm -n -q -g none 2>/dev/null | head -8 \
    | tee "$OUT/perf-comm.txt"
  perf report -i "$OUT/perf.data" --children --comm mcpcell --sort sym -q -g none 2>/dev/null \
    > "$OUT/perf-mcpcell-inclusive.txt"
  echo "inclusive, % of all samples (4999 Hz, 2 CPUs):"
  grep -E "\] (create_new_namespaces|copy_net_ns|loopback_net_init|do_seccomp|bpf_prog_create_from_user|__x64_sys_mount|cleanup_mnt|__x64_sys_statx|__x64_sys_readlink|dev_change_flags|copy_mnt_ns|copy_ipcs|copy_pid_ns|_dl_start)$" \
    "$OUT/perf-mcpcell-inclusive.txt" | tee "$OUT/perf-selected.txt"
fi

say "callgrind: user-space instructions of the supervisor, -p minimal and -p node (dry run: same plan)"
(cd "$REPO" && CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=1 \
  cargo build --release --locked --quiet --target-dir "$BENCH_ROOT/build-sym")
SYM=$BENCH_ROOT/build-sym/x86_64-unknown-linux-gnu/release/mcpcell
for prof in minimal node; do
  clean_env valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind-$prof.out" \
    "$SYM" run --dry-run -p "$prof" -- /bin/true > /dev/null 2> "$OUT/callgrind-$prof.log" || true
  callgrind_annotate --inclusive=yes "$OUT/callgrind-$prof.out" 2>/dev/null | grep -E "^[ 0-9,]+ \(" \
    | grep -v '???' | sed 's/ \[.*//' | head -70 > "$OUT/callgrind-$prof-inclusive.txt" || true
  echo "-p $prof: $(grep -m1 'refs' "$OUT/callgrind-$prof.log" | sed 's/.*refs: *//') instructions (supervisor; the rest of the log: dry-run's namespace probes)"
  head -12 "$OUT/callgrind-$prof-inclusive.txt"
done

say "the seccomp attach, one bind, each namespace and the client's watch, measured apart (bench/c/attach_cost.c, bind_cost.c, ns_cost.c, watch_cost.c)"
for p in attach_cost bind_cost ns_cost watch_cost; do
  gcc -O2 -Wall -Wextra -o "$BENCH_ROOT/bin/$p" "$BENCH/c/$p.c"
done
for prof in minimal default node; do
  clean_env $PY "$BENCH_ROOT/lib/filter_dump.py" "$M" "$prof" "$OUT/filter-$prof.bpf" \
    | tee -a "$OUT/filters.txt"
done
"$BENCH_ROOT/bin/attach_cost" "$OUT/filter-default.bpf" 300 | tee "$OUT/attach-cost.txt"
"$BENCH_ROOT/bin/bind_cost" 200 /etc/passwd /etc/group /etc/hosts /etc/nsswitch.conf \
  /etc/host.conf /etc/gai.conf /etc/protocols /etc/services /etc/ld.so.cache /etc/ld.so.conf \
  /usr/lib/os-release /usr/share/zoneinfo/Etc/UTC | tee "$OUT/bind-cost.txt"
"$BENCH_ROOT/bin/ns_cost" 300 user | tee "$OUT/ns-cost.txt"
"$BENCH_ROOT/bin/watch_cost" 300 | tee "$OUT/watch-cost.txt"

say "supervisor memory: smaps of mcpcell while it supervises cat (-p default)"
clean_env "$M" run -p default -- /usr/bin/cat < <(sleep 2) > /dev/null &
sleep 1
sup=$(pgrep -n -x mcpcell -P $$ || true)
[ -n "$sup" ] || sup=$(pgrep -o -x mcpcell)
grep -E "VmHWM|VmRSS|RssAnon|RssFile" "/proc/$sup/status" | tee "$OUT/supervisor-status.txt"
$PY - "$sup" <<'PY' | tee "$OUT/supervisor-smaps.txt"
import sys, collections
rss = collections.Counter()
name = None
for line in open(f"/proc/{sys.argv[1]}/smaps"):
    parts = line.split()
    if len(parts) >= 5 and "-" in parts[0] and ":" not in parts[0]:
        name = parts[5] if len(parts) > 5 else "[anon]"
    elif parts[0] == "Rss:":
        rss[name] += int(parts[1])
for k, v in rss.most_common(12):
    print(f"{v:6d} KiB  {k}")
PY
wait
say "peak RSS of mcpcell doing no launch"
for args in "--version" "run --dry-run -p minimal -- /bin/true" "run -p minimal -- /bin/true"; do
  /usr/bin/time -f "%M KiB  mcpcell $args" env -i PATH=/usr/bin:/bin HOME="$HOME" "$M" $args \
    > /dev/null 2>> "$OUT/peak-rss.txt" || true
done
cat "$OUT/peak-rss.txt"

if [ $BUILDS = 1 ]; then
  say "other builds of the same sources: opt-level s, dynamically linked"
  (cd "$REPO" && CARGO_PROFILE_RELEASE_OPT_LEVEL=s cargo build --release --locked --quiet \
    --target-dir "$BENCH_ROOT/build-opt-s")
  (cd "$REPO" && RUSTFLAGS="-C target-feature=-crt-static" cargo build --release --locked --quiet \
    --target-dir "$BENCH_ROOT/build-dynamic")
  install -m 0755 "$BENCH_ROOT/build-opt-s/x86_64-unknown-linux-gnu/release/mcpcell" "$BENCH_ROOT/bin/mcpcell-opt-s"
  install -m 0755 "$BENCH_ROOT/build-dynamic/x86_64-unknown-linux-gnu/release/mcpcell" "$BENCH_ROOT/bin/mcpcell-dynamic"
  runuser -u mcpcell-test -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/mcpcell-test \
    LANG=C.UTF-8 BENCH_ROOT="$BENCH_ROOT" BENCH_WORK="$BENCH_WORK" \
    $PY "$BENCH_ROOT/lib/compare.py" "$BENCH_WORK/compare.json" "$ROUNDS" minimal \
    built="$M" opt-s="$BENCH_ROOT/bin/mcpcell-opt-s" dynamic="$BENCH_ROOT/bin/mcpcell-dynamic" \
    | tee "$OUT/compare.txt"
  mv "$BENCH_WORK/compare.json" "$OUT/"
fi
echo "raw output in $OUT"
