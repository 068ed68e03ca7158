"""The server profile library against the real servers: each server installed at a pinned
version, started through mcpcell with its built-in profile and driven by the official MCP
Python SDK client (initialize, tools/list, one representative tool call with its result
checked); then the profile's boundary, checked from outside, each check next to a control
that shows it can see the thing it looks for.

Servers that call a web API reach it through the profile's own allowlist: a test profile
extends the built-in one with a `network.hosts` pin of the API's name to a TLS server of ours
on the host's loopback, and a test CA. Nothing else about the built-in profile changes.

Run: MCPCELL_BIN=... python -m unittest -v test_profiles

With MCPCELL_TIER=1 (MCPCELL_BIN then runs mcpcell where namespaces are refused: under
tests/nouserns, or inside a container), only the database servers are meant to run: their
clients connect by name with plain sockets, which the namespace-free tier cannot redirect to
the proxy (a named loss), so they must fail closed: nothing reaches the database, counted from
outside, and the log names the loss.
"""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest
from pathlib import Path

from harness import (ALLOWED, DEPS, MCPCELL, NODE_MODULES, OTHER, HostHttp, Session, TestCA, got_connection, host_listener,
                     mcpcell_run, run, scratch, text_of, write_profile)


def require(cond, what):
    if cond:
        return
    if os.environ.get("CI") == "true":
        raise AssertionError(f"required in CI: {what}")
    raise unittest.SkipTest(what)


def setUpModule():
    require(MCPCELL and os.access(MCPCELL, os.X_OK), "MCPCELL_BIN pointing at the mcpcell binary")
    require((NODE_MODULES / "@modelcontextprotocol").is_dir(), f"the npm servers under {NODE_MODULES} (.ci/run installs them)")


PY_SERVERS_BIN = DEPS / "python-servers" / "bin"

# The namespace-free tier (see the module's docstring).
TIER = os.environ.get("MCPCELL_TIER") == "1"
# The loss the tier names for clients that ignore HTTP_PROXY.
PROXY_UNAWARE_LOSS = "proxy-unaware clients"


def npm_bin(package):
    """The command line of an npm server installed under DEPS, from its package's `bin`."""
    meta = json.loads((NODE_MODULES / package / "package.json").read_text())
    entry = meta["bin"] if isinstance(meta["bin"], str) else next(iter(meta["bin"].values()))
    return ["node", str(NODE_MODULES / package / entry)]


def header(headers, name):
    """A request header, whatever the case the client sent it in."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def json_route(obj):
    return ("application/json", json.dumps(obj))


class WebApi:
    """One web-API server under its built-in profile. A subclass names the package, the API
    host, the token variable, the fake API's routes, and the tool call and its check."""

    profile = ""
    package = ""
    host = ""
    token = ""
    token_value = None
    extra_env = {}
    routes = {}
    tool = ""
    arguments = {}
    args = []
    # A self-hosted service's profile allows no host of its own: the user names theirs
    # (--allow-host, or network.allow in a profile that extends it), as the test profile does.
    user_named = False
    # `mcpcell run` options a user adds for this server.
    run_opts = ()
    # The port the server connects to (the allowlist's, and the proxy's log line).
    api_port = 443

    def check(self, text, api):
        raise NotImplementedError

    def command(self):
        require((NODE_MODULES / self.package).is_dir(), f"{self.package} under {NODE_MODULES}")
        return [*npm_bin(self.package), *self.args]

    def setUp(self):
        self.command()
        self.ca = TestCA([self.host, OTHER])
        self.api = HostHttp(self.routes, tls_context=self.ca.server_context())
        self.addCleanup(self.api.close)
        self.dir = scratch()
        # The API host, and a second name the profile does not allow, both pinned to our TLS
        # server: only the allowlist tells them apart.
        self.pinned = write_profile(self.dir, f"{self.profile}-test", (
            f"extends: [{self.profile}]\n"
            f"filesystem:\n  read: [\"{self.ca.dir}\"]\n"
            f"network:\n  hosts: {{{self.host}: \"127.0.0.1:{self.api.port}\", {OTHER}: \"127.0.0.1:{self.api.port}\"}}\n"
            + (f"  allow: [\"{self.host}\"]\n" if self.user_named else "") +
            f"  allow_private: [127.0.0.1/32]\n"
            f"env:\n  set: {{NODE_EXTRA_CA_CERTS: \"{self.ca.ca}\", SSL_CERT_FILE: \"{self.ca.ca}\", "
            f"REQUESTS_CA_BUNDLE: \"{self.ca.ca}\"}}\n"))

    def test_tool_call_reaches_the_api_with_the_token(self):
        env = {self.token: self.token_value or f"{self.profile}-test-token", "UNRELATED_SECRET": "not-for-the-server", **self.extra_env}
        s = Session(self.command(), profile=self.pinned, env=env, opts=self.run_opts)

        async def go():
            async with s.open() as c:
                tools = [t.name for t in (await c.list_tools()).tools]
                self.assertIn(self.tool, tools)
                return text_of(await c.call_tool(self.tool, self.arguments))

        text, err = run(go())
        self.assertFalse(err, text + s.stderr())
        self.assertTrue(self.api.requests, "the fake API was not called: " + s.stderr())
        self.check(text, self.api)
        for host, _, headers in self.api.requests:
            self.assertEqual(host.split(":")[0], self.host)
            self.assertNotIn("not-for-the-server", json.dumps(headers))
        self.assertIn(f"proxy: connected to {self.host}:{self.api_port}", s.stderr())

    def curl(self, *args, profile=None, env=None):
        return mcpcell_run(["-p", str(profile or self.pinned), "--", "curl", "-sS", "-m", "5", *args], env=env)

    def test_only_its_api_host(self):
        # Control: the allowed name reaches our server through the same pin.
        r = self.curl("--cacert", str(self.ca.ca), f"https://{self.host}:{self.api_port}/mcpcell-probe")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(("/mcpcell-probe", self.host), [(p, h.split(":")[0]) for h, p, _ in self.api.requests])
        # The other name, pinned to the very same server, is refused by the allowlist.
        r = self.curl("--cacert", str(self.ca.ca), f"https://{OTHER}/mcpcell-probe")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"refused {OTHER}:443", r.stderr)
        self.assertNotIn(OTHER, [h.split(":")[0] for h, _, _ in self.api.requests])

    def test_no_second_local_service(self):
        listener, port = host_listener()
        self.addCleanup(listener.close)
        for extra in ([], ["--noproxy", "*"]):
            r = self.curl(*extra, f"http://127.0.0.1:{port}/")
            self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertFalse(got_connection(listener), "the host's second service was reached")
        # Control: the listener does see a connection when one is made.
        subprocess.run(["curl", "-sS", "-m", "5", f"http://127.0.0.1:{port}/"], capture_output=True)
        self.assertTrue(got_connection(listener))

    def test_no_home_and_only_its_token(self):
        home = scratch()
        (home / ".ssh").mkdir()
        (home / ".ssh" / "id_ed25519").write_text("home-secret")
        (home / "notes.txt").write_text("home-secret")
        env = {"HOME": str(home), self.token: "the-token", "UNRELATED_SECRET": "not-for-the-server"}
        # The home by its path: a profile may give the server a HOME of its own.
        show = 'cat "%s/notes.txt" "%s/.ssh/id_ed25519"; echo "token=${%s:-unset} other=${UNRELATED_SECRET:-unset}"' % (
            home, home, self.token)
        r = mcpcell_run(["-p", str(self.pinned), "--", "sh", "-c", show], env=env)
        self.assertNotIn("home-secret", r.stdout)
        self.assertIn("token=the-token other=unset", r.stdout)
        # Control: with $HOME granted, the same command reads it.
        opened = write_profile(self.dir, "home-granted", f"extends: [\"{self.pinned}\"]\nfilesystem:\n  read: [\"{home}\"]\n")
        r = mcpcell_run(["-p", str(opened), "--", "sh", "-c", show], env=env)
        self.assertIn("home-secret", r.stdout)


