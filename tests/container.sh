#!/usr/bin/env bash
# mcpcell inside a real OCI container (examples/container): runc with containers-common's
# seccomp profile resolved for the container's default capabilities, nothing added. Inside,
# mcpcell's tier is shown, a real MCP server (server-memory) is driven through it, and the
# conformance battery runs through it; the battery is judged here, from its JSON.
#
# usage: tests/container.sh MCPCELL CONFORMANCE_DIR WORKBASE UID:GID ALLOWED
# UID:GID is the container's user (root only; an ordinary user gets a rootless container,
# whose root is that user). ALLOWED: the probes that may escape (comma-separated), each one of
# the namespace-free tier's named losses.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mcpcell="$1" conf="$2" base="$3" user="$4" allowed="$5"
who="$(id -un)-as-${user%%:*}"
dir="$(mktemp -d "$base/container-$who.XXXXXX")"
chmod 755 "$dir"
work="$dir/work"
mkdir -p "$work"
cp "$mcpcell" "$work/mcpcell"
cp "$repo"/examples/container/{inside.sh,mcp-smoke.py,memory-local.yaml} "$work/"
[ -n "$conf" ] && cp -r "$conf" "$work/conformance"
chmod -R a+rwX "$work"
"$repo/examples/container/bundle.sh" "$dir/bundle" "$work" "$user" -- /srv/mcpcell/inside.sh "$who"
id="mcpcell-ci-$who-$$"
# XDG_RUNTIME_DIR: rootless runc keeps state there; point it at this run's directory.
XDG_RUNTIME_DIR="$dir" timeout 300 runc --root "$dir/state" run --bundle "$dir/bundle" "$id" </dev/null \
  | grep -v '^  @'
grep -h 'enforcement tier' "$work/dry-run-$who.txt" || echo "tier: the namespace tier (full namespaces)"
[ -z "$conf" ] && exit 0
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
rm -rf "$dir"
