#!/usr/bin/env bash
# Make a runc bundle that runs COMMAND in an OCI container as Podman would start it by default:
# containers-common's seccomp profile resolved for the container's default capabilities
# (containers.conf's default_capabilities; nothing added), runc's default masked and
# read-only /proc paths, a private PID, IPC, UTS, mount and (as root) network namespace. The
# root file system is the host's own, read-only: /usr (with the /bin, /lib* links), /etc and
# the servers under $MCPCELL_DEPS; WORK is the one writable directory, at /srv/mcpcell.
#
# usage: bundle.sh BUNDLE WORK UID:GID -- COMMAND [ARGS...]
# As root, the container runs as UID:GID (0:0 for root in the container). As an ordinary user
# the bundle is rootless (`runc spec --rootless`): the container's root is that user.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bundle="$1" work="$2" user="$3"; shift 3
[ "${1:-}" = "--" ] && shift
deps="${MCPCELL_DEPS:-/opt/mcpcell-deps}"
profile="${SECCOMP_PROFILE:-/usr/share/containers/seccomp.json}"
conf="${CONTAINERS_CONF:-/usr/share/containers/containers.conf}"
[ -f "$profile" ] || { echo "bundle.sh: $profile is missing (Debian: golang-github-containers-common, elsewhere containers-common)" >&2; exit 1; }

mkdir -p "$bundle/rootfs"
cd "$bundle"
rm -f config.json
if [ "$(id -u)" = 0 ]; then runc spec; else runc spec --rootless; fi
for d in usr etc srv/mcpcell tmp var/tmp proc dev sys opt/mcpcell-deps root home; do mkdir -p "rootfs/$d"; done
# runc gives a tmpfs the mode of the directory it is mounted on.
chmod 1777 rootfs/tmp rootfs/var/tmp
for l in bin lib lib64 sbin; do
  if [ -L "/$l" ]; then ln -sfn "$(readlink "/$l")" "rootfs/$l"; elif [ -d "/$l" ]; then mkdir -p "rootfs/$l"; fi
done

# The capabilities Podman gives a container when none are added.
caps="$(python3 - "$conf" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^default_capabilities\s*=\s*\[(.*?)\]', text, re.S | re.M)
names = re.findall(r'"([A-Z_]+)"', m.group(1)) if m else []
print(json.dumps(["CAP_" + n for n in names]))
PY
)"
python3 "$here/seccomp-oci.py" "$profile" "$caps" > seccomp.json

python3 - "$user" "$work" "$deps" "$caps" "$@" <<'PY'
import json, os, sys
user, work, deps, caps, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5:]
c = json.load(open("config.json"))
p = c["process"]
p["terminal"] = False
p["args"] = args
p["cwd"] = "/srv/mcpcell"
p["env"] = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/srv/mcpcell/home", "LANG=C.UTF-8",
            "MCPCELL_DEPS=/opt/mcpcell-deps"]
if os.getuid() == 0:
    uid, gid = (int(x) for x in user.split(":"))
    p["user"] = {"uid": uid, "gid": gid}
    # As Podman: the default set, bounding and permitted; effective only for root.
    p["capabilities"] = {k: caps for k in ("bounding", "permitted", "effective", "inheritable")}
    if uid != 0:
        p["capabilities"] = {"bounding": caps}
else:
    # Rootless: the container's root is the calling user; the same default set.
    p["capabilities"] = {k: caps for k in ("bounding", "permitted", "effective")}
p["noNewPrivileges"] = False
c["root"] = {"path": "rootfs", "readonly": True}
ro = ["rbind", "ro", "nosuid", "nodev"]
binds = [("/usr", "/usr", ro), ("/etc", "/etc", ro), (deps, "/opt/mcpcell-deps", ro),
         (work, "/srv/mcpcell", ["rbind", "rw", "nosuid", "nodev"])]
c["mounts"] += [{"destination": d, "type": "bind", "source": s, "options": o} for s, d, o in binds]
c["mounts"] += [{"destination": d, "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "nodev", "mode=1777"]} for d in ("/tmp", "/var/tmp")]
c["linux"]["seccomp"] = json.load(open("seccomp.json"))
json.dump(c, open("config.json", "w"), indent=1)
PY
