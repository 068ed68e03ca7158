#!/usr/bin/env bash
# examples/container/Dockerfile built and run as its users do (README, "Running in a
# container"), with Podman. No registry of images is needed: the base is Debian 12 made here
# with `debootstrap --variant=minbase` from Debian's mirror (what debian:bookworm-slim is made
# of) and `podman import`ed, the Dockerfile is built unchanged with `--build-arg BASE=`, and
# the image is run with `podman run --rm -i IMAGE`: the runtime's default seccomp profile and
# capabilities, nothing added. Checked from outside the container:
#   - the entrypoint without its --best-effort refuses to start the server, and every loss it
#     names is one the namespace-free tier names for an ordinary user in a container;
#     `--dry-run` shows that tier;
#   - the real memory server answers over MCP through it (initialize, tools/list, an entity
#     written and read back), and mcpcell warns of nothing but those accepted losses;
#   - the sandbox is in force: pointed (MEMORY_FILE_PATH) at a graph file mounted into the
#     container outside its grants, the server gets EACCES and nothing of the file comes out;
#     the control, the same container and file with the server run without mcpcell
#     (`--entrypoint node`), prints the file's secret.
#
# usage: tests/dockerfile.sh MCPCELL [WORKBASE]
# Needs podman, python3 and, unless DOCKERFILE_BASE_TAR names an existing tar of the base,
# debootstrap and root. As root it is rootful podman; as an ordinary user rootless podman
# (newuidmap and /etc/subuid entries; slirp4netns and /dev/net/tun for the containers'
# network, without which the build uses the host's network and the containers none).
# DOCKERFILE_BASE_TAR=FILE: import the base from FILE; as root, make FILE if it is missing
#   (for a later rootless run, which cannot debootstrap).
# DEBIAN_MIRROR: the mirror debootstrap uses (default deb.debian.org), and so the build's apt,
#   which reads the sources.list debootstrap writes.
set -euo pipefail
[ $# -ge 1 ] && [ -f "$1" ] || { echo "usage: tests/dockerfile.sh MCPCELL [WORKBASE] (MCPCELL: a static mcpcell binary)" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
mcpcell="$(realpath "$1")"
base_dir="${2:-/var/tmp}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
tag="$(id -un)-$$"
base_image="localhost/mcpcell-dockerfile-base:$tag"
image="localhost/mcpcell-dockerfile:$tag"
dir="$(mktemp -d "$base_dir/dockerfile-$tag.XXXXXX")"
cleanup() {
  podman rmi -f "$image" "$base_image" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "dockerfile.sh: $*" >&2; exit 1; }
for c in podman python3; do command -v "$c" >/dev/null || fail "$c is missing"; done
start=$SECONDS

# The base: Debian 12, minbase, apt's caches emptied as in Debian's slim images.
tar="${DOCKERFILE_BASE_TAR:-$dir/base.tar}"
t=$SECONDS
if [ ! -f "$tar" ]; then
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root: run this as root first with DOCKERFILE_BASE_TAR=FILE, then as this user with the same FILE"
  command -v debootstrap >/dev/null || fail "debootstrap is missing (Debian: apt-get install debootstrap)"
  echo "== debootstrap --variant=minbase bookworm ($mirror)"
  debootstrap --variant=minbase bookworm "$dir/rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 \
    || { tail -20 "$dir/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
  rm -rf "$dir"/rootfs/var/cache/apt/archives/*.deb "$dir"/rootfs/var/lib/apt/lists/*
  tar -C "$dir/rootfs" --numeric-owner -cf "$tar.part" .
  mv "$tar.part" "$tar"
  chmod 644 "$tar"
  rm -rf "$dir/rootfs"
fi
t_debootstrap=$((SECONDS - t))
t=$SECONDS
podman import --quiet "$tar" "$base_image" >/dev/null
t_import=$((SECONDS - t))

# Podman as root sets a container's RLIMIT_NOFILE and RLIMIT_NPROC to 1048576. Where root has
# no CAP_SYS_RESOURCE (root inside another sandbox, as on some CI machines) that cannot be
# raised past its own hard limit and every `podman run` fails ("error setting rlimit").
# There, and only there, podman gets a containers.conf with limits that fit (rootless podman
# does the same by itself): the run line stays the one users type.
capeff="$(awk '/^CapEff:/ {print $2}' /proc/self/status)"
if [ "$(id -u)" = 0 ] && (( ((16#$capeff) >> 24 & 1) == 0 )); then
  conf="$dir/containers.conf"
  src=/usr/share/containers/containers.conf
  [ -f /etc/containers/containers.conf ] && src=/etc/containers/containers.conf
  ulimits="default_ulimits = [\"nofile=$(ulimit -Hn):$(ulimit -Hn)\", \"nproc=4096:4096\"]"
  if [ -f "$src" ] && grep -q '^\[containers\]' "$src"; then
    sed "/^\[containers\]/a $ulimits" "$src" > "$conf"
  else
    { [ -f "$src" ] && cat "$src"; printf '[containers]\n%s\n' "$ulimits"; } > "$conf"
  fi
  export CONTAINERS_CONF="$conf"
  echo "== root without CAP_SYS_RESOURCE: podman's default container limits lowered ($ulimits)"
fi

# Rootless podman gives a container its network with slirp4netns, which needs /dev/net/tun
# (mode 0666 as a rule). Where it is missing or the user cannot open the device, the build's
# RUN steps use the host's network and the containers run with none (the memory server needs
# none); said here, since the run line then differs from the README's by `--network=none`.
run_net=()
build_net=()
if [ "$(id -u)" != 0 ] && { ! command -v slirp4netns >/dev/null || ! { : <>/dev/net/tun; } 2>/dev/null; }; then
  build_net=(--network=host)
  run_net=(--network=none)
  echo "== rootless, and slirp4netns is missing or /dev/net/tun is not usable by $(id -un): podman build --network=host, podman run --network=none"
fi

# The build context as the README has users make it: the example's directory and mcpcell.
ctx="$dir/context"
cp -r "$repo/examples/container" "$ctx"
cp "$mcpcell" "$ctx/mcpcell"
# A TLS-inspecting proxy's CA that the host trusts (Debian keeps local CAs in
# /usr/local/share/ca-certificates) is lent to the build's RUN steps for npm's HTTPS, read-only;
# the Dockerfile is unchanged and the final image does not hold it (only the install stage
# installs ca-certificates).
build=(podman build "${build_net[@]}" --layers=false --build-arg "BASE=$base_image" -t "$image")
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  build+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi
echo "== ${build[*]} $ctx"
t=$SECONDS
"${build[@]}" "$ctx" >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log" >&2; fail "podman build failed (log above)"; }
t_build=$((SECONDS - t))
grep -E '^(\[[0-9]/[0-9]\] )?STEP ' "$dir/build.log" | sed 's/^/   /'

t=$SECONDS
# The CAs lent to the build stayed out of the image (its stage installs no ca-certificates).
held="$(podman run --rm "${run_net[@]}" --entrypoint sh "$image" -c \
  'ls /etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/*.crt 2>/dev/null' || true)"
[ -z "$held" ] || fail "the image holds CA certificates lent to the build: $held"
# The image's own entrypoint, read back from it.
mapfile -t entry < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$image" | sed '/^$/d')
[ "${entry[0]:-}" = mcpcell ] && [ "${entry[1]:-}" = run ] || fail "the image's entrypoint is not \`mcpcell run ...\`: ${entry[*]}"
strict=()
for a in "${entry[@]:2}"; do [ "$a" = --best-effort ] || strict+=("$a"); done
[ $((${#entry[@]} - 2 - ${#strict[@]})) = 1 ] || fail "the entrypoint should accept the tier's losses with one --best-effort: ${entry[*]}"

echo "== the entrypoint without --best-effort (podman run --rm -i --entrypoint mcpcell IMAGE run ...)"
rc=0
podman run --rm -i "${run_net[@]}" --entrypoint mcpcell "$image" run "${strict[@]}" </dev/null >"$dir/strict.out" 2>"$dir/strict.err" || rc=$?
cat "$dir/strict.err"
[ "$rc" != 0 ] && grep -q 'the server was not started' "$dir/strict.err" \
  || fail "without --best-effort the launch should fail closed, naming its losses (exit $rc)"
[ ! -s "$dir/strict.out" ] || fail "mcpcell wrote to stdout on the run path: $(head -c 300 "$dir/strict.out")"
podman run --rm -i "${run_net[@]}" --entrypoint mcpcell "$image" run --dry-run "${strict[@]}" </dev/null >"$dir/dry-run.out" 2>&1 || true
grep 'enforcement tier' "$dir/dry-run.out" || fail "--dry-run names no enforcement tier: $(head -c 500 "$dir/dry-run.out")"
python3 - "$dir/dry-run.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lost = [m.split(":")[0] for m in re.findall(r"^  - (.*)$", text.split("NOT ENFORCED here", 1)[-1], re.M)]
# The namespace-free tier's named losses for an ordinary user in a container (the image's USER).
known = {"names and metadata outside the grants", "no-exec of written files by every route",
         "limits.tmp_size", "a process world of its own", "an empty capability bounding set"}
unknown = [l for l in lost if l not in known]
print(f"   losses --best-effort accepts here: {lost}")
if "enforcement tier: namespace-free" not in text or not lost or unknown:
    sys.exit(f"dockerfile.sh: not the namespace-free tier's known losses: {unknown or lost or 'none named'}")
PY

echo "== a real MCP server through the image (podman run --rm -i IMAGE)"
python3 "$ctx/mcp-smoke.py" podman run --rm -i "${run_net[@]}" "$image" 2>"$dir/smoke.err" || { cat "$dir/smoke.err" >&2; fail "the memory server did not answer through the image"; }
sed 's/^/   /' "$dir/smoke.err"
# What a user sees on stderr: the accepted losses and the server's own banner, nothing else.
unexpected="$(grep -vE -e '--best-effort: NOT enforced without namespaces' \
  -e '^Knowledge Graph MCP Server running on stdio$' "$dir/smoke.err" || true)"
[ -z "$unexpected" ] || fail "unexpected output on stderr: $unexpected"

# A file in the container outside the server's grants: a knowledge graph with a secret in it.
secret="secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$dir/secret"
printf '{"type":"entity","name":"%s","entityType":"secret","observations":["%s"]}\n' "$secret" "$secret" > "$dir/secret/graph.jsonl"
chmod 755 "$dir/secret" && chmod 644 "$dir/secret/graph.jsonl"
graph=("${run_net[@]}" -v "$dir/secret:/srv/secret:ro" -e MEMORY_FILE_PATH=/srv/secret/graph.jsonl)
read_graph() {
  python3 - "$@" <<'PY'
import json, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def rpc(id, method, params):
    p.stdin.write((json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}) + "\n").encode())
    p.stdin.flush()
    for line in p.stdout:
        msg = json.loads(line)
        if msg.get("id") == id:
            return msg
    sys.exit(f"read_graph: the server closed stdout before answering {method}")
rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "dockerfile.sh", "version": "1"}})
p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
print(json.dumps(rpc(2, "tools/call", {"name": "read_graph", "arguments": {}})))
p.stdin.close()
p.wait(timeout=120)
PY
}
echo "== the server pointed at a graph outside its grants (-v DIR:/srv/secret:ro -e MEMORY_FILE_PATH=...)"
control="$(read_graph podman run --rm -i "${graph[@]}" --entrypoint node "$image" "${entry[@]: -1}")"
grep -q "$secret" <<<"$control" || fail "control: without mcpcell the server should read the secret: $control"
echo "   control, the same server without mcpcell (--entrypoint node): read_graph returns the secret"
sandboxed="$(read_graph podman run --rm -i "${graph[@]}" "$image")"
grep -q "$secret" <<<"$sandboxed" && fail "through mcpcell the secret came out: $sandboxed"
grep -qiE 'EACCES|permission denied' <<<"$sandboxed" || fail "through mcpcell read_graph should fail with EACCES: $sandboxed"
echo "   through mcpcell: $(python3 -c 'import json, sys; m = json.loads(sys.argv[1]); print((m.get("error") or m["result"]["content"][0])["message" if "error" in m else "text"][:160])' "$sandboxed")"
t_checks=$((SECONDS - t))

echo "== dockerfile.sh: passed ($(if [ "$(id -u)" = 0 ]; then echo rootful; else echo rootless; fi) podman); debootstrap ${t_debootstrap} s, import ${t_import} s, build ${t_build} s, runs and checks ${t_checks} s, total $((SECONDS - start)) s"