class BraveSearch(WebApi, unittest.TestCase):
    profile = "brave-search"
    package = "@brave/brave-search-mcp-server"
    host = "api.search.brave.com"
    token = "BRAVE_API_KEY"
    routes = {"/res/v1/web/search": json_route({"web": {"results": [
        {"title": "mcpcell", "description": "sandbox for MCP servers", "url": "https://example.org/mcpcell"}]}})}
    tool = "brave_web_search"
    arguments = {"query": "mcpcell"}

    def check(self, text, api):
        self.assertIn("https://example.org/mcpcell", text)
        host, path, headers = api.requests[0]
        self.assertTrue(path.startswith("/res/v1/web/search?"), path)
        self.assertIn("q=mcpcell", path)
        self.assertEqual(headers.get("X-Subscription-Token"), "brave-search-test-token")


class BraveSearchArchived(BraveSearch):
    """The archived reference package, which inference still sends to the same profile."""
    package = "@modelcontextprotocol/server-brave-search"


class Tavily(WebApi, unittest.TestCase):
    profile = "tavily"
    package = "tavily-mcp"
    host = "api.tavily.com"
    token = "TAVILY_API_KEY"
    routes = {"/search": json_route({"query": "mcpcell", "results": [
        {"title": "mcpcell", "url": "https://example.org/mcpcell", "content": "sandbox for MCP servers"}]})}
    tool = "tavily_search"
    arguments = {"query": "mcpcell"}

    def check(self, text, api):
        self.assertIn("Title: mcpcell", text)
        self.assertIn("URL: https://example.org/mcpcell", text)
        body = json.loads(api.bodies["/search"][0])
        self.assertEqual(body["query"], "mcpcell")
        self.assertEqual(api.requests[0][2].get("Authorization"), "Bearer tavily-test-token")


class PerplexityAsk(WebApi, unittest.TestCase):
    profile = "perplexity-ask"
    package = "server-perplexity-ask"
    host = "api.perplexity.ai"
    token = "PERPLEXITY_API_KEY"
    routes = {"/chat/completions": json_route({"choices": [{"message": {"role": "assistant",
                                                                        "content": "mcpcell sandboxes MCP servers."}}],
                                               "citations": ["https://example.org/mcpcell"]})}
    tool = "perplexity_ask"
    arguments = {"messages": [{"role": "user", "content": "What is mcpcell?"}]}

    def check(self, text, api):
        self.assertIn("mcpcell sandboxes MCP servers.", text)
        self.assertIn("https://example.org/mcpcell", text)
        body = json.loads(api.bodies["/chat/completions"][0])
        self.assertEqual(body["messages"][-1]["content"], "What is mcpcell?")
        self.assertEqual(api.requests[0][2].get("Authorization"), "Bearer perplexity-ask-test-token")


class Context7(WebApi, unittest.TestCase):
    profile = "context7"
    package = "@upstash/context7-mcp"
    host = "context7.com"
    token = "CONTEXT7_API_KEY"
    routes = {"/api/v2/libs/search": json_route({"results": [
        {"id": "/example/mcpcell", "title": "mcpcell", "description": "sandbox for MCP servers",
         "totalSnippets": 12, "trustScore": 9}]})}
    tool = "resolve-library-id"
    arguments = {"libraryName": "mcpcell", "query": "how to sandbox a server"}

    def check(self, text, api):
        self.assertIn("Context7-compatible library ID: /example/mcpcell", text)
        _, path, headers = api.requests[0]
        self.assertIn("libraryName=mcpcell", path)
        self.assertIn("context7-test-token", headers.get("Authorization", ""))


class Exa(WebApi, unittest.TestCase):
    profile = "exa"
    package = "exa-mcp-server"
    host = "api.exa.ai"
    token = "EXA_API_KEY"
    routes = {"/search": json_route({"requestId": "r1", "results": [
        {"id": "1", "title": "mcpcell", "url": "https://example.org/mcpcell", "highlights": ["sandbox for MCP servers"]}]})}
    tool = "web_search_exa"
    arguments = {"query": "mcpcell"}

    def check(self, text, api):
        self.assertIn("Title: mcpcell", text)
        self.assertIn("sandbox for MCP servers", text)
        self.assertEqual(json.loads(api.bodies["/search"][0])["query"], "mcpcell")
        self.assertEqual(api.requests[0][2].get("x-api-key"), "exa-test-token")


class Slack(WebApi, unittest.TestCase):
    profile = "slack"
    package = "@modelcontextprotocol/server-slack"
    host = "slack.com"
    token = "SLACK_BOT_TOKEN"
    extra_env = {"SLACK_TEAM_ID": "T0MCPCELL"}
    routes = {"/api/conversations.list": json_route({"ok": True, "channels": [
        {"id": "C0SANDBOX", "name": "sandboxing", "is_channel": True}], "response_metadata": {"next_cursor": ""}})}
    tool = "slack_list_channels"
    arguments = {}

    def check(self, text, api):
        self.assertEqual(json.loads(text)["channels"][0]["name"], "sandboxing")
        _, path, headers = api.requests[0]
        self.assertIn("team_id=T0MCPCELL", path)
        self.assertEqual(headers.get("Authorization"), "Bearer slack-test-token")


class Firecrawl(WebApi, unittest.TestCase):
    profile = "firecrawl"
    package = "firecrawl-mcp"
    host = "api.firecrawl.dev"
    token = "FIRECRAWL_API_KEY"
    routes = {"/v2/scrape": json_route({"success": True, "data": {
        "markdown": "# Sandboxed page\n\nScraped by Firecrawl.", "metadata": {"sourceURL": "https://example.org/"}}})}
    tool = "firecrawl_scrape"
    arguments = {"url": "https://example.org/", "formats": ["markdown"]}

    def check(self, text, api):
        self.assertIn("Scraped by Firecrawl.", text)
        self.assertEqual(json.loads(api.bodies["/v2/scrape"][0])["url"], "https://example.org/")
        self.assertEqual(api.requests[0][2].get("Authorization"), "Bearer firecrawl-test-token")


