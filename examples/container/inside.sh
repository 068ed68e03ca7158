#!/usr/bin/env bash
# Run inside the container (bundle.sh's COMMAND): show the tier mcpcell picks here, run a real
# MCP server through it, then the integration suite's real servers and the conformance battery.
# /srv/mcpcell holds mcpcell, this directory's files and, optionally, the suite in
# integration/ (with the probe and adversary beside mcpcell) and the battery in conformance/.
# OUT names the result files.
set -euo pipefail
cd /srv/mcpcell
out="${1:-result}"
mcpcell=/srv/mcpcell/mcpcell
mkdir -p home
# A launch here that cannot keep every promise fails closed, naming each loss. Accept them with
# --best-effort only if each is one this setting is known to cost: the namespace-free tier's
# named losses (a container's /proc cannot be remounted, so no PID namespace), for root
# `limits.processes` (the container's pids cgroup is read-only and RLIMIT_NPROC does not bind
# uid 0), for an ordinary user the bounding set.
# `--dry-run` lists every loss at once (a launch stops at the first stage that has any).
if ! "$mcpcell" run -p default --dry-run -- /bin/true >"losses-$out.txt"; then
  grep -e '^  - ' -e 'tier' "losses-$out.txt" >&2
  python3 - "losses-$out.txt" "$(id -u)" <<'PY'
import re, sys
lost = [m.split(":")[0] for m in re.findall(r"^  - (.*)$", open(sys.argv[1]).read(), re.M)]
known = {"names and metadata outside the grants", "no-exec of written files by every route",
         "limits.tmp_size", "a process world of its own"}
known |= {"limits.processes for root"} if sys.argv[2] == "0" else {"an empty capability bounding set"}
unknown = [l for l in lost if l not in known]
print(f"== losses named by mcpcell here: {lost}", file=sys.stderr)
if not lost or unknown:
    sys.exit(f"inside.sh: not accepted: {unknown or 'no loss named'}")
PY
  printf '#!/bin/sh\n[ "$1" = run ] && { shift; exec /srv/mcpcell/mcpcell run --best-effort "$@"; }\nexec /srv/mcpcell/mcpcell "$@"\n' > "accept-$out"
  chmod +x "accept-$out"
  mcpcell="/srv/mcpcell/accept-$out"
  echo "== those losses accepted with --best-effort"
fi
echo "== inside the container as $(id -un 2>/dev/null || id -u) (uid $(id -u)), $(grep -E '^(Cap(Eff|Bnd)|Seccomp):' /proc/self/status | tr '\n' ' ')"
echo "== mcpcell doctor"
"$mcpcell" doctor 2>&1 || true
server="$MCPCELL_DEPS/node/node_modules/@modelcontextprotocol/server-memory/dist/index.js"
echo "== mcpcell run --dry-run (the memory server, installed locally)"
"$mcpcell" run -p ./memory-local.yaml --allow-read "$MCPCELL_DEPS/node" --dry-run -- node "$server" 2>&1 | tee "dry-run-$out.txt" | grep -iE 'tier|namespace' || true
echo "== a real MCP server through mcpcell"
python3 ./mcp-smoke.py "$mcpcell" run -p ./memory-local.yaml --allow-read "$MCPCELL_DEPS/node" -- node "$server"
if [ -f integration/tests.txt ]; then
  # The integration suite's real servers (tests.txt: which tests; tests/container.sh writes
  # it), judged as in the namespace-free tier (MCPCELL_TIER=1): the tier's named losses must
  # fail closed (each test module says which), everything else work as on the host.
  echo "== the integration suite's real servers through mcpcell: $(tr '\n' ' ' < integration/tests.txt)"
  t0=$(date +%s)
  (cd integration && MCPCELL_BIN="$mcpcell" MCPCELL_TIER=1 MCPCELL_PROBE=/srv/mcpcell/probe \
    MCPCELL_ADVERSARY=/srv/mcpcell/adversary "$MCPCELL_DEPS/python/bin/python" -m unittest -v $(cat tests.txt) 2>&1)
  echo "== the integration suite took $(($(date +%s) - t0)) s"
fi
if [ -f conformance/run_battery.py ]; then
  echo "== the conformance battery through mcpcell"
  MCPCELL="$mcpcell" python3 conformance/run_battery.py --base-dir /var/tmp \
    --wrapper conformance/wrappers/mcpcell.sh --json "conformance-$out.json"
  echo "== the same battery with no sandbox (the control: what the container alone lets through)"
  python3 conformance/run_battery.py --base-dir /var/tmp --wrapper none \
    --json "conformance-bare-$out.json" >/dev/null || true
fi
