"""6. Proxy tunnel throughput, and the supervisor's memory in proxy mode.

A TCP server on the host's loopback (a thread of this process) sends a file of random bytes
with sendfile(2) to each connection. `tcpget` (c/tcpget.c) reads it to EOF and times the
stream from its first byte, so connecting and the proxy's admission are not counted:

- direct: `tcpget` on the host, connected straight to the server;
- mcpcell, CONNECT: inside `mcpcell run` in network mode `proxy`, through an HTTP CONNECT
  tunnel of the proxy named by `HTTPS_PROXY`, as a proxy-aware client goes;
- mcpcell, transparent: inside the same sandbox, dialling the address the sandbox's DNS gave
  for the name, as a client that ignores the proxy variables goes;
- reference relay: `tcpget` on the host through `splice_relay` (c/splice_relay.c), the bare
  splice(2) loop mcpcell's relay runs, with no sandbox and no proxy around it: what a second
  TCP connection and a relay cost on this machine, the ceiling for mcpcell's rows.

The profile allows one test name on the server's port, pinned to 127.0.0.1 with
`network.hosts` and admitted with `network.allow_private`, so nothing leaves the machine and
no /etc/hosts entry is needed. Placements as in section 3: pinned (client, mcpcell and the
server on one CPU: CPU cost per byte) and free. A separate pass compares the bytes' sha256
with the file's.

Memory: the launcher's peak RSS (VmHWM), RSS and PSS while a proxy-mode server (`cat`) waits,
before any connection; and once more after a transfer through the proxy, with `cat` waiting
again, whose VmHWM includes the relay's peak.

    proxy.py OUT.json SIZE_MIB REPEATS
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
import common as c  # noqa: E402
from memory import sample  # noqa: E402
from stdio import CHUNK, PINNED_CPU, blob, pinned, rates, ratios  # noqa: E402

TCPGET = os.path.join(c.BIN, "tcpget")
RELAY = os.path.join(c.BIN, "splice_relay")
REFERENCE = "reference-relay"
NAME = "bench.mcpcell.test"


class Server:
    """Sends `path` to every connection with sendfile, then closes it. `pin` moves the
    sending thread onto the pinned CPU."""

    def __init__(self, path):
        self.path = path
        self.pin = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.send, args=(conn,), daemon=True).start()

    def send(self, conn):
        if self.pin:
            os.sched_setaffinity(0, {int(PINNED_CPU)})
        try:
            with conn, open(self.path, "rb") as f:
                conn.sendfile(f)
                conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def profile_file(port):
    """A proxy-mode profile that admits NAME:port only, pinned to the host's loopback. The
    benchmark's programs are granted so that a shell in the sandbox can run `tcpget`."""
    # Outside the work directory, which the server may write: mcpcell refuses a profile the
    # sandbox could rewrite.
    path = os.path.join(c.ROOT, "proxy-bench.yaml")
    with open(path, "w") as f:
        f.write("# written by bench/lib/proxy.py\n"
                "extends: [default]\n"
                f"filesystem:\n  exec: [\"{c.BIN}\"]\n"
                "network:\n"
                "  mode: proxy\n"
                f"  allow: [\"{NAME}:{port}\"]\n"
                f"  hosts: {{{NAME}: \"127.0.0.1\"}}\n"
                "  allow_private: [\"127.0.0.1/32\"]\n")
    return path


def variants(port, prof):
    jail = c.run_argv(prof, [])
    return {
        "direct": [TCPGET, "127.0.0.1", str(port)],
        "mcpcell-connect": [*jail, TCPGET, "--connect", NAME, str(port)],
        "mcpcell-transparent": [*jail, TCPGET, NAME, str(port)],
        REFERENCE: [RELAY, str(port), "+", TCPGET, "127.0.0.1", "RELAY_PORT"],
    }