class Notion(WebApi, unittest.TestCase):
    profile = "notion"
    package = "@notionhq/notion-mcp-server"
    host = "api.notion.com"
    token = "NOTION_TOKEN"
    routes = {"/v1/users/me": json_route({"object": "user", "id": "b0b0b0b0-0000-0000-0000-000000000001",
                                          "type": "bot", "name": "mcpcell integration", "bot": {}})}
    tool = "API-get-self"
    arguments = {}

    def check(self, text, api):
        self.assertEqual(json.loads(text)["name"], "mcpcell integration")
        self.assertEqual(api.requests[0][2].get("Authorization"), "Bearer notion-test-token")


class Figma(WebApi, unittest.TestCase):
    profile = "figma"
    package = "figma-developer-mcp"
    args = ["--stdio"]
    host = "api.figma.com"
    token = "FIGMA_API_KEY"
    frame = {"id": "1:2", "name": "Sandboxed frame", "type": "FRAME", "children": []}
    routes = {"/v1/files/AbCdEf123": json_route({
        "name": "mcpcell design", "lastModified": "2026-01-01T00:00:00Z", "thumbnailUrl": "", "version": "1",
        "document": {"id": "0:0", "name": "Document", "type": "DOCUMENT", "children": [
            {"id": "0:1", "name": "Page 1", "type": "CANVAS", "children": [frame]}]},
        "components": {}, "componentSets": {}, "styles": {}})}
    tool = "get_figma_data"
    arguments = {"fileKey": "AbCdEf123"}

    def check(self, text, api):
        self.assertIn("Sandboxed frame", text)
        self.assertEqual(api.requests[0][2].get("X-Figma-Token"), "figma-test-token")


class Sentry(WebApi, unittest.TestCase):
    profile = "sentry"
    package = "@sentry/mcp-server"
    host = "sentry.io"
    token = "SENTRY_ACCESS_TOKEN"
    routes = {"/api/0/organizations/": json_route([{
        "id": "1", "slug": "mcpcell-org", "name": "mcpcell org",
        "links": {"organizationUrl": "https://mcpcell-org.sentry.io", "regionUrl": "https://sentry.io"}}])}
    tool = "find_organizations"
    arguments = {}

    def check(self, text, api):
        self.assertIn("mcpcell-org", text)
        self.assertEqual(api.requests[0][2].get("Authorization"), "Bearer sentry-test-token")


class Linear(WebApi, unittest.TestCase):
    profile = "linear"
    package = "@tacticlaunch/mcp-linear"
    host = "api.linear.app"
    token = "LINEAR_API_TOKEN"
    routes = {"/graphql": json_route({"data": {"viewer": {
        "id": "u-1", "name": "Sandboxed Agent", "email": "agent@example.org", "displayName": "agent", "active": True}}})}
    tool = "linear_getViewer"
    arguments = {}

    def check(self, text, api):
        self.assertIn("Sandboxed Agent", text)
        self.assertIn("viewer", json.loads(api.bodies["/graphql"][0])["query"])
        self.assertIn("linear-test-token", api.requests[0][2].get("Authorization", ""))


class GoogleMaps(WebApi, unittest.TestCase):
    profile = "google-maps"
    package = "@modelcontextprotocol/server-google-maps"
    host = "maps.googleapis.com"
    token = "GOOGLE_MAPS_API_KEY"
    routes = {"/maps/api/geocode/json": json_route({"status": "OK", "results": [{
        "formatted_address": "1 Sandbox Street, Testville", "place_id": "place-1",
        "geometry": {"location": {"lat": 48.85, "lng": 2.35}}}]})}
    tool = "maps_geocode"
    arguments = {"address": "1 Sandbox Street"}

    def check(self, text, api):
        self.assertEqual(json.loads(text)["formatted_address"], "1 Sandbox Street, Testville")
        _, path, _ = api.requests[0]
        self.assertIn("key=google-maps-test-token", path)
        self.assertIn("address=1+Sandbox+Street", path)


class Gitlab(WebApi, unittest.TestCase):
    profile = "gitlab"
    package = "@modelcontextprotocol/server-gitlab"
    host = "gitlab.com"
    token = "GITLAB_PERSONAL_ACCESS_TOKEN"
    routes = {"/api/v4/projects": json_route([{
        "id": 7, "name": "mcpcell", "path_with_namespace": "example/mcpcell", "visibility": "public",
        "web_url": "https://gitlab.com/example/mcpcell", "description": "sandbox",
        "ssh_url_to_repo": "git@gitlab.com:example/mcpcell.git", "http_url_to_repo": "https://gitlab.com/example/mcpcell.git",
        "created_at": "2026-01-01T00:00:00Z", "last_activity_at": "2026-01-01T00:00:00Z", "default_branch": "main"}])}
    tool = "search_repositories"
    arguments = {"search": "mcpcell"}

    def check(self, text, api):
        self.assertEqual(json.loads(text)["items"][0]["path_with_namespace"], "example/mcpcell")
        _, path, headers = api.requests[0]
        self.assertIn("search=mcpcell", path)
        self.assertEqual(header(headers, "Authorization"), "Bearer gitlab-test-token")


class Terraform(WebApi, unittest.TestCase):
    profile = "terraform"
    package = "terraform-mcp-server"
    host = "registry.terraform.io"
    # The public Registry needs no token; TFC_TOKEN is the one it passes (for HCP Terraform).
    token = "TFC_TOKEN"
    routes = {"/v2/providers/example/sandbox": json_route({
        "data": {"attributes": {"full-name": "example/sandbox", "tier": "community", "downloads": 1234,
                                "source": "https://github.com/example/terraform-provider-sandbox",
                                "description": "A provider checked under mcpcell."}},
        "included": [{"attributes": {"version": "1.2.3", "published-at": "2026-01-01T00:00:00Z"}}]})}
    tool = "providerDetails"
    arguments = {"provider": "sandbox", "namespace": "example"}

    def check(self, text, api):
        self.assertIn("example/sandbox Provider", text)
        self.assertIn("**Latest Version**: 1.2.3", text)
        self.assertIn("A provider checked under mcpcell.", text)


class AwsDocumentation(WebApi, unittest.TestCase):
    profile = "aws-documentation"
    host = "docs.aws.amazon.com"
    # It needs no secret: the variable checked for is its one setting.
    token = "AWS_DOCUMENTATION_PARTITION"
    token_value = "aws"
    page = "/lambda/latest/dg/mcpcell.html"
    routes = {page: ("text/html", "<html><head><title>Sandboxed Lambda</title></head><body><main>"
                                  "<h1>Running in a sandbox</h1><p>Functions run with least privilege.</p></main></body></html>")}
    tool = "read_documentation"
    arguments = {"url": f"https://docs.aws.amazon.com{page}"}

    def command(self):
        exe = PY_SERVERS_BIN / "awslabs.aws-documentation-mcp-server"
        require(exe.exists(), f"awslabs.aws-documentation-mcp-server under {PY_SERVERS_BIN}")
        return [str(exe)]

    def check(self, text, api):
        self.assertIn("Functions run with least privilege.", text)
        self.assertEqual(api.requests[0][1].split("?")[0], self.page)


