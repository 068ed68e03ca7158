#!/usr/bin/env python3
"""A company's package registry, for tests/pkgsettings.rs: an npm registry and a PyPI simple
index behind TLS signed by a private CA, each serving one package.

Usage: registry.py DIR. Writes DIR/ca.pem (the private CA) and DIR/requests.log (one line per
request: the path and any Authorization or Proxy-Authorization header it carried), prints
the port it listens on (127.0.0.1), then serves until killed.

npm: GET /corp-hello (packument), /corp-hello/-/corp-hello-1.0.0.tgz; the package's bin
prints "corp-hello ran". PyPI: GET /simple/corp-hello-py/, /packages/<wheel>; the wheel's
console script prints "corp-hello-py ran".
"""

import base64
import hashlib
import http.server
import io
import json
import os
import ssl
import subprocess
import sys
import tarfile
import zipfile

NAMES = ["npm.corp.test", "pypi.corp.test"]


def make_certs(d):
    """A private CA and a server certificate for NAMES, signed by it."""
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.crt"))
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
        "-out", ca, "-days", "2", "-subj", "/CN=mcpcell test private CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=" + NAMES[0])
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in NAMES) + "\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    # Leaf and CA: a client without the CA sees SELF_SIGNED_CERT_IN_CHAIN, as behind a
    # re-signing proxy.
    chain = os.path.join(d, "chain.pem")
    with open(chain, "w") as f:
        f.write(open(crt).read() + open(ca).read())
    return chain, key


def npm_tarball():
    pkg = {"name": "corp-hello", "version": "1.0.0", "bin": {"corp-hello": "index.js"}}
    files = {
        "package/package.json": json.dumps(pkg).encode(),
        "package/index.js": b"#!/usr/bin/env node\nconsole.log('corp-hello ran');\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            t.addfile(info, io.BytesIO(data))
    return pkg, buf.getvalue()


def wheel():
    name = "corp_hello_py-1.0-py3-none-any.whl"
    di = "corp_hello_py-1.0.dist-info/"
    files = {
        "corp_hello_py/__init__.py": b"def main():\n    print('corp-hello-py ran')\n",
        di + "METADATA": b"Metadata-Version: 2.1\nName: corp-hello-py\nVersion: 1.0\n",
        di + "WHEEL": b"Wheel-Version: 1.0\nGenerator: mcpcell-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        di + "entry_points.txt": b"[console_scripts]\ncorp-hello-py = corp_hello_py:main\n",
    }
    record = ""
    for n, data in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{n},sha256={h},{len(data)}\n"
    record += di + "RECORD,,\n"
    files[di + "RECORD"] = record.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    return name, buf.getvalue()


def main():
    d = sys.argv[1]
    chain, key = make_certs(d)
    pkg, tgz = npm_tarball()
    whl_name, whl = wheel()
    log = open(os.path.join(d, "requests.log"), "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, body, ctype):
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            auth = [f"{h}: {self.headers[h]}" for h in ("Authorization", "Proxy-Authorization")
                    if self.headers.get(h)]
            log.write(f"{self.path} {' '.join(auth)}\n")
            base = "https://" + self.headers.get("Host", NAMES[0])
            path = self.path.split("?")[0]
            if path == "/corp-hello":
                v = dict(pkg)
                v["dist"] = {
                    "tarball": base + "/corp-hello/-/corp-hello-1.0.0.tgz",
                    "shasum": hashlib.sha1(tgz).hexdigest(),
                    "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(),
                }
                doc = {"name": "corp-hello", "dist-tags": {"latest": "1.0.0"},
                       "versions": {"1.0.0": v}}
                self.send(json.dumps(doc).encode(), "application/json")
            elif path == "/corp-hello/-/corp-hello-1.0.0.tgz":
                self.send(tgz, "application/octet-stream")
            elif path.rstrip("/") == "/simple/corp-hello-py":
                sha = hashlib.sha256(whl).hexdigest()
                html = f'<html><body><a href="/packages/{whl_name}#sha256={sha}">{whl_name}</a></body></html>'
                self.send(html.encode(), "text/html")
            elif path == "/packages/" + whl_name:
                self.send(whl, "application/octet-stream")
            else:
                self.send_error(404)

        # uv asks whether a wheel can be read in ranges; the answer is the file, whole.
        do_HEAD = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
