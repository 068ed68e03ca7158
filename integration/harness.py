"""Shared pieces of the integration suite: real MCP servers, driven through mcpcell by the
official MCP Python SDK client, with host-side servers standing in for the internet.

Environment:
  MCPCELL_BIN    the mcpcell binary (required)
  MCPCELL_DEPS   where .ci/run installed the servers (default /opt/mcpcell-deps)
  MCPCELL_PROBE  the static probe program from tests/probe (optional: some boundary checks)
  MCPCELL_KEEP_SCRATCH=1  keep the scratch directories under /var/tmp (removed at exit otherwise)
"""

import asyncio
import atexit
import contextlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
import mcp.types as types

MCPCELL = os.environ.get("MCPCELL_BIN", "")
DEPS = Path(os.environ.get("MCPCELL_DEPS", "/opt/mcpcell-deps"))
NODE_MODULES = DEPS / "node" / "node_modules"
PY_BIN = DEPS / "python" / "bin"
PY_SQLITE_BIN = DEPS / "python-sqlite" / "bin"
PROBE = os.environ.get("MCPCELL_PROBE", "")

ALLOWED = "allowed.mcpcell.test"
OTHER = "other.mcpcell.test"


def node_server(package, *args):
    """The command line of an npm server installed under DEPS."""
    return ["node", str(NODE_MODULES / package / "dist" / "index.js"), *args]


_SCRATCH = []


@atexit.register
def _remove_scratch():
    """Removes this run's scratch directories (MCPCELL_KEEP_SCRATCH=1 keeps them to look at).
    What cannot be removed (a rootless container's files owned by a sub-UID) is left."""
    if os.environ.get("MCPCELL_KEEP_SCRATCH") == "1":
        return
    for pid, d in _SCRATCH:
        # Only the process that made it (a forked child exiting must not take it away).
        if pid == os.getpid():
            shutil.rmtree(d, ignore_errors=True)


def scratch():
    """A temporary directory outside /tmp (the sandbox has its own /tmp), removed when the
    run ends."""
    d = tempfile.mkdtemp(prefix="mcpcell-integ-", dir="/var/tmp")
    os.chmod(d, 0o755)
    _SCRATCH.append((os.getpid(), d))
    return Path(d)


def base_env(state_home):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(state_home),
    }
    for k in ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


class Session:
    """One MCP session with a server started through mcpcell (or bare, for timing)."""

    def __init__(self, command, profile=None, opts=(), env=None, roots=None, bare=False, state_home=None,
                 learn_to=None):
        self.command = list(command)
        self.learn_to = learn_to
        self.profile = profile
        self.opts = list(opts)
        self.env = dict(env or {})
        self.roots = roots
        self.bare = bare
        self.state_home = state_home or scratch()
        self.init_seconds = None
        self.stderr_path = self.state_home / "stderr.log"

    def params(self):
        env = base_env(self.state_home)
        env.update(self.env)
        if self.bare:
            return StdioServerParameters(command=self.command[0], args=self.command[1:], env=env)
        args = ["run"] if self.learn_to is None else ["learn", "-o", str(self.learn_to)]
        if self.profile:
            args += ["-p", str(self.profile)]
        args += ["--log-level", "info", *self.opts, "--", *self.command]
        return StdioServerParameters(command=MCPCELL, args=args, env=env)

    @contextlib.asynccontextmanager
    async def open(self):
        async def list_roots(_ctx):
            return types.ListRootsResult(roots=[types.Root(uri=Path(r).as_uri()) for r in self.roots])

        with open(self.stderr_path, "w") as errlog:
            async with stdio_client(self.params(), errlog=errlog) as (r, w):
                kwargs = {"list_roots_callback": list_roots} if self.roots is not None else {}
                async with ClientSession(r, w, **kwargs) as s:
                    t0 = time.perf_counter()
                    await s.initialize()
                    self.init_seconds = time.perf_counter() - t0
                    yield s

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def text_of(result):
    """The text of a tool result, and whether it was an error."""
    parts = [c.text for c in result.content if getattr(c, "text", None) is not None]
    return "\n".join(parts), bool(getattr(result, "is_error", False) or getattr(result, "isError", False))


def mcpcell_run(args, env=None, timeout=60):
    """Runs `mcpcell run ARGS` (not an MCP session); returns the CompletedProcess."""
    e = base_env(scratch())
    e.update(env or {})
    return subprocess.run([MCPCELL, "run", *args], env=e, capture_output=True, text=True, timeout=timeout)


class HostHttp:
    """An HTTP server on the host's loopback that records what it was asked."""

    def __init__(self, pages=None, tls_context=None):
        self.requests = []
        self.bodies = {}
        pages = pages or {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.headers.get("Host", ""), self.path, dict(self.headers)))
                route = pages.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                ctype, body = route(self) if callable(route) else route
                data = body.encode() if isinstance(body, str) else body
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                # The body is kept for the test, by path; the route sees it as `self.body`.
                self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.bodies.setdefault(self.path.split("?")[0], []).append(self.body)
                self.do_GET()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


class TestCA:
    """A throwaway certificate authority and one server certificate for the given names."""

    def __init__(self, names):
        self.dir = scratch()
        d = self.dir
        def ssl_(*args):
            subprocess.run(["openssl", *args], check=True, capture_output=True)
        ssl_("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=mcpcell test CA",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"))
        san = ",".join(f"DNS:{n}" for n in names)
        (d / "ext.cnf").write_text(f"subjectAltName={san}\n")
        ssl_("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={names[0]}",
             "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))
        ssl_("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
             "-CAcreateserial", "-days", "1", "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.pem"))
        for f in d.iterdir():
            os.chmod(f, 0o644)
        self.ca = d / "ca.pem"

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.dir / "server.pem", self.dir / "server.key")
        return ctx


def write_profile(directory, name, text):
    p = Path(directory) / f"{name}.yaml"
    p.write_text(text)
    return p


def host_listener():
    """A TCP listener on the host's loopback; returns (socket, port)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.settimeout(0.3)
    return s, s.getsockname()[1]


def got_connection(listener):
    try:
        c, _ = listener.accept()
        c.close()
        return True
    except OSError:
        return False
