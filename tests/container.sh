#!/usr/bin/env bash
# mcpcell inside a real OCI container (examples/container): runc with containers-common's
# seccomp profile resolved for the container's default capabilities, nothing added. Inside,
# mcpcell's tier is shown, a real MCP server (server-memory) is driven through it, the
# integration suite's real servers run through it (integration/, judged as in the
# namespace-free tier: MCPCELL_TIER=1), and the conformance battery runs through it; the
# battery is judged here, from its JSON.
#
# usage: tests/container.sh MCPCELL CONFORMANCE_DIR WORKBASE UID:GID ALLOWED [SUITE]
# UID:GID is the container's user (root only; an ordinary user gets a rootless container,
# whose root is that user). ALLOWED: the probes that may escape (comma-separated), each one of
# the namespace-free tier's named losses. SUITE: the integration tests to run inside, as
# unittest names (`test_servers`, `test_servers.Git`, `test_profiles.Redis`; those of
# test_profiles.py that know the tier are its database servers'); empty or absent, none. The
# suite needs the servers of $MCPCELL_DEPS (the bundle binds them) and, from the environment,
# MCPCELL_PROBE and MCPCELL_ADVERSARY (tests/run.sh builds them), which are copied in.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mcpcell="$1" conf="$2" base="$3" user="$4" allowed="$5" suite="${6:-}"
who="$(id -un)-as-${user%%:*}"
dir="$(mktemp -d "$base/container-$who.XXXXXX")"
chmod 755 "$dir"
work="$dir/work"
mkdir -p "$work"
cp "$mcpcell" "$work/mcpcell"
cp "$repo"/examples/container/{inside.sh,mcp-smoke.py,memory-local.yaml} "$work/"
[ -n "$conf" ] && cp -r "$conf" "$work/conformance"
if [ -n "$suite" ]; then
  for v in MCPCELL_PROBE MCPCELL_ADVERSARY; do
    [ -x "${!v:-}" ] || { echo "tests/container.sh: $v must name the executable the suite needs (tests/run.sh builds it)" >&2; exit 1; }
  done
  mkdir -p "$work/integration"
  cp "$repo"/integration/{harness.py,test_servers.py,test_profiles.py} "$work/integration/"
  cp "$MCPCELL_PROBE" "$work/probe"
  cp "$MCPCELL_ADVERSARY" "$work/adversary"
  for t in $suite; do echo "$t"; done > "$work/integration/tests.txt"
fi
chmod -R a+rwX "$work"
"$repo/examples/container/bundle.sh" "$dir/bundle" "$work" "$user" -- \
  /usr/bin/env CI="${CI:-}" /srv/mcpcell/inside.sh "$who"
id="mcpcell-ci-$who-$$"
# XDG_RUNTIME_DIR: rootless runc keeps state there; point it at this run's directory. The
# timeout leaves room for the whole suite on a loaded machine (it takes 40-95 s there).
start=$SECONDS
XDG_RUNTIME_DIR="$dir" timeout 900 runc --root "$dir/state" run --bundle "$dir/bundle" "$id" </dev/null \
  | grep -v '^  @'
echo "the container ran for $((SECONDS - start)) s"
grep -h 'enforcement tier' "$work/dry-run-$who.txt" || echo "tier: the namespace tier (full namespaces)"
if [ -n "$conf" ]; then
  python3 - "$work/conformance-$who.json" "$allowed" "$who" "$work/conformance-bare-$who.json" <<'PY'
import json, sys
bare = json.load(open(sys.argv[4]))["score"]
bare_escaped = bare["escaped"] if isinstance(bare["escaped"], list) else []
# The control: in this container without mcpcell the battery must see escapes, or it proves nothing.
print(f"control, the battery with no sandbox in the same container: escaped {len(bare_escaped)} of {bare['scored']}")
if len(bare_escaped) < 10:
    sys.exit("the battery sees too few escapes without mcpcell: it would not detect a failure")
s = json.load(open(sys.argv[1]))["score"]
allowed = set(filter(None, sys.argv[2].split(",")))
escaped = set(s["escaped"]) if isinstance(s["escaped"], list) else set()
print(f"conformance in the container ({sys.argv[3]}): blocked {s['blocked']} of {s['scored']}, "
      f"escaped {sorted(escaped) or 'none'}; named losses allowed: {sorted(allowed) or 'none'}")
sys.exit(0 if s["scored"] > 0 and escaped <= allowed and s["blocked"] + len(escaped) == s["scored"] else 1)
PY
fi
rm -rf "$dir"
