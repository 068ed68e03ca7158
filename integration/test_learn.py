"""`mcpcell learn` on real servers, driven by the official MCP Python SDK client: the learned
profile lets the same session work again under `mcpcell run`, grants nothing wider than what
was used, and never grants a secret the server reached for."""

import json
import os
import subprocess
import unittest
from pathlib import Path

from harness import (
    MCPCELL, PY_BIN, Session, base_env, node_server, run, scratch, text_of,
)
from test_servers import make_repo, setUpModule  # noqa: F401


def plan_rules(profile, command, env, opts=()):
    """The filesystem rules `run` would enforce: {path: (write, exec)}."""
    r = subprocess.run([MCPCELL, "run", "--dry-run", "--format", "json", "-p", str(profile), *opts, "--", *command],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return {x["path"]: (x["rights"]["write"], x["rights"]["exec"]) for x in json.loads(r.stdout)["plan"]["filesystem"]["rules"]}


def explain(profile, target, env):
    r = subprocess.run([MCPCELL, "explain", "--format", "json", "-p", str(profile), target],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["verdicts"][0]["allowed"]


def grants(text):
    """The uncommented entries of a learned profile's grant lists (not `hide`)."""
    out, section = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith(":") and not stripped.startswith("- "):
            section = stripped[:-1]
        elif stripped.startswith("- ") and section in ("read", "write", "exec", "unix", "allow"):
            out.append(stripped[2:].strip())
    return out


class LearnCase(unittest.TestCase):
    def assert_tight(self, learned, base_rules, used_roots, env, command):
        """Every rule the learned profile adds to `default` lies inside a directory the session
        used (or is a single system file), and is never a directory above those."""
        rules = plan_rules(learned, command, env)
        # Each profile has its own state directory: not a difference.
        state = Path(env["XDG_STATE_HOME"]) / "mcpcell"
        extra = {p: r for p, r in rules.items()
                 if (p not in base_rules or base_rules[p] != r) and not Path(p).is_relative_to(state)}
        self.assertTrue(extra, "learning added nothing")
        for path in extra:
            p = Path(path)
            inside = any(p == u or u in p.parents for u in used_roots)
            single_file = p.is_file()
            self.assertTrue(inside or single_file, f"{path} is wider than what the session used: {extra}")
            for u in used_roots:
                self.assertFalse(p in u.parents, f"{path} contains {u}: wider than needed")
        for g in grants(learned.read_text()):
            self.assertNotIn(g, ("/", "${HOME}", "${CWD}"), g)


class LearnFilesystem(LearnCase):
    def test_learned_profile_runs_the_same_session_and_nothing_more(self):
        d = scratch()
        home, work, outside = d / "home", d / "work", d / "outside"
        for p in (home / ".ssh", work, outside):
            p.mkdir(parents=True)
        (home / ".ssh" / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----")
        (work / "notes.txt").write_text("hello from notes")
        (work / ".env").write_text("TOKEN=hunter2")
        (outside / "other.txt").write_text("OTHER PROJECT")
        for p in d.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        learned = d / "learned-filesystem.yaml"
        cmd = node_server("@modelcontextprotocol/server-filesystem", str(work), str(home))
        env = {"HOME": str(home)}
        state = scratch()

        async def session(s):
            async with s.open() as c:
                text, err = text_of(await c.call_tool("read_text_file", {"path": str(work / "notes.txt")}))
                self.assertFalse(err, text)
                self.assertEqual(text, "hello from notes")
                _, err = text_of(await c.call_tool("write_file", {"path": str(work / "new.txt"), "content": "made"}))
                self.assertFalse(err)
                key, _ = text_of(await c.call_tool("read_text_file", {"path": str(home / ".ssh" / "id_rsa")}))
                dotenv, _ = text_of(await c.call_tool("read_text_file", {"path": str(work / ".env")}))
                return key, dotenv

        key, _ = run(session(Session(cmd, profile="default", env=env, roots=[work, home], learn_to=learned,
                                     state_home=state)))
        self.assertNotIn("PRIVATE KEY", key, "the key was readable while learning")
        text = learned.read_text()
        stderr = (state / "stderr.log").read_text()
        self.assertIn("LEARNING", stderr)
        # The key: a warning and a comment, never a grant.
        self.assertIn("tried to use", stderr)
        self.assertIn(".ssh/id_rsa", stderr)
        self.assertTrue(any(".ssh/id_rsa" in line and line.lstrip().startswith("#") for line in text.splitlines()), text)
        self.assertFalse([g for g in grants(text) if ".ssh" in g], text)
        # The .env file inside the granted directory is masked.
        self.assertRegex(text, r"hide:\n(\s+#.*\n)?\s+- \S*/work/\.env\n")
        check = subprocess.run([MCPCELL, "check", str(learned)], env={**base_env(state), **env},
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        # The same session under `run` with the learned profile.
        (work / "new.txt").unlink()
        again = Session(cmd, profile=str(learned), env=env, roots=[work, home], state_home=scratch())
        key, dotenv = run(session(again))
        self.assertEqual((work / "new.txt").read_text(), "made")
        self.assertNotIn("PRIVATE KEY", key)
        self.assertNotIn("hunter2", dotenv)

        # Nothing more: the other project and the key stay out of reach.
        e = {**base_env(state), **env}
        self.assertFalse(explain(learned, str(outside / "other.txt"), e))
        self.assertFalse(explain(learned, str(home / ".ssh" / "id_rsa"), e))
        self.assertFalse(explain(learned, f"{work / '.env'}", e))
        self.assertTrue(explain(learned, f"{work / 'notes.txt'}", e))
        self.assert_tight(learned, plan_rules("default", cmd, e), [work], e, cmd)


class LearnMemory(LearnCase):
    def test_learned_profile_keeps_the_store_working(self):
        d = scratch()
        store = d / "store" / "memory.jsonl"
        store.parent.mkdir()
        os.chmod(store.parent, 0o755)
        learned = d / "learned-memory.yaml"
        cmd = node_server("@modelcontextprotocol/server-memory")
        opts = ["--set-env", f"MEMORY_FILE_PATH={store}"]

        async def session(s, name):
            async with s.open() as c:
                _, err = text_of(await c.call_tool("create_entities", {"entities": [
                    {"name": name, "entityType": "tool", "observations": ["learned"]}]}))
                self.assertFalse(err)
                text, err = text_of(await c.call_tool("open_nodes", {"names": [name]}))
                self.assertFalse(err, text)
                return json.loads(text)

        found = run(session(Session(cmd, profile="default", opts=opts, learn_to=learned), "first"))
        self.assertEqual(found["entities"][0]["name"], "first")
        self.assertIn("first", store.read_text())
        found = run(session(Session(cmd, profile=str(learned), opts=opts), "second"))
        self.assertEqual(found["entities"][0]["name"], "second")
        self.assertIn("second", store.read_text())
        e = base_env(scratch())
        self.assertFalse(explain(learned, str(d / "elsewhere.txt:write"), e))
        self.assert_tight(learned, plan_rules("default", cmd, e), [store.parent], e, cmd)


class LearnGit(LearnCase):
    def test_learned_profile_commits_again_and_cannot_reach_another_repository(self):
        d = scratch()
        repo, theirs = d / "repo", d / "theirs"
        make_repo(repo, "one\n")
        make_repo(theirs, "theirs\n")
        for p in d.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        os.chmod(d, 0o755)
        learned = d / "learned-git.yaml"
        identity = {"GIT_AUTHOR_NAME": "Sandboxed", "GIT_AUTHOR_EMAIL": "s@example.org",
                    "GIT_COMMITTER_NAME": "Sandboxed", "GIT_COMMITTER_EMAIL": "s@example.org",
                    "GIT_CONFIG_GLOBAL": "/dev/null"}
        cmd = [str(PY_BIN / "mcp-server-git"), "--repository", str(repo)]
        opts = [x for k, v in identity.items() for x in ("--set-env", f"{k}={v}")]

        async def session(s, content, message):
            (repo / "file.txt").write_text(content)
            async with s.open() as c:
                status, err = text_of(await c.call_tool("git_status", {"repo_path": str(repo)}))
                self.assertFalse(err, status)
                _, err = text_of(await c.call_tool("git_add", {"repo_path": str(repo), "files": ["file.txt"]}))
                self.assertFalse(err)
                out, err = text_of(await c.call_tool("git_commit", {"repo_path": str(repo), "message": message}))
                self.assertFalse(err, out)

        run(session(Session(cmd, profile="default", opts=opts, learn_to=learned), "two\n", "while learning"))
        run(session(Session(cmd, profile=str(learned), opts=opts), "three\n", "with the learned profile"))
        log = subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True,
                             env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null"}).stdout.split("\n")
        self.assertEqual(log[:2], ["with the learned profile", "while learning"])
        e = base_env(scratch())
        self.assertFalse(explain(learned, str(theirs / ".git" / "HEAD"), e))
        self.assertFalse(explain(learned, f"{theirs / 'file.txt'}:write", e))
        self.assert_tight(learned, plan_rules("default", cmd, e), [repo], e, cmd)


if __name__ == "__main__":
    unittest.main()