PY_SDK1_BIN = DEPS / "python-servers-sdk1" / "bin"


class PyWebApi(WebApi):
    """A web-API server from PyPI, installed in one of the integration venvs."""

    bin_dir = PY_SERVERS_BIN

    def command(self):
        exe = self.bin_dir / self.package
        require(exe.exists(), f"{self.package} under {self.bin_dir}")
        return [str(exe), *self.args]


class Prometheus(PyWebApi, unittest.TestCase):
    profile = "prometheus"
    package = "prometheus-mcp-server"
    host = "prometheus.mcpcell.test"
    user_named = True
    token = "PROMETHEUS_TOKEN"
    extra_env = {"PROMETHEUS_URL": "https://prometheus.mcpcell.test"}
    routes = {"/api/v1/query": json_route({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "mcpcell-sandboxed"}, "value": [1767225600, "1"]}]}})}
    tool = "execute_query"
    arguments = {"query": "up"}

    def check(self, text, api):
        self.assertIn("mcpcell-sandboxed", text)
        _, path, headers = next(r for r in api.requests if r[1].startswith("/api/v1/query"))
        self.assertIn("query=up", path)
        self.assertEqual(header(headers, "Authorization"), "Bearer prometheus-test-token")


class Grafana(PyWebApi, unittest.TestCase):
    profile = "grafana"
    package = "mcp-grafana"
    host = "grafana.mcpcell.test"
    user_named = True
    token = "GRAFANA_SERVICE_ACCOUNT_TOKEN"
    extra_env = {"GRAFANA_URL": "https://grafana.mcpcell.test"}

    @property
    def run_opts(self):
        # Installed ahead of time (not by `uvx`, whose tool directory is executable), the
        # wheel's Go binary needs the exec grant its profile's description gives.
        exe = next((DEPS / "python-servers" / "lib").glob("python3*/site-packages/mcp_grafana/bin/mcp-grafana"))
        return ["--allow-exec", str(exe)]
    routes = {"/api/search": json_route([{"id": 7, "uid": "sbx-1", "title": "Sandboxed dashboard", "type": "dash-db",
                                          "uri": "db/sandboxed", "url": "/d/sbx-1/sandboxed", "tags": []}])}
    tool = "search_dashboards"
    arguments = {"query": "Sandboxed"}

    def check(self, text, api):
        self.assertIn("Sandboxed dashboard", text)
        _, path, headers = next(r for r in api.requests if r[1].startswith("/api/search"))
        self.assertIn("query=Sandboxed", path)
        self.assertEqual(header(headers, "Authorization"), "Bearer grafana-test-token")


class HomeAssistant(PyWebApi, unittest.TestCase):
    profile = "home-assistant"
    package = "hass-mcp"
    bin_dir = PY_SDK1_BIN
    host = "ha.mcpcell.test"
    user_named = True
    token = "HA_TOKEN"
    extra_env = {"HA_URL": "https://ha.mcpcell.test"}
    routes = {"/api/config": json_route({"version": "2026.1.0-mcpcell", "location_name": "Sandbox"})}
    tool = "get_version"
    arguments = {}

    def check(self, text, api):
        self.assertIn("2026.1.0-mcpcell", text)
        _, _, headers = next(r for r in api.requests if r[1] == "/api/config")
        self.assertEqual(header(headers, "Authorization"), "Bearer home-assistant-test-token")


class Atlassian(PyWebApi, unittest.TestCase):
    profile = "atlassian"
    package = "mcp-atlassian"
    bin_dir = PY_SDK1_BIN
    # An Atlassian Cloud site: the built-in profile allows *.atlassian.net itself.
    host = "mcpcell.atlassian.net"
    token = "JIRA_API_TOKEN"
    extra_env = {"JIRA_URL": "https://mcpcell.atlassian.net", "JIRA_USERNAME": "agent@example.org"}
    issue = {"id": "10001", "key": "MC-1", "self": "https://mcpcell.atlassian.net/rest/api/2/issue/10001",
             "fields": {"summary": "Sandbox every server", "description": "Checked under mcpcell.",
                        "status": {"name": "In Progress"}, "issuetype": {"name": "Task"},
                        "created": "2026-01-01T00:00:00.000+0000", "updated": "2026-01-01T00:00:00.000+0000"}}
    routes = {"/rest/api/2/issue/MC-1": json_route(issue), "/rest/api/3/issue/MC-1": json_route(issue)}
    tool = "jira_get_issue"
    arguments = {"issue_key": "MC-1"}

    def check(self, text, api):
        self.assertIn("Sandbox every server", text)
        _, _, headers = next(r for r in api.requests if "/issue/MC-1" in r[1])
        # Basic authentication: the user and the API token.
        import base64
        self.assertEqual(header(headers, "Authorization"),
                         "Basic " + base64.b64encode(b"agent@example.org:atlassian-test-token").decode())


class Obsidian(PyWebApi, unittest.TestCase):
    """The Obsidian Local REST API plugin listens on the host's loopback: the built-in profile
    pins its own name for it (to port 27124); the test profile moves that pin to our server."""
    profile = "obsidian"
    package = "mcp-obsidian"
    bin_dir = PY_SDK1_BIN
    host = "obsidian.local-rest-api"
    api_port = 27124
    token = "OBSIDIAN_API_KEY"
    # What the profile replaces: the plugin's host and port as the client may have set them.
    extra_env = {"OBSIDIAN_HOST": "127.0.0.1", "OBSIDIAN_PORT": "1"}
    routes = {"/vault/": json_route({"files": ["Sandboxed note.md", "daily/"]})}
    tool = "obsidian_list_files_in_vault"
    arguments = {}

    def check(self, text, api):
        self.assertIn("Sandboxed note.md", text)
        _, _, headers = next(r for r in api.requests if r[1] == "/vault/")
        self.assertEqual(header(headers, "Authorization"), "Bearer obsidian-test-token")


