"""Every built-in server profile against the real server, through mcpcell, with the official
MCP Python SDK as the client: initialize, list tools, call a representative tool and check
its real result; then the profile's boundary, checked from outside.

Run: MCPCELL_BIN=... python -m unittest -v integration.test_servers

With MCPCELL_TIER=1 (MCPCELL_BIN then runs mcpcell where namespaces are refused, as
tests/run.sh does with nouserns, and tests/container.sh inside a runc container, where the
test's own servers are on the container's loopback), the tests that meet one of the
namespace-free tier's named losses check that it fails closed instead: Node's `fetch` ignores HTTP_PROXY and finds no DNS
responder there, a path outside the grants is visible but unreadable, and `network.unix`
needs Landlock ABI 9.
"""

import json
import os
import sqlite3
import subprocess
import time
import unittest
from datetime import datetime, timezone
from pathlib import Path

from harness import (ALLOWED, MCPCELL, NODE_MODULES, OTHER, PROBE, PY_BIN, PY_SQLITE_BIN, HostHttp,
                     Session, TestCA, got_connection, host_listener, mcpcell_run, node_server, run,
                     scratch, text_of, write_profile)


# The namespace-free tier (see the module's docstring).
TIER = os.environ.get("MCPCELL_TIER") == "1"


def fetch_fails_closed(test, s, text, err, api):
    """In the tier, a server on Node's `fetch` (proxy-unaware) cannot reach its API: the call
    fails, nothing reaches the host's server, and the log names the loss."""
    test.assertTrue(err, text)
    test.assertIn("fetch failed", text)
    test.assertEqual(api.requests, [], "the API was reached without the proxy")
    test.assertIn("proxy-unaware clients", s.stderr())


def require(cond, what):
    if cond:
        return
    if os.environ.get("CI") == "true":
        raise AssertionError(f"required in CI: {what}")
    raise unittest.SkipTest(what)


def setUpModule():
    require(MCPCELL and os.access(MCPCELL, os.X_OK), "MCPCELL_BIN pointing at the mcpcell binary")
    require((NODE_MODULES / "@modelcontextprotocol").is_dir(), f"the npm servers under {NODE_MODULES} (.ci/run installs them)")
    require((PY_BIN / "mcp-server-time").exists(), f"the PyPI servers under {PY_BIN} (.ci/run installs them)")