def via_relay(argv, pin, go):
    """go(argv) itself, or, for the reference row, go(tcpget's argv) through a splice_relay
    started for this one connection (pinned with the rest when `pin`)."""
    if argv[0] != RELAY:
        return go(argv)
    relay = subprocess.Popen([*pinned(pin), RELAY, argv[1]], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE)
    try:
        port = relay.stdout.readline().decode().strip()
        return go([*argv[3:-1], port])
    finally:
        try:
            relay.wait(timeout=10)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


def timed(argv, pin):
    p = subprocess.run([*pinned(pin), *argv], stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    if p.returncode != 0:
        return None, f"exit {p.returncode}: {c.tail(p.stderr.decode(errors='replace'))}"
    return json.loads(p.stdout.decode().strip().splitlines()[-1]), None


def digest_of(argv):
    p = subprocess.Popen([*argv[:-2], "--out", *argv[-2:]], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    h = hashlib.sha256()
    n = 0
    while chunk := p.stdout.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    p.wait()
    return h.hexdigest(), n


def throughput(server, size_mib, repeats, argvs, result):
    rows = result["rows"]
    live = []
    for name, argv in argvs.items():
        rows[name] = {"argv": argv, "mb_s": [], "mb_s_free": []}
        missing = c.peer_missing("mcpcell") if name.startswith("mcpcell") else None
        if name == REFERENCE and not os.access(RELAY, os.X_OK):
            missing = f"{RELAY} not built"
        if missing:
            rows[name]["skipped"] = missing
        else:
            live.append(name)

    def run(name, pin):
        server.pin = pin
        res, err = via_relay(rows[name]["argv"], pin, lambda argv: timed(argv, pin))
        if err or res["bytes"] != size_mib * CHUNK:
            return err or f"{res['bytes']} of {size_mib * CHUNK} bytes"
        return res

    rates(result, live, repeats, 7, run)
    server.pin = False
    for name in live:
        h, n = via_relay(rows[name]["argv"], False, digest_of)
        rows[name]["exact"] = h == result["sha256"] and n == size_mib * CHUNK
    ratios(rows, "direct")

def memory(port, prof, repeats):
    """The launcher's memory in proxy mode: idle, and idle again after one transfer (made as
    the server starts, so it counts in the launch's peak; see memory.sample)."""
    out = {}
    jail = c.run_argv(prof, [])
    cases = {
        "idle": [*jail, "/usr/bin/cat"],
        "after a transfer": [*jail, "/bin/sh", "-c",
                             f"{TCPGET} {NAME} {port} >/dev/null && exec /usr/bin/cat"],
    }
    for name, argv in cases.items():
        row = out[name] = {"argv": argv}
        missing = c.peer_missing("mcpcell")
        if missing:
            row["skipped"] = missing
            continue
        samples = []
        for _ in range(repeats):
            s = sample(argv, "cat")
            if "failed" in s:
                row["failed"] = s["failed"]
                break
            samples.append(s["launcher"])
        if "failed" in row:
            continue
        for k, key in (("launch_VmHWM", "launch_hwm_kib"), ("VmHWM", "hwm_kib"),
                       ("VmRSS", "rss_kib"), ("Pss", "pss_kib")):
            if all(k in s for s in samples):
                row[key] = c.summarize([s[k] for s in samples])
    return out


def main():
    out_path, size_mib, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.chdir(c.WORK)
    c.log(f"proxy: {size_mib} MiB through the proxy and directly, {repeats} runs each")
    path, digest = blob(size_mib)
    server = Server(path)
    prof = profile_file(server.port)
    result = {"size_mib": size_mib, "repeats": repeats, "sha256": digest, "profile": prof,
              "rows": {}, "discarded_busy_runs": 0}
    throughput(server, size_mib, repeats, variants(server.port, prof), result)
    result["memory"] = memory(server.port, prof, max(1, repeats))
    c.dump(result, out_path)


if __name__ == "__main__":
    main()