class Puppeteer(unittest.TestCase):
    def test_browses_an_allowed_page_and_nothing_else(self):
        require(os.path.exists("/usr/bin/chromium"), "Chromium (apt install chromium; .ci/run installs it)")
        require((NODE_MODULES / "@modelcontextprotocol/server-puppeteer").is_dir(), "@modelcontextprotocol/server-puppeteer")
        page = "<html><head><title>Sandboxed page</title></head><body><h1>Hello from the host</h1></body></html>"
        web = HostHttp({"/": ("text/html", page)})
        self.addCleanup(web.close)
        d = scratch()
        prof = write_profile(d, "puppeteer-test", (
            "extends: [puppeteer]\n"
            f"network:\n  allow: [\"{ALLOWED}:{web.port}\"]\n  allow_private: [127.0.0.0/8]\n"))
        s = Session(npm_bin("@modelcontextprotocol/server-puppeteer"), profile=prof)

        async def go():
            async with s.open() as c:
                self.assertIn("puppeteer_navigate", [t.name for t in (await c.list_tools()).tools])
                nav, err = text_of(await c.call_tool("puppeteer_navigate", {"url": f"http://{ALLOWED}:{web.port}/"}))
                self.assertFalse(err, nav + s.stderr())
                title, err = text_of(await c.call_tool("puppeteer_evaluate", {"script": "document.title"}))
                self.assertFalse(err, title)
                await c.call_tool("puppeteer_navigate", {"url": f"http://{OTHER}:{web.port}/"})
                other, _ = text_of(await c.call_tool("puppeteer_evaluate", {"script": "document.title"}))
                return title, other

        title, other = run(go())
        self.assertIn("Sandboxed page", title)
        self.assertNotIn("Sandboxed page", other)
        self.assertTrue(web.requests)
        self.assertTrue(all(h.startswith(ALLOWED) for h, _, _ in web.requests), web.requests)
        self.assertIn(f"refused {OTHER}:{web.port}", s.stderr())


class ChromeDevtools(unittest.TestCase):
    def test_opens_an_allowed_page_and_nothing_else(self):
        require(os.path.exists("/usr/bin/chromium"), "Chromium (apt install chromium; .ci/run installs it)")
        require((NODE_MODULES / "chrome-devtools-mcp").is_dir(), "chrome-devtools-mcp")
        page = "<html><head><title>Sandboxed page</title></head><body><h1>Hello from the host</h1></body></html>"
        web = HostHttp({"/": ("text/html", page)})
        self.addCleanup(web.close)
        prof = write_profile(scratch(), "chrome-devtools-test", (
            "extends: [chrome-devtools]\n"
            f"network:\n  allow: [\"{ALLOWED}:{web.port}\"]\n  allow_private: [127.0.0.0/8]\n"))
        # The options its profile's description gives.
        cmd = [*npm_bin("chrome-devtools-mcp"), "--executablePath", "/usr/bin/chromium", "--headless", "--isolated",
               "--chromeArg=--no-sandbox"]
        s = Session(cmd, profile=prof)

        async def go():
            async with s.open() as c:
                good = text_of(await c.call_tool("new_page", {"url": f"http://{ALLOWED}:{web.port}/"}))
                bad = text_of(await c.call_tool("new_page", {"url": f"http://{OTHER}:{web.port}/"}))
                return good, bad

        (good, err), (bad, _) = run(go())
        self.assertFalse(err, good + s.stderr())
        self.assertIn(f"Sandboxed page (http://{ALLOWED}:{web.port}/)", good)
        self.assertNotIn(f"Sandboxed page (http://{OTHER}", bad)
        self.assertTrue(all(h.startswith(ALLOWED) for h, _, _ in web.requests), web.requests)
        self.assertIn(f"refused {OTHER}:{web.port}", s.stderr())


PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin"))
DB = "db.mcpcell.test"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class LocalPostgres:
    """A real PostgreSQL (Debian's postgresql package) in a scratch directory, on the host's
    loopback and a Unix socket for the test's own psql. As root it runs as the `postgres`
    user: it refuses to run as root. It logs every connection it receives (`log_connections`),
    so that the tests can count, from outside, the ones that came over TCP."""

    def __init__(self):
        self.dir = scratch()
        self.sock = self.dir / "sock"
        self.sock.mkdir()
        data = self.dir / "data"
        as_owner = []
        if os.geteuid() == 0:
            # runuser is in /usr/sbin, which an ordinary PATH (a container's) leaves out.
            as_owner = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sock, "postgres")
        self.user = "mcpcell"
        self.port = free_port()
        subprocess.run([*as_owner, str(PG_BIN / "initdb"), "-A", "trust", "-U", self.user, "-D", str(data)],
                       check=True, capture_output=True, cwd=self.dir)
        self.log = self.dir / "postgres.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([*as_owner, str(PG_BIN / "postgres"), "-D", str(data), "-k", str(self.sock),
                                          "-c", "listen_addresses=127.0.0.1", "-p", str(self.port),
                                          "-c", "log_connections=on"],
                                         stdout=subprocess.DEVNULL, stderr=log, cwd=self.dir)
        deadline = time.monotonic() + 60
        while self.psql("SELECT 1").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"PostgreSQL did not start on port {self.port}:\n"
                                   + self.log.read_text(errors="replace")[-2000:])
            time.sleep(0.1)

    def psql(self, sql):
        return subprocess.run(["psql", "-h", str(self.sock), "-p", str(self.port), "-U", self.user, "-d", "postgres",
                               "-tAc", sql], capture_output=True, text=True)

    def tcp_connections(self):
        """How many TCP connections this PostgreSQL has received (the test's own psql comes
        over the Unix socket, logged as `host=[local]`)."""
        return len(re.findall(r"connection received: host=(?!\[local\])", self.log.read_text(errors="replace")))

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def psql_inside(profile, url):
    return mcpcell_run(["-p", str(profile), "--set-env", "PGCONNECT_TIMEOUT=5", "--", "psql", url, "-tAc",
                        "SELECT body FROM notes"])


def fails_closed(test, s, tool, args, secret, connections):
    """In the namespace-free tier, a database server whose client ignores the proxy cannot
    reach its database: the tool call fails (or the server gives up and the session ends),
    nothing it asked for comes back, the database counts no connection from it (`connections`,
    read from outside), and mcpcell's log names the loss."""
    before = connections()

    async def go():
        async with s.open() as c:
            return text_of(await c.call_tool(tool, args))

    try:
        text, err = run(go())
    except Exception as e:  # noqa: BLE001 - a failed connect may end the session or come back as a JSON-RPC error
        text, err = repr(e), True
    test.assertTrue(err, text)
    test.assertNotIn(secret, text)
    test.assertEqual(connections(), before, "the database was reached from the sandbox")
    test.assertIn(PROXY_UNAWARE_LOSS, s.stderr())


