#!/usr/bin/env bash
# The test suite: unit and black-box tests as the current user and, when run as root, again
# as an ordinary user; then the conformance escape battery through mcpcell as both; then a
# smoke run of the benchmarks.
# Needs: a Rust toolchain, gcc with a static libc, python3, util-linux (runuser). `.ci/run`
# installs them first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-}"

TEST_USER="${MCPCELL_TEST_USER:-mcpcell-test}"
SHARED="$(mktemp -d /var/tmp/mcpcell-ci.XXXXXX)"
chmod 755 "$SHARED"
trap 'rm -rf "$SHARED"' EXIT

# Each step says when it starts (minutes into the run): where the time goes in CI.
step() { printf '\n==> %s   [%d:%02d]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "lint"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

step "build"
cargo build --release --locked
# The launch layout (build.rs) still names the binary's functions: a toolchain or dependency
# update renames them, and the launch's peak memory would quietly double.
scripts/launch-order.sh --check
cargo test --locked --no-run

step "tests as $(id -un)"
cargo test --locked

gcc -static -O2 -o "$SHARED/probe" tests/probe/probe.c
# Runs a command as a container's default seccomp profile does: no namespaces.
gcc -static -O2 -o "$SHARED/nouserns" tests/nouserns/nouserns.c
# The malicious MCP server of the escape suite, and the payload it tries to gain privilege with.
gcc -static -O2 -o "$SHARED/adversary" tests/adversary/server.c
gcc -static -O2 -DPAYLOAD_ONLY -o "$SHARED/payload" tests/adversary/server.c
# .cargo/config.toml builds for an explicit target (static linking needs one).
cp target/x86_64-unknown-linux-gnu/release/mcpcell "$SHARED/mcpcell-release"
cp target/x86_64-unknown-linux-gnu/debug/mcpcell "$SHARED/mcpcell"
# mcpcell "as in a container": under nouserns, its `run` accepting the namespace-free tier's
# named losses (--best-effort), so that the suites see what the tier itself enforces.
for m in mcpcell mcpcell-release; do
  printf '#!/bin/sh\nsub="$1"; shift\n[ "$sub" = run ] && set -- --best-effort "$@"\nexec "%s" "%s" "$sub" "$@"\n' \
    "$SHARED/nouserns" "$SHARED/$m" > "$SHARED/$m-tier"
done
chmod 755 "$SHARED"/*

as_user() {
  local keep=()
  for v in MCPCELL_DEPS NODE_EXTRA_CA_CERTS SSL_CERT_FILE SSL_CERT_DIR; do
    [ -n "${!v:-}" ] && keep+=("$v=${!v}")
  done
  runuser -u "$TEST_USER" -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)" \
    LANG=C.UTF-8 CI="$CI" "${keep[@]}" "$@"
}

if [ "$(id -u)" = 0 ]; then
  step "tests as the ordinary user $TEST_USER"
  id "$TEST_USER" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$TEST_USER"
  # Copies of the payload that would gain privilege at exec outside a sandbox: setuid root,
  # and file capabilities (CAP_DAC_READ_SEARCH, CAP_NET_RAW). Only root can make them; the
  # escape suite run as the user checks that under mcpcell they gain nothing.
  install -m 4755 -o root -g root "$SHARED/payload" "$SHARED/payload-suid"
  install -m 755 "$SHARED/payload" "$SHARED/payload-fcap"
  python3 -c 'import os, struct, sys
os.setxattr(sys.argv[1], "security.capability", struct.pack("<5I", 0x02000001, (1 << 2) | (1 << 13), 0, 0, 0))' "$SHARED/payload-fcap"
  # The test executables cargo built, copied where the user can run them.
  cargo test --locked --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])' > "$SHARED/tests.txt"
  # The list comes in on descriptor 3: a test (or a runtime it starts) that reads stdin must
  # not eat the rest of it.
  ran=0
  while read -r exe <&3; do
    ran=$((ran + 1))
    name="$(basename "$exe")"
    cp "$exe" "$SHARED/$name"
    chmod 755 "$SHARED/$name"
    echo "--- $name"
    (cd "$SHARED" && as_user env MCPCELL_BIN="$SHARED/mcpcell" MCPCELL_PROBE="$SHARED/probe" \
      MCPCELL_NOUSERNS="$SHARED/nouserns" \
      MCPCELL_ADVERSARY="$SHARED/adversary" MCPCELL_PAYLOAD="$SHARED/payload" \
      MCPCELL_ADVERSARY_SUID="$SHARED/payload-suid" MCPCELL_ADVERSARY_FCAP="$SHARED/payload-fcap" \
      MCPCELL_TEST_DIR=/var/tmp "$SHARED/$name" --test-threads=2 </dev/null)
  done 3< "$SHARED/tests.txt"
  listed="$(wc -l < "$SHARED/tests.txt")"
  [ "$ran" -eq "$listed" ] || { echo "ran $ran of the $listed test executables as $TEST_USER" >&2; exit 1; }
fi

# The escape and lifecycle suites again where namespaces are refused (the namespace-free
# tier), as root and as the ordinary user. One test at a time: without a user namespace,
# RLIMIT_NPROC counts every process of the user, so parallel fork bombs would meet.
tier_suites() {
  grep -E '/(escape|lifecycle)-[0-9a-f]+$' "$SHARED/tests.txt" | while read -r exe; do
    name="$(basename "$exe")"
    echo "--- $name (namespace-free tier)"
    (cd "$SHARED" && "$@" env MCPCELL_BIN="$SHARED/mcpcell-tier" MCPCELL_PROBE="$SHARED/probe" \
      MCPCELL_NOUSERNS="$SHARED/nouserns" MCPCELL_ADVERSARY="$SHARED/adversary" \
      MCPCELL_PAYLOAD="$SHARED/payload" MCPCELL_ADVERSARY_SUID="$SHARED/payload-suid" \
      MCPCELL_ADVERSARY_FCAP="$SHARED/payload-fcap" MCPCELL_TEST_DIR=/var/tmp \
      "$SHARED/$name" --test-threads=1 </dev/null)
  done
}
if [ "$(id -u)" = 0 ]; then
  step "escape and lifecycle suites in the namespace-free tier as root"
  tier_suites
  step "escape and lifecycle suites in the namespace-free tier as $TEST_USER"
  tier_suites as_user
fi

# `npx -y` and `uvx` installing from a private registry through the proxy, where namespaces
# are refused (npm's copyFile needs mcpcell's metadata supervisor, uv's cache the `refer`
# right in every Landlock layer); and a changed CA file or npmrc reaching the next launch
# there too.
tier_installs() {
  grep -E '/pkgsettings-[0-9a-f]+$' "$SHARED/tests.txt" | while read -r exe; do
    name="$(basename "$exe")"
    echo "--- $name npx/uvx (namespace-free tier)"
    (cd "$SHARED" && "$@" env MCPCELL_BIN="$SHARED/mcpcell-tier" MCPCELL_PROBE="$SHARED/probe" \
      MCPCELL_NOUSERNS="$SHARED/nouserns" MCPCELL_TEST_DIR=/var/tmp \
      "$SHARED/$name" --test-threads=1 npx_installs uvx_installs a_changed_ca_file </dev/null)
  done
}
if [ "$(id -u)" = 0 ]; then
  step "npx and uvx installs in the namespace-free tier as root"
  tier_installs
  step "npx and uvx installs in the namespace-free tier as $TEST_USER"
  tier_installs as_user
fi

# Real MCP servers through mcpcell, driven by the official MCP Python SDK and the Inspector CLI.
DEPS="${MCPCELL_DEPS:-/opt/mcpcell-deps}"
integration() {
  (cd "$SHARED/integration" && "$@" env MCPCELL_BIN="$SHARED/mcpcell-release" MCPCELL_DEPS="$DEPS" \
    MCPCELL_PROBE="$SHARED/probe" MCPCELL_ADVERSARY="$SHARED/adversary" \
    "$DEPS/python/bin/python" -m unittest -v test_servers test_profiles test_learn)
}
if [ -x "$DEPS/python/bin/python" ]; then
  cp -r integration "$SHARED/integration"
  chmod -R a+rX "$SHARED/integration"
  step "integration: real servers and clients as $(id -un)"
  integration
  if [ "$(id -u)" = 0 ]; then
    step "integration: real servers and clients as $TEST_USER"
    integration as_user
  fi
  # The same real servers where namespaces are refused (nouserns, as in a container), as the
  # ordinary user: mcpcell takes its namespace-free tier.
  step "integration: real servers in the namespace-free tier as $TEST_USER"
  tier_user=()
  [ "$(id -u)" = 0 ] && tier_user=(as_user)
  (cd "$SHARED/integration" && "${tier_user[@]}" env MCPCELL_BIN="$SHARED/mcpcell-release-tier" \
    MCPCELL_TIER=1 MCPCELL_DEPS="$DEPS" MCPCELL_PROBE="$SHARED/probe" \
    MCPCELL_ADVERSARY="$SHARED/adversary" "$DEPS/python/bin/python" -m unittest -v test_servers)
  # `mcpcell wrap` with real clients: each one's own `mcp add`, wrap, the client's own check
  # that the servers connect under mcpcell, unwrap to the bytes. Once, as the ordinary user
  # when there is one (the clients take a few minutes).
  if [ -d "$DEPS/clients/node_modules" ]; then
    step "integration: real MCP clients and wrap"
    clients=(python3 "$SHARED/integration/clients/run.py" --mcpcell "$SHARED/mcpcell-release"
      --clients "$DEPS/clients" --server "$DEPS/node/node_modules/.bin/mcp-server-memory")
    if [ "$(id -u)" = 0 ]; then (cd "$SHARED" && as_user "${clients[@]}"); else "${clients[@]}"; fi
  else
    echo "WARNING: no MCP clients in $DEPS/clients (run integration/setup.sh); skipped"
    [ "$CI" = true ] && exit 1
  fi
  step "time to initialize each server, bare and under mcpcell"
  (cd "$SHARED/integration" && MCPCELL_BIN="$SHARED/mcpcell-release" MCPCELL_DEPS="$DEPS" \
    "$DEPS/python/bin/python" timing.py "${MCPCELL_TIMING_RUNS:-3}")
else
  echo "WARNING: no integration dependencies in $DEPS (run integration/setup.sh); skipped"
  [ "$CI" = true ] && exit 1
fi

# Installing as users do: cargo package, cargo install, and the Debian package installed,
# run and purged (root only: dpkg -i).
if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null && command -v cargo-deb >/dev/null; then
  step "packaging: cargo package, cargo install, the Debian package"
  MCPCELL_DEPS="$DEPS" tests/packaging.sh
else
  echo "WARNING: the packaging test needs root, dpkg and cargo-deb (.ci/run installs it); skipped"
  [ "$CI" = true ] && exit 1
fi

# The conformance battery: an independent set of escape probes judged from the host.
CONF=""
for c in "${MCPCELL_CONFORMANCE_DIR:-}" ../shared/conformance; do
  if [ -n "$c" ] && [ -f "$c/run_battery.py" ]; then CONF="$c"; break; fi
done

conformance() {
  local who="$1"; shift
  local json="$SHARED/conformance-$who.json"
  (cd "$SHARED" && "$@" env MCPCELL="$SHARED/mcpcell-release" python3 "$SHARED/conformance/run_battery.py" \
    --wrapper "$SHARED/conformance/wrappers/mcpcell.sh" --json "$json")
  python3 - "$json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["score"]
print(f"conformance: blocked {s['blocked']} of {s['scored']}, escaped {s['escaped']}")
sys.exit(0 if s["scored"] > 0 and s["blocked"] == s["scored"] and not s["escaped"] else 1)
PY
}

conformance_tier() {
  local who="$1"; shift
  local json="$SHARED/conformance-tier-$who.json"
  (cd "$SHARED" && "$@" env MCPCELL="$SHARED/mcpcell-release-tier" python3 "$SHARED/conformance/run_battery.py" \
    --wrapper "$SHARED/conformance/wrappers/mcpcell.sh" --json "$json")
  python3 - "$json" "$MCPCELL_TIER_ALLOWED" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
allowed = set(filter(None, sys.argv[2].split(",")))
score = s["score"]
escaped = set(score["escaped"]) if isinstance(score["escaped"], list) else set()
print(f"conformance (namespace-free tier): blocked {score['blocked']} of {score['scored']}, escaped {sorted(escaped) or 'none'}; named losses allowed: {sorted(allowed) or 'none'}")
sys.exit(0 if score["scored"] > 0 and escaped <= allowed and score["blocked"] + len(escaped) == score["scored"] else 1)
PY
}

if [ -n "$CONF" ]; then
  cp -r "$CONF" "$SHARED/conformance"
  chmod -R a+rX "$SHARED/conformance"
  step "conformance battery as $(id -un)"
  conformance self
  if [ "$(id -u)" = 0 ]; then
    step "conformance battery as $TEST_USER"
    chmod 777 "$SHARED"
    conformance user as_user
  fi
  # The same battery where namespaces are refused: the namespace-free tier. Every probe it
  # does not block is one of the tier's named losses (README, "Where namespaces are
  # refused"); those are the only ones allowed through.
  step "conformance battery in the namespace-free tier as $(id -un)"
  MCPCELL_TIER_ALLOWED="" conformance_tier self
  if [ "$(id -u)" = 0 ]; then
    step "conformance battery in the namespace-free tier as $TEST_USER"
    # An ordinary user cannot empty the capability bounding set without a user namespace.
    MCPCELL_TIER_ALLOWED="cap_bnd" conformance_tier user as_user
  fi
else
  echo "WARNING: the conformance battery was not found (set MCPCELL_CONFORMANCE_DIR); skipped"
  [ "$CI" = true ] && exit 1
fi

# mcpcell inside a real OCI container (examples/container, README "Running in a container"):
# runc with containers-common's seccomp profile and the default capabilities, as root in the
# container, as an ordinary user in it, and rootless (as $TEST_USER); a real MCP server, the
# integration suite's real servers and the conformance battery run through mcpcell there, in
# the tier it picks. The whole of integration/test_servers.py runs in each container (about
# 22 s); the database servers of test_profiles.py, which must fail closed there (about 45 s,
# most of it the Redis server's own retries), only in the first, as root.
if command -v runc >/dev/null && [ -f /usr/share/containers/seccomp.json ]; then
  chmod 777 "$SHARED"
  # A copy the test user can read.
  kit="$SHARED/container-kit"
  mkdir -p "$kit/tests" "$kit/examples" "$kit/integration"
  cp tests/container.sh "$kit/tests/"
  cp -r examples/container "$kit/examples/"
  cp integration/harness.py integration/test_servers.py integration/test_profiles.py "$kit/integration/"
  chmod -R a+rX "$kit"
  conf_copy="${CONF:+$SHARED/conformance}"
  # The integration suite needs its servers; without them (no integration/setup.sh) it is left
  # out, which the check above already fails in CI.
  suite="" suite_db=""
  if [ -x "$DEPS/python/bin/python" ]; then
    suite="test_servers"
    suite_db="test_servers test_profiles.Postgres test_profiles.Redis"
  fi
  export MCPCELL_PROBE="$SHARED/probe" MCPCELL_ADVERSARY="$SHARED/adversary"
  step "mcpcell in a runc container, as root in it"
  "$kit/tests/container.sh" "$SHARED/mcpcell-release" "$conf_copy" "$SHARED" 0:0 "" "$suite_db"
  if [ "$(id -u)" = 0 ]; then
    step "mcpcell in a runc container, as $TEST_USER in it"
    # An ordinary user cannot empty the capability bounding set without a user namespace.
    "$kit/tests/container.sh" "$SHARED/mcpcell-release" "$conf_copy" "$SHARED" \
      "$(id -u "$TEST_USER"):$(id -g "$TEST_USER")" cap_bnd "$suite"
    step "mcpcell in a rootless runc container started by $TEST_USER"
    as_user env MCPCELL_PROBE="$MCPCELL_PROBE" MCPCELL_ADVERSARY="$MCPCELL_ADVERSARY" \
      "$kit/tests/container.sh" "$SHARED/mcpcell-release" "$conf_copy" "$SHARED" 0:0 "" "$suite"
  fi
else
  echo "WARNING: runc or /usr/share/containers/seccomp.json is missing; the container run is skipped"
  [ "$CI" = true ] && exit 1
fi

# The container example's Dockerfile built and run as users do (examples/container, README
# "Running in a container"): rootful podman, a Debian 12 base debootstrapped from Debian's
# mirror, `podman build`, `podman run --rm -i IMAGE` with nothing added; a real MCP session,
# the tier's named losses and a file outside the grants checked from outside (about 2.5
# minutes). Rootless (tests/dockerfile.sh as an ordinary user) is left to a run by hand: with
# rootless podman's vfs storage it takes as long again.
if [ "$(id -u)" = 0 ] && command -v podman >/dev/null && command -v debootstrap >/dev/null; then
  step "the container example's Dockerfile, built and run with podman"
  tests/dockerfile.sh "$SHARED/mcpcell-release" "$SHARED"
else
  echo "WARNING: the Dockerfile test needs root, podman and debootstrap (.ci/run installs them); skipped"
  [ "$CI" = true ] && exit 1
fi

# The benchmarks' smoke run: every section with a few iterations, so that the scripts keep
# working. It judges no number (a missed target is reported, not failed); only a broken
# script fails here.
BENCH_ROOT="${BENCH_ROOT:-/srv/mcpcell-bench}"
if [ "$(id -u)" = 0 ] || { mkdir -p "$BENCH_ROOT" 2>/dev/null && [ -w "$BENCH_ROOT" ]; }; then
  step "benchmark smoke run (bench/run.sh --quick)"
  BENCH_ROOT="$BENCH_ROOT" bench/run.sh --quick >"$SHARED/bench-quick.md"
  sed -n '/^## /q;p' "$SHARED/bench-quick.md"
else
  echo "WARNING: $BENCH_ROOT is not writable; the benchmark smoke run is skipped (BENCH_ROOT=...)"
fi

step "all tests passed"