def no_loopback_reach(test, profile, opts=()):
    """A server under `profile` cannot reach a listener on the host's loopback: neither
    directly nor through the proxy (whose allowlist never covers it). The control: the same
    curl without mcpcell, from here (the host, or inside a container), does reach it."""
    listener, port = host_listener()
    control = subprocess.Popen(["curl", "-sS", "-m", "5", "--noproxy", "*", f"http://127.0.0.1:{port}/"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listener.settimeout(5)
    reached = got_connection(listener)
    listener.settimeout(0.3)
    control.kill()
    control.wait()
    test.assertTrue(reached, "the control: curl without mcpcell did not reach the listener")
    r = mcpcell_run(["-p", profile, *opts, "--", "curl", "-sS", "-m", "5", f"http://127.0.0.1:{port}/"])
    test.assertNotEqual(r.returncode, 0, r.stderr)
    r = mcpcell_run(["-p", profile, *opts, "--", "curl", "-sS", "-m", "5", "--noproxy", "*", f"http://127.0.0.1:{port}/"])
    test.assertNotEqual(r.returncode, 0, r.stderr)
    test.assertFalse(got_connection(listener), "the host's listener was reached")
    listener.close()


class Filesystem(unittest.TestCase):
    def test_reads_and_writes_inside_its_directories_only(self):
        d = scratch()
        work, outside = d / "work", d / "outside"
        work.mkdir()
        outside.mkdir()
        (work / "notes.txt").write_text("hello from notes")
        (outside / "secret.txt").write_text("TOP SECRET")
        (work / "link").symlink_to(outside / "secret.txt")
        cmd = node_server("@modelcontextprotocol/server-filesystem", str(work))

        # The client offers both directories as MCP roots, so the server itself would allow
        # `outside`: only the sandbox stands in the way.
        s = Session(cmd, profile="filesystem", roots=[str(work), str(outside)])

        async def go():
            async with s.open() as c:
                tools = [t.name for t in (await c.list_tools()).tools]
                self.assertIn("read_text_file", tools)
                text, err = text_of(await c.call_tool("read_text_file", {"path": str(work / "notes.txt")}))
                self.assertFalse(err, text)
                self.assertEqual(text, "hello from notes")
                text, err = text_of(await c.call_tool("write_file", {"path": str(work / "new.txt"), "content": "written"}))
                self.assertFalse(err, text)
                secret, err = text_of(await c.call_tool("read_text_file", {"path": str(outside / "secret.txt")}))
                self.assertTrue(err)
                via_link, err2 = text_of(await c.call_tool("read_text_file", {"path": str(work / "link")}))
                self.assertTrue(err2)
                return secret, via_link

        secret, via_link = run(go())
        self.assertEqual((work / "new.txt").read_text(), "written")
        for t in (secret, via_link):
            self.assertNotIn("TOP SECRET", t)
            # The sandbox's view holds only the granted paths: `outside` is not there at all,
            # so the server cannot even resolve it (and drops it from its own roots).
            self.assertRegex(
                t.lower(),
                "permission denied|eacces|operation not permitted|no such file or directory|enoent"
                "|outside allowed directories|does not exist",
                t,
            )


class Memory(unittest.TestCase):
    def test_entities_are_stored_in_the_profile_state_directory(self):
        s = Session(node_server("@modelcontextprotocol/server-memory"), profile="memory")

        async def go():
            async with s.open() as c:
                self.assertIn("create_entities", [t.name for t in (await c.list_tools()).tools])
                _, err = text_of(await c.call_tool("create_entities", {"entities": [
                    {"name": "mcpcell", "entityType": "tool", "observations": ["sandboxes MCP servers"]}]}))
                self.assertFalse(err)
                text, err = text_of(await c.call_tool("open_nodes", {"names": ["mcpcell"]}))
                self.assertFalse(err)
                return json.loads(text)

        found = run(go())
        self.assertEqual(found["entities"][0]["observations"], ["sandboxes MCP servers"])
        # ${STATE_DIR} is this server's own: mcpcell/memory/<server id>/.
        stores = list((s.state_home / "mcpcell" / "memory").glob("*/memory.jsonl"))
        self.assertEqual(len(stores), 1, stores)
        self.assertIn("sandboxes MCP servers", stores[0].read_text())

    def test_no_reach_to_the_host(self):
        no_loopback_reach(self, "memory")


class Everything(unittest.TestCase):
    def test_echo(self):
        s = Session(node_server("@modelcontextprotocol/server-everything"), profile="everything")

        async def go():
            async with s.open() as c:
                self.assertIn("echo", [t.name for t in (await c.list_tools()).tools])
                return text_of(await c.call_tool("echo", {"message": "through the sandbox"}))

        text, err = run(go())
        self.assertFalse(err)
        self.assertIn("through the sandbox", text)

    def test_no_reach_to_the_host(self):
        no_loopback_reach(self, "everything")


class SequentialThinking(unittest.TestCase):
    def test_a_thought(self):
        s = Session(node_server("@modelcontextprotocol/server-sequential-thinking"), profile="sequential-thinking")

        async def go():
            async with s.open() as c:
                return text_of(await c.call_tool("sequentialthinking", {
                    "thought": "First, sandbox the server.", "nextThoughtNeeded": False,
                    "thoughtNumber": 1, "totalThoughts": 1}))

        text, err = run(go())
        self.assertFalse(err, text)
        self.assertEqual(json.loads(text)["thoughtNumber"], 1)

    def test_no_reach_to_the_host(self):
        no_loopback_reach(self, "sequential-thinking")


def fake_api_profile(base, host, port, ca, d):
    """Extends a built-in profile so that `host` (and only it, beyond the base) reaches a fake
    API on the host's loopback, with its certificate signed by a test CA."""
    return write_profile(d, f"{base}-test", (
        f"extends: [{base}]\n"
        f"filesystem:\n  read: [\"{ca.dir}\"]\n"
        f"network:\n  hosts: {{{host}: \"127.0.0.1:{port}\"}}\n  allow_private: [127.0.0.1/32]\n"
        f"env:\n  set: {{NODE_EXTRA_CA_CERTS: \"{ca.ca}\"}}\n"))


class Github(unittest.TestCase):
    def test_search_goes_to_the_github_api_with_the_token(self):
        ca = TestCA(["api.github.com"])
        owner = {"login": "example", "id": 1, "node_id": "U1", "avatar_url": "https://x", "url": "https://x",
                 "html_url": "https://x", "type": "User"}
        repo = {"id": 7, "node_id": "R7", "name": "mcpcell", "full_name": "example/mcpcell", "private": False,
                "owner": owner, "html_url": "https://github.com/example/mcpcell", "description": "sandbox",
                "fork": False, "url": "https://api.github.com/repos/example/mcpcell",
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                "pushed_at": "2026-01-01T00:00:00Z", "git_url": "git://x", "ssh_url": "git@x",
                "clone_url": "https://x", "default_branch": "main"}
        api = HostHttp({"/search/repositories": ("application/json", json.dumps(
            {"total_count": 1, "incomplete_results": False, "items": [repo]}))}, tls_context=ca.server_context())
        d = scratch()
        prof = fake_api_profile("github", "api.github.com", api.port, ca, d)
        s = Session(node_server("@modelcontextprotocol/server-github"), profile=prof,
                    env={"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_test_token", "UNRELATED_SECRET": "x"})

        async def go():
            async with s.open() as c:
                try:
                    return text_of(await c.call_tool("search_repositories", {"query": "mcpcell"}))
                except Exception as e:  # noqa: BLE001 - a failed fetch comes back as a JSON-RPC error
                    if not TIER:
                        raise
                    return str(e), True

        text, err = run(go())
        if TIER:
            fetch_fails_closed(self, s, text, err, api)
            return api.close()
        self.assertFalse(err, text + s.stderr())
        self.assertEqual(json.loads(text)["items"][0]["full_name"], "example/mcpcell")
        host, path, headers = api.requests[0]
        self.assertTrue(path.startswith("/search/repositories?q=mcpcell"))
        self.assertEqual(headers.get("Authorization"), "Bearer ghp_test_token")
        self.assertIn("proxy: connected to api.github.com:443", s.stderr())
        api.close()

    def test_only_the_github_api(self):
        no_loopback_reach(self, "github")
        r = mcpcell_run(["-p", "github", "--", "curl", "-sS", "-m", "5", "https://example.com/"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refused example.com:443", r.stderr)


class BraveSearch(unittest.TestCase):
    def test_web_search_goes_to_the_brave_api(self):
        ca = TestCA(["api.search.brave.com"])
        results = {"web": {"results": [{"title": "mcpcell", "description": "sandbox for MCP servers",
                                        "url": "https://example.org/mcpcell"}]}}
        api = HostHttp({"/res/v1/web/search": ("application/json", json.dumps(results))}, tls_context=ca.server_context())
        d = scratch()
        prof = fake_api_profile("brave-search", "api.search.brave.com", api.port, ca, d)
        s = Session(node_server("@modelcontextprotocol/server-brave-search"), profile=prof,
                    env={"BRAVE_API_KEY": "brave-test-key"})

        async def go():
            async with s.open() as c:
                return text_of(await c.call_tool("brave_web_search", {"query": "mcpcell"}))

        text, err = run(go())
        if TIER:
            fetch_fails_closed(self, s, text, err, api)
            return api.close()
        self.assertFalse(err, text + s.stderr())
        self.assertIn("Title: mcpcell", text)
        self.assertEqual(api.requests[0][2].get("X-Subscription-Token"), "brave-test-key")
        api.close()

    def test_no_reach_to_the_host(self):
        no_loopback_reach(self, "brave-search")


class Time(unittest.TestCase):
    def test_current_time(self):
        s = Session([str(PY_BIN / "mcp-server-time")], profile="time")

        async def go():
            async with s.open() as c:
                return text_of(await c.call_tool("get_current_time", {"timezone": "UTC"}))

        text, err = run(go())
        self.assertFalse(err, text)
        got = datetime.fromisoformat(json.loads(text)["datetime"])
        self.assertLess(abs((datetime.now(timezone.utc) - got).total_seconds()), 120)

    def test_no_reach_to_the_host(self):
        no_loopback_reach(self, "time")


def make_repo(path, content):
    path.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": "/dev/null"}
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-qm", "first"]):
        if cmd[1] == "add":
            (path / "file.txt").write_text(content)
        subprocess.run(cmd, cwd=path, check=True, env=env)


def head(path):
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                          env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null"}).stdout.strip()


class Git(unittest.TestCase):
    def test_status_add_and_commit_in_the_repository(self):
        d = scratch()
        repo = d / "repo"
        make_repo(repo, "one\n")
        (repo / "file.txt").write_text("two\n")
        identity = {"GIT_AUTHOR_NAME": "Sandboxed", "GIT_AUTHOR_EMAIL": "s@example.org",
                    "GIT_COMMITTER_NAME": "Sandboxed", "GIT_COMMITTER_EMAIL": "s@example.org"}
        s = Session([str(PY_BIN / "mcp-server-git"), "--repository", str(repo)], profile="git", env=identity)

        async def go():
            async with s.open() as c:
                status, err = text_of(await c.call_tool("git_status", {"repo_path": str(repo)}))
                self.assertFalse(err, status)
                _, err = text_of(await c.call_tool("git_add", {"repo_path": str(repo), "files": ["file.txt"]}))
                self.assertFalse(err)
                out, err = text_of(await c.call_tool("git_commit", {"repo_path": str(repo), "message": "from the sandbox"}))
                self.assertFalse(err, out)
                return status

        status = run(go())
        self.assertIn("modified:", status)
        log = subprocess.run(["git", "log", "-1", "--format=%an %s"], cwd=repo, capture_output=True, text=True).stdout
        self.assertEqual(log.strip(), "Sandboxed from the sandbox")

    def test_cannot_touch_a_second_repository(self):
        d = scratch()
        mine, theirs = d / "mine", d / "theirs"
        make_repo(mine, "mine\n")
        make_repo(theirs, "theirs\n")
        before = head(theirs)
        # Without --repository the server itself would serve any path; the sandbox grants
        # only `mine`, so `theirs` is out of reach at the kernel level.
        s = Session([str(PY_BIN / "mcp-server-git")], profile="git", opts=["--allow-write", str(mine)])

        async def go():
            async with s.open() as c:
                ok, err = text_of(await c.call_tool("git_status", {"repo_path": str(mine)}))
                self.assertFalse(err, ok)
                bad, err = text_of(await c.call_tool("git_status", {"repo_path": str(theirs)}))
                self.assertTrue(err, bad)
                (theirs / "file.txt").stat()
                return bad

        bad = run(go())
        self.assertIn(str(theirs), bad)
        self.assertEqual((theirs / "file.txt").read_text(), "theirs\n")
        self.assertEqual(head(theirs), before)
        # What stopped it: the same sandbox cannot read the other repository at all. (The path
        # goes through the environment: as an argument, `args: write` would grant it.)
        r = mcpcell_run(["-p", "git", "--allow-write", str(mine), "--set-env", f"TARGET={theirs / '.git' / 'HEAD'}",
                         "--", "sh", "-c", 'cat "$TARGET"'])
        self.assertNotEqual(r.returncode, 0)
        # Outside the grants the repository is not there at all; in the namespace-free tier
        # its name is visible (a named loss) but its contents are not.
        self.assertIn("Permission denied" if TIER else "No such file or directory", r.stderr)
        self.assertNotIn("refs/heads", r.stdout)


class Fetch(unittest.TestCase):
    def test_fetches_an_allowed_page_and_nothing_else(self):
        page = "<html><head><title>Doc</title></head><body><h1>Sandboxed fetch</h1><p>It works.</p></body></html>"
        web = HostHttp({"/doc": ("text/html", page)})
        d = scratch()
        prof = write_profile(d, "fetch-test", (
            "extends: [fetch]\n"
            f"network:\n  allow: [\"{ALLOWED}:{web.port}\"]\n  allow_private: [127.0.0.0/8]\n"))
        # The test's web server is on loopback, which the fetch server itself refuses unless
        # told otherwise; public names resolve to public addresses inside the sandbox.
        s = Session([str(PY_BIN / "mcp-server-fetch"), "--allow-private-ips"], profile=prof)

        async def go():
            async with s.open() as c:
                good = text_of(await c.call_tool("fetch", {"url": f"http://{ALLOWED}:{web.port}/doc"}))
                bad = text_of(await c.call_tool("fetch", {"url": f"http://{OTHER}:{web.port}/doc"}))
                return good, bad

        (good, err), (bad, bad_err) = run(go())
        self.assertFalse(err, good + s.stderr())
        self.assertIn("Sandboxed fetch", good)
        self.assertTrue(bad_err or "403" in bad or "refused" in bad.lower(), bad)
        self.assertTrue(all(h.startswith(ALLOWED) for h, _, _ in web.requests), web.requests)
        self.assertIn(f"refused {OTHER}:{web.port}", s.stderr())
        web.close()


class Sqlite(unittest.TestCase):
    def test_queries_its_database_and_nothing_beside_it(self):
        require((PY_SQLITE_BIN / "mcp-server-sqlite").exists(), f"mcp-server-sqlite under {PY_SQLITE_BIN}")
        d = scratch()
        (d / "db").mkdir()
        (d / "other").mkdir()
        db = d / "db" / "app.db"
        s = Session([str(PY_SQLITE_BIN / "mcp-server-sqlite"), "--db-path", str(db)], profile="sqlite")

        async def go():
            async with s.open() as c:
                for q in ("CREATE TABLE t (x TEXT)", "INSERT INTO t VALUES ('from the sandbox')"):
                    out, err = text_of(await c.call_tool("write_query" if q.startswith("INSERT") else "create_table", {"query": q}))
                    self.assertFalse(err, out)
                rows, err = text_of(await c.call_tool("read_query", {"query": "SELECT x FROM t"}))
                self.assertFalse(err, rows)
                attach, _ = text_of(await c.call_tool("write_query", {"query": f"ATTACH DATABASE '{d / 'other' / 'x.db'}' AS o"}))
                return rows, attach

        rows, attach = run(go())
        self.assertIn("from the sandbox", rows)
        self.assertEqual(sqlite3.connect(db).execute("SELECT x FROM t").fetchall(), [("from the sandbox",)])
        self.assertFalse((d / "other" / "x.db").exists(), "a database was created outside the granted directory")
        self.assertRegex(attach.lower(), "unable to open|error", attach)


class Playwright(unittest.TestCase):
    def test_browses_an_allowed_page_and_nothing_else(self):
        require(os.path.exists("/usr/bin/chromium"), "Chromium (apt install chromium; .ci/run installs it)")
        page = "<html><head><title>Sandboxed page</title></head><body><h1>Hello from the host</h1></body></html>"
        web = HostHttp({"/": ("text/html", page)})
        d = scratch()
        prof = write_profile(d, "playwright-test", (
            "extends: [playwright]\n"
            f"network:\n  allow: [\"{ALLOWED}:{web.port}\"]\n  allow_private: [127.0.0.0/8]\n"))
        if TIER:
            # Chromium's own sockets need `network.unix`, which the tier cannot limit below
            # Landlock ABI 9: the launch is refused, even with --best-effort.
            r = mcpcell_run(["-p", str(prof), "--", "node", str(NODE_MODULES / "@playwright" / "mcp" / "cli.js")])
            self.assertEqual(r.returncode, 125, r.stderr)
            self.assertIn("network.unix", r.stderr)
            return web.close()
        s = Session(["node", str(NODE_MODULES / "@playwright" / "mcp" / "cli.js")], profile=prof)

        async def go():
            async with s.open() as c:
                good = text_of(await c.call_tool("browser_navigate", {"url": f"http://{ALLOWED}:{web.port}/"}))
                bad = text_of(await c.call_tool("browser_navigate", {"url": f"http://{OTHER}:{web.port}/"}))
                return good, bad

        (good, err), (bad, _) = run(go())
        self.assertFalse(err, good + s.stderr())
        self.assertIn("Page Title: Sandboxed page", good)
        self.assertNotIn("Sandboxed page", bad)
        self.assertTrue(all(h.startswith(ALLOWED) for h, _, _ in web.requests), web.requests)
        self.assertIn(f"refused {OTHER}:{web.port}", s.stderr())
        web.close()


class Adversary(unittest.TestCase):
    """The escape suite's malicious server (tests/adversary/server.c), driven end to end by
    the official SDK: on one tools/call it tries every escape it knows; tests/escape.rs judges
    all of them under every profile, this checks the gist with a real client."""

    def test_attacks_fail_under_the_default_profile(self):
        server = os.environ.get("MCPCELL_ADVERSARY", "")
        require(server and os.access(server, os.X_OK), "MCPCELL_ADVERSARY (built by tests/run.sh)")
        home = scratch()
        (home / ".ssh").mkdir()
        secret = f"ssh-secret-{os.getpid()}"
        (home / ".ssh" / "id_rsa").write_text(secret)
        listener, port = host_listener()
        config = f"home={home}\ntcp={port}\nnonce=sdk{os.getpid()}\nhold_ms=50\nfork_cap=600\n" \
                 f"fsize_try={8 << 30}\ntmp_fill={1 << 30}\n"
        s = Session([server], profile="default", env={"HOME": str(home), "ADVERSARY_SECRET": secret})

        async def go():
            async with s.open() as c:
                self.assertEqual({"echo", "attack"}, {t.name for t in (await c.list_tools()).tools})
                report, err = text_of(await c.call_tool("attack", {"config": config}))
                echo, _ = text_of(await c.call_tool("echo", {"text": "still here"}))
                return report, err, echo

        report, err, echo = run(go())
        self.assertFalse(err)
        self.assertEqual(echo, "still here")
        results = dict((l.split("\t")[0], l.split("\t")[1]) for l in report.splitlines())
        self.assertGreater(len(results), 100, report)
        for attempt in ["read_ssh_key", "env_secret", "tcp_loopback", "unshare_user", "mount_tmpfs",
                        "io_uring_setup", "bpf_prog_load", "memfd_execveat", "int80_getpid",
                        "tiocsti_stderr", "setuid_bit_in_workspace", "file_size_bomb"]:
            self.assertIn(results.get(attempt), ("ERR", "SIG"), f"{attempt}: {report}")
        self.assertNotIn(secret, report)
        self.assertFalse(got_connection(listener), "the host's listener was reached")
        listener.close()


class Inference(unittest.TestCase):
    def test_the_profile_is_chosen_from_the_command(self):
        cases = [
            (node_server("@modelcontextprotocol/server-memory"), "memory"),
            ([str(PY_BIN / "mcp-server-time")], "time"),
        ]
        for cmd, profile in cases:
            s = Session(cmd)

            async def go():
                async with s.open() as c:
                    return len((await c.list_tools()).tools)

            self.assertGreater(run(go()), 0)
            self.assertIn(f"using profile `{profile}`", s.stderr())


class InspectorCli(unittest.TestCase):
    """The MCP Inspector, in CLI mode, as a second independent client."""

    def inspector(self, *args, target):
        cli = NODE_MODULES / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "index.js"
        binary = NODE_MODULES / ".bin" / "mcp-inspector"
        require(binary.exists(), "the MCP Inspector (npm @modelcontextprotocol/inspector)")
        env = {**os.environ, "MCP_CATALOG_PATH": str(scratch() / "catalog.json")}
        r = subprocess.run([str(binary), "--cli", *args, "--", MCPCELL, "run", *target], capture_output=True, text=True,
                           timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def test_lists_tools_of_every_server(self):
        d = scratch()
        servers = {
            "filesystem": node_server("@modelcontextprotocol/server-filesystem", str(d)),
            "memory": node_server("@modelcontextprotocol/server-memory"),
            "everything": node_server("@modelcontextprotocol/server-everything"),
            "sequential-thinking": node_server("@modelcontextprotocol/server-sequential-thinking"),
            "github": node_server("@modelcontextprotocol/server-github"),
            "brave-search": node_server("@modelcontextprotocol/server-brave-search"),
            "time": [str(PY_BIN / "mcp-server-time")],
            "git": [str(PY_BIN / "mcp-server-git")],
            "fetch": [str(PY_BIN / "mcp-server-fetch")],
            "playwright": ["node", str(NODE_MODULES / "@playwright" / "mcp" / "cli.js")],
        }
        if TIER:
            del servers["playwright"]  # refused in the tier: see Playwright above
        if (PY_SQLITE_BIN / "mcp-server-sqlite").exists():
            servers["sqlite"] = [str(PY_SQLITE_BIN / "mcp-server-sqlite"), "--db-path", str(d / "x.db")]
        for profile, cmd in servers.items():
            with self.subTest(profile=profile):
                # The inspector hands `-e` variables to the server it starts, that is mcpcell.
                extra = ["-e", "BRAVE_API_KEY=test-key"] if profile == "brave-search" else []
                out = self.inspector("--method", "tools/list", *extra, target=["-p", profile, "--", *cmd])
                self.assertGreater(len(out["tools"]), 0, out)

    def test_calls_a_tool(self):
        out = self.inspector("--method", "tools/call", "--tool-name", "get_current_time", "--tool-arg", "timezone=UTC",
                             target=["-p", "time", "--", str(PY_BIN / "mcp-server-time")])
        self.assertIn('"timezone": "UTC"', out["content"][0]["text"])


if __name__ == "__main__":
    unittest.main()