class Postgres(unittest.TestCase):
    """The reference PostgreSQL server against a real local database. The profile grants the
    database the user names, by name and port, through the proxy: here a name pinned to the
    local database."""

    def setUp(self):
        require((PG_BIN / "postgres").exists(), f"PostgreSQL under {PG_BIN} (apt install postgresql)")
        require((NODE_MODULES / "@modelcontextprotocol/server-postgres").is_dir(), "@modelcontextprotocol/server-postgres")
        self.pg = LocalPostgres()
        self.addCleanup(self.pg.close)
        self.other = LocalPostgres()
        self.addCleanup(self.other.close)
        for db, text in ((self.pg, "from the granted database"), (self.other, "second service")):
            r = db.psql(f"CREATE TABLE notes (body text); INSERT INTO notes VALUES ('{text}')")
            self.assertEqual(r.returncode, 0, r.stderr)
        # What a user adds for a database on this machine: its name, pinned to its address.
        # The second database is pinned too (under a name that is not allowed).
        self.profile = write_profile(self.pg.dir, "postgres-test", (
            "extends: [postgres]\n"
            f"network:\n  allow: [\"{DB}:5432\"]\n"
            f"  hosts: {{{DB}: \"127.0.0.1:{self.pg.port}\", {OTHER}: \"127.0.0.1:{self.other.port}\"}}\n"
            "  allow_private: [127.0.0.1/32]\n"))

    def test_read_only_query_on_the_granted_database(self):
        s = Session([*npm_bin("@modelcontextprotocol/server-postgres"), f"postgresql://{self.pg.user}@{DB}:5432/postgres"],
                    profile=self.profile)
        if TIER:
            return fails_closed(self, s, "query", {"sql": "SELECT body FROM notes"}, "from the granted database",
                                self.pg.tcp_connections)

        async def go():
            async with s.open() as c:
                self.assertIn("query", [t.name for t in (await c.list_tools()).tools])
                rows = text_of(await c.call_tool("query", {"sql": "SELECT body FROM notes"}))
                # Read-only is the server's own doing (a READ ONLY transaction), not the
                # sandbox's; it answers a write with a protocol error.
                with self.assertRaisesRegex(Exception, "read-only transaction"):
                    await c.call_tool("query", {"sql": "INSERT INTO notes VALUES ('x')"})
                return rows

        rows, err = run(go())
        self.assertFalse(err, rows + s.stderr())
        self.assertEqual(json.loads(rows), [{"body": "from the granted database"}])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM notes").stdout.strip(), "1")
        self.assertIn(f"proxy: connected to {DB}:5432", s.stderr())

    def test_no_second_database_and_no_home(self):
        user = self.other.user
        # The second database: by its pinned name (not allowed), by address, through the
        # granted name on another port.
        for url in (f"postgresql://{user}@{OTHER}:5432/postgres",
                    f"postgresql://{user}@127.0.0.1:{self.other.port}/postgres",
                    f"postgresql://{user}@{DB}:{self.other.port}/postgres"):
            r = psql_inside(self.profile, url)
            self.assertNotIn("second service", r.stdout, url)
            self.assertNotEqual(r.returncode, 0, url)
        self.assertEqual(self.other.tcp_connections(), 0, "the second database was reached")
        if TIER:
            # Even the granted database is out of reach: psql (libpq) ignores the proxy, which
            # the tier cannot redirect it to (a named loss); by name it finds no address, by
            # address its connect is refused. Control: the same psql without mcpcell reaches
            # both, and their logs count it.
            for url in (f"postgresql://{user}@{DB}:5432/postgres", f"postgresql://{user}@127.0.0.1:{self.pg.port}/postgres"):
                r = psql_inside(self.profile, url)
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertNotIn("from the granted database", r.stdout)
                self.assertIn(PROXY_UNAWARE_LOSS, r.stderr)
            self.assertEqual(self.pg.tcp_connections(), 0, "the database was reached from the sandbox")
            for db, text in ((self.pg, "from the granted database"), (self.other, "second service")):
                r = subprocess.run(["psql", f"postgresql://{db.user}@127.0.0.1:{db.port}/postgres", "-tAc",
                                    "SELECT body FROM notes"], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.stdout.strip(), text, r.stderr)
                self.assertEqual(db.tcp_connections(), 1)
        else:
            # Control: the granted database answers the same psql, and allowing the second name
            # is all it takes to reach the second one.
            r = psql_inside(self.profile, f"postgresql://{user}@{DB}:5432/postgres")
            self.assertEqual(r.stdout.strip(), "from the granted database", r.stderr)
            both = write_profile(self.pg.dir, "postgres-both",
                                 f"extends: [\"{self.profile}\"]\nnetwork:\n  allow: [\"{OTHER}:5432\"]\n")
            r = psql_inside(both, f"postgresql://{user}@{OTHER}:5432/postgres")
            self.assertEqual(r.stdout.strip(), "second service", r.stderr)
            self.assertGreater(self.other.tcp_connections(), 0)
        home = scratch()
        (home / ".pgpass").write_text("*:*:*:*:home-secret\n")
        r = mcpcell_run(["-p", str(self.profile), "--", "cat", str(home / ".pgpass")], env={"HOME": str(home)})
        self.assertNotIn("home-secret", r.stdout)
        self.assertNotEqual(r.returncode, 0)

