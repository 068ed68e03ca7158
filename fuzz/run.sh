#!/usr/bin/env bash
# Fuzzes one target for a while:  fuzz/run.sh profile|wrap|stderr SECONDS [WORK_DIR]
#
# The committed corpus (fuzz/corpus/TARGET) seeds a working corpus in WORK_DIR (default
# /var/tmp/mcpcell-fuzz-work/TARGET), which grows as the fuzzer finds new paths; crashes land
# in fuzz/artifacts/TARGET. Afterwards, `cargo fuzz cmin TARGET WORK_DIR` and copy the result
# to fuzz/corpus/TARGET to keep what was learned; copy every crash to fuzz/regressions/TARGET
# (tests/fuzz_corpus.rs replays both with plain `cargo test`).
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain take the flags it passes.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: fuzz/run.sh profile|wrap|stderr SECONDS [WORK_DIR]}"
seconds="${2:-60}"
work="${3:-/var/tmp/mcpcell-fuzz-work/$target}"
mkdir -p "$work"
cp -n corpus/"$target"/* "$work"/ 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
exec nice -n 19 cargo fuzz run -O "$target" "$work" -- \
  -dict="$target.dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1