class LocalRedis:
    """A real Redis (Debian's redis-server) on the host's loopback, nothing kept on disk."""

    def __init__(self):
        self.dir = scratch()
        self.port = free_port()
        self.own = 0
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while self.cli("PING").stdout.strip() != "PONG":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.1)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        if r.returncode == 0:
            self.own += 1
        return r

    def connections(self):
        """How many connections this Redis has accepted from anything but the test's own
        `cli` (INFO stats, read from outside)."""
        out = self.cli("INFO", "stats").stdout
        return int(re.search(r"total_connections_received:(\d+)", out).group(1)) - self.own

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class Redis(unittest.TestCase):
    """The reference Redis server against a real local Redis, through a pinned name."""

    def setUp(self):
        require(shutil.which("redis-server"), "redis-server (apt install redis-server)")
        require((NODE_MODULES / "@modelcontextprotocol/server-redis").is_dir(), "@modelcontextprotocol/server-redis")
        self.redis = LocalRedis()
        self.addCleanup(self.redis.close)
        self.other = LocalRedis()
        self.addCleanup(self.other.close)
        self.other.cli("SET", "secret", "second service")
        self.profile = write_profile(self.redis.dir, "redis-test", (
            "extends: [redis]\n"
            f"network:\n  allow: [\"{DB}:6379\"]\n"
            f"  hosts: {{{DB}: \"127.0.0.1:{self.redis.port}\", {OTHER}: \"127.0.0.1:{self.other.port}\"}}\n"
            "  allow_private: [127.0.0.1/32]\n"))

    def session(self, url):
        return Session([*npm_bin("@modelcontextprotocol/server-redis"), url], profile=self.profile)

    def test_set_and_get_on_the_granted_redis(self):
        s = self.session(f"redis://{DB}:6379")
        if TIER:
            fails_closed(self, s, "set", {"key": "mcpcell", "value": "from the sandbox"}, "from the sandbox",
                         self.redis.connections)
            self.assertEqual(self.redis.cli("GET", "mcpcell").stdout.strip(), "")
            return

        async def go():
            async with s.open() as c:
                self.assertIn("set", [t.name for t in (await c.list_tools()).tools])
                _, err = text_of(await c.call_tool("set", {"key": "mcpcell", "value": "from the sandbox"}))
                self.assertFalse(err)
                return text_of(await c.call_tool("get", {"key": "mcpcell"}))

        text, err = run(go())
        self.assertFalse(err, text + s.stderr())
        self.assertIn("from the sandbox", text)
        self.assertEqual(self.redis.cli("GET", "mcpcell").stdout.strip(), "from the sandbox")
        self.assertIn(f"proxy: connected to {DB}:6379", s.stderr())

    def test_no_second_redis(self):
        for url in (f"redis://{OTHER}:6379", f"redis://127.0.0.1:{self.other.port}", f"redis://{DB}:{self.other.port}"):
            r = mcpcell_run(["-p", str(self.profile), "--", "redis-cli", "-u", url, "GET", "secret"], timeout=30)
            self.assertNotIn("second service", r.stdout, url)
        self.assertEqual(self.other.connections(), 0, "the second Redis was reached")
        if TIER:
            # Even the granted Redis is out of reach: redis-cli ignores the proxy, which the
            # tier cannot redirect it to (a named loss); by name it finds no address, by
            # address its connect is refused. Control: the same client without mcpcell
            # reaches it, and its count shows it.
            for url in (f"redis://{DB}:6379", f"redis://127.0.0.1:{self.redis.port}"):
                r = mcpcell_run(["-p", str(self.profile), "--", "redis-cli", "-u", url, "PING"], timeout=30)
                self.assertNotEqual(r.stdout.strip(), "PONG", r.stderr)
                self.assertIn(PROXY_UNAWARE_LOSS, r.stderr)
            self.assertEqual(self.redis.connections(), 0, "the Redis was reached from the sandbox")
            r = subprocess.run(["redis-cli", "-u", f"redis://127.0.0.1:{self.redis.port}", "PING"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.stdout.strip(), "PONG", r.stderr)
            self.assertEqual(self.redis.connections(), 1)
            return
        # Control: the granted Redis answers the same client, and allowing the second name
        # reaches the second one.
        r = mcpcell_run(["-p", str(self.profile), "--", "redis-cli", "-u", f"redis://{DB}:6379", "PING"])
        self.assertEqual(r.stdout.strip(), "PONG", r.stderr)
        both = write_profile(self.redis.dir, "redis-both",
                             f"extends: [\"{self.profile}\"]\nnetwork:\n  allow: [\"{OTHER}:6379\"]\n")
        r = mcpcell_run(["-p", str(both), "--", "redis-cli", "-u", f"redis://{OTHER}:6379", "GET", "secret"])
        self.assertEqual(r.stdout.strip(), "second service", r.stderr)
        self.assertGreater(self.other.connections(), 0)


def unix_get(sock, path):
    """GET `path` from the HTTP API on the Unix socket `sock`, from outside the sandbox."""
    import http.client

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(10)
            self.sock.connect(str(sock))

    c = Conn("localhost")
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def unix_listener(path):
    """A Unix socket listener at `path` that records whether anything connected."""
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    os.chmod(path, 0o777)
    s.listen(8)
    s.settimeout(0.3)
    return s


class LocalPodman:
    """Podman's Docker-compatible API (`podman system service`, Debian's podman) on a Unix
    socket in a scratch directory, with its own storage there: rootful as root, rootless as
    an ordinary user. A stand-in for the Docker daemon, which is root on the host just the
    same."""

    def __init__(self):
        self.dir = scratch()
        self.sock = self.dir / "podman.sock"
        self.podman = ["podman", "--root", str(self.dir / "storage"), "--runroot", str(self.dir / "run"),
                       "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        # A process group of its own: rootless, podman re-executes itself inside its user
        # namespace, and the service is that child, which outlives a signal to the parent.
        self.proc = subprocess.Popen(
            [*self.podman, "system", "service", "--time=0", f"unix://{self.sock}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True)
        # Rootless, the first start sets up the user namespace and storage: give it time.
        for _ in range(300):
            try:
                if unix_get(self.sock, "/_ping")[1] == "OK":
                    break
            except OSError:
                pass
            time.sleep(0.1)

    def volumes(self):
        return [v["Name"] for v in json.loads(unix_get(self.sock, "/v1.41/volumes")[1])["Volumes"] or []]

    def close(self):
        import signal
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)
        # The group is gone once nothing answers on the socket any more.
        for _ in range(100):
            try:
                unix_get(self.sock, "/_ping")
            except OSError:
                break
            time.sleep(0.1)
        # What the scratch directory's removal cannot do itself. Not `podman system reset`: it
        # also removes every network podman knows, and those are the host's, whatever --root.
        if os.geteuid() == 0:
            # Rootful podman leaves its storage's overlay directory mounted (deepest first).
            with open("/proc/self/mountinfo") as f:
                points = [line.split()[4] for line in f]
            under = str(self.dir) + "/"
            for point in sorted((p for p in points if p.startswith(under)), key=len, reverse=True):
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=60)
        else:
            # Rootless, the storage holds files owned by sub-UIDs, removable only inside
            # podman's user namespace.
            subprocess.run([*self.podman, "unshare", "rm", "-rf", str(self.dir / "storage")],
                           capture_output=True, timeout=120)
        if os.geteuid() != 0:
            # Rootless podman leaves a pause process holding its user namespace; this stops it.
            subprocess.run([*self.podman, "system", "migrate"], capture_output=True, timeout=60)


class Docker(unittest.TestCase):
    """mcp-server-docker against Podman's Docker-compatible API. The profile grants no socket
    of its own: the user opts in by linking the daemon's socket at
    ${XDG_CONFIG_HOME}/mcpcell/docker.sock, and without that link nothing starts."""

    def setUp(self):
        require(shutil.which("podman"), "podman (apt install podman uidmap; .ci/run installs them)")
        self.exe = PY_SERVERS_BIN / "mcp-server-docker"
        require(self.exe.exists(), f"mcp-server-docker under {PY_SERVERS_BIN}")
        self.podman = LocalPodman()
        self.addCleanup(self.podman.close)
        require(self.podman.volumes() == [], "podman system service answering on its socket")
        self.config = scratch()
        self.link = self.config / "mcpcell" / "docker.sock"

    def opt_in(self):
        self.link.parent.mkdir()
        self.link.symlink_to(self.podman.sock)

    def env(self, **more):
        # A DOCKER_HOST of the client's own, which the profile replaces with the linked socket.
        return {"XDG_CONFIG_HOME": str(self.config), "DOCKER_HOST": "tcp://127.0.0.1:2375", **more}

    def test_refuses_to_start_without_the_users_link(self):
        for cmd in ([str(self.exe)], ["sh", "-c", "echo started"]):
            r = mcpcell_run(["-p", "docker", "--", *cmd], env=self.env())
            self.assertEqual(r.returncode, 125, r.stderr)
            self.assertEqual(r.stdout, "")
            self.assertIn("(network.unix[0])", r.stderr)
            self.assertIn(f"`{self.link}` does not exist, and it is marked as required", r.stderr)
        self.assertEqual(self.podman.volumes(), [])
        # A link to nothing is no opt-in either.
        self.link.parent.mkdir()
        self.link.symlink_to(self.podman.dir / "gone.sock")
        r = mcpcell_run(["-p", "docker", "--", "sh", "-c", "echo started"], env=self.env())
        self.assertEqual((r.returncode, r.stdout), (125, ""), r.stderr)
        # Control: with the link to the daemon's socket, the same command starts.
        self.link.unlink()
        self.link.symlink_to(self.podman.sock)
        r = mcpcell_run(["-p", "docker", "--", "sh", "-c", "echo started"], env=self.env())
        self.assertEqual((r.returncode, r.stdout), (0, "started\n"), r.stderr)

    def test_tool_call_through_the_linked_socket(self):
        self.opt_in()
        name = f"mcpcell-{os.getpid()}-{int(time.time())}"
        s = Session([str(self.exe)], profile="docker", env=self.env())

        async def go():
            async with s.open() as c:
                self.assertIn("create_volume", [t.name for t in (await c.list_tools()).tools])
                created = text_of(await c.call_tool("create_volume", {"name": name}))
                listed = text_of(await c.call_tool("list_volumes", {}))
                return created, listed

        (created, err), (listed, _) = run(go())
        self.assertFalse(err, created + s.stderr())
        self.assertIn(name, listed)
        # Seen from outside: the daemon made the volume.
        self.assertEqual(self.podman.volumes(), [name])
        self.assertIn("profile=docker", s.stderr())

    def test_no_other_socket_no_other_host_no_home(self):
        self.opt_in()
        # A second daemon's socket beside the granted one, and another elsewhere.
        beside = unix_listener(self.podman.dir / "other.sock")
        elsewhere = unix_listener(scratch() / "agent.sock")
        self.addCleanup(beside.close)
        self.addCleanup(elsewhere.close)
        tcp, port = host_listener()
        self.addCleanup(tcp.close)
        home = scratch()
        (home / ".docker").mkdir()
        (home / ".docker" / "config.json").write_text('{"auths": {"registry.example": {"auth": "registry-secret"}}}')
        (home / "notes.txt").write_text("home-secret")
        show_home = f"cat {home}/notes.txt {home}/.docker/config.json"

        def inside(cmd, profile="docker"):
            return mcpcell_run(["-p", str(profile), "--", "sh", "-c", cmd], env=self.env(HOME=str(home)))

        for sock in (self.podman.dir / "other.sock", Path(elsewhere.getsockname())):
            r = inside(f"curl -sS -m 5 --unix-socket {sock} http://d/ && echo REACHED")
            self.assertNotIn("REACHED", r.stdout, sock)
        self.assertFalse(got_connection(beside))
        self.assertFalse(got_connection(elsewhere))
        r = inside(f"curl -sS -m 5 http://127.0.0.1:{port}/; curl -sS -m 5 --noproxy '*' http://127.0.0.1:{port}/")
        self.assertFalse(got_connection(tcp), "a TCP service on the host's loopback was reached")
        r = inside(show_home)
        self.assertNotIn("home-secret", r.stdout)
        self.assertNotIn("registry-secret", r.stdout)
        # Controls: the linked socket answers the same client (at the link's path, which the
        # server is given as DOCKER_HOST); a profile that lists the socket beside it reaches
        # that one too; the TCP listener and the home are seen when reached or granted.
        r = inside('curl -sS -m 5 --unix-socket "${DOCKER_HOST#unix://}" http://d/_ping')
        self.assertEqual(r.stdout, "OK", r.stderr)
        both = write_profile(scratch(), "docker-both", f"extends: [docker]\nnetwork:\n  unix: [\"{self.podman.dir / 'other.sock'}\"]\n")
        inside(f"curl -sS -m 5 --unix-socket {self.podman.dir / 'other.sock'} http://d/", profile=both)
        self.assertTrue(got_connection(beside))
        subprocess.run(["curl", "-sS", "-m", "5", f"http://127.0.0.1:{port}/"], capture_output=True)
        self.assertTrue(got_connection(tcp))
        opened = write_profile(scratch(), "docker-home", f"extends: [docker]\nfilesystem:\n  read: [\"{home}\"]\n")
        r = inside(show_home, profile=opened)
        self.assertIn("home-secret", r.stdout)
        # The registry credentials stay hidden even then (the default profile's `hide`).
        self.assertNotIn("registry-secret", r.stdout)


class DesktopCommander(unittest.TestCase):
    """A shell-running server: the project directory it is given, and nothing of the home
    around it, even after it turns its own directory restriction off."""

    def test_a_cell_around_the_project(self):
        require((NODE_MODULES / "@wonderwhy-er/desktop-commander").is_dir(), "@wonderwhy-er/desktop-commander")
        home = scratch()
        project = home / "src" / "project"
        project.mkdir(parents=True)
        (project / "README.md").write_text("the project\n")
        (home / "private").mkdir()
        (home / "private" / "notes.txt").write_text("home-secret\n")
        listener, port = host_listener()
        self.addCleanup(listener.close)
        env = {"HOME": str(home)}

        def session(*opts):
            return Session(npm_bin("@wonderwhy-er/desktop-commander"), profile="desktop-commander",
                           opts=["--allow-write", str(project), *opts], env=env)

        async def go(s):
            async with s.open() as c:
                self.assertIn("start_process", [t.name for t in (await c.list_tools()).tools])
                # The server's own fence, switched off as an agent could do it.
                _, err = text_of(await c.call_tool("set_config_value", {"key": "allowedDirectories", "value": []}))
                self.assertFalse(err)
                wrote, err = text_of(await c.call_tool("write_file", {"path": str(project / "new.txt"), "content": "written", "mode": "rewrite"}))
                self.assertFalse(err, wrote)
                shell, _ = text_of(await c.call_tool("start_process", {
                    "command": f"cat {project}/README.md {home}/private/notes.txt; "
                               f"curl -sS -m 3 --noproxy '*' http://127.0.0.1:{port}/ && echo REACHED",
                    "timeout_ms": 10000}))
                key, _ = text_of(await c.call_tool("read_file", {"path": str(home / "private" / "notes.txt")}))
                return shell, key

        s = session()
        shell, key = run(go(s))
        self.assertEqual((project / "new.txt").read_text(), "written")
        self.assertIn("the project", shell, s.stderr())
        self.assertNotIn("home-secret", shell)
        self.assertNotIn("home-secret", key)
        self.assertNotIn("REACHED", shell)
        self.assertFalse(got_connection(listener))
        # Its configuration went to its state directory, not the home it was given.
        self.assertFalse((home / ".claude-server-commander").exists())
        self.assertTrue(list(s.state_home.glob("mcpcell/desktop-commander/*/home/.claude-server-commander/config.json")))
        # Control: with that directory of the home granted too, the same calls read it.
        s = session("--allow-read", str(home / "private"))
        shell, key = run(go(s))
        self.assertIn("home-secret", shell + key)


if __name__ == "__main__":
    unittest.main()
