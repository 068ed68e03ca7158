"""Time to initialize each real server, bare and under mcpcell with its built-in profile.

A measurement, not a test: it prints a table (median of several runs) and never fails on
the numbers. Run: MCPCELL_BIN=... python timing.py [RUNS] [SERVER...]
"""

import asyncio
import statistics
import sys

from harness import DEPS, NODE_MODULES, PY_BIN, PY_SQLITE_BIN, Session, node_server, scratch
from test_profiles import LocalPodman, npm_bin

PY_SERVERS = DEPS / "python-servers"
PY_SDK1 = DEPS / "python-servers-sdk1"


def servers():
    d = scratch()
    return [
        ("filesystem", node_server("@modelcontextprotocol/server-filesystem", str(d))),
        ("memory", node_server("@modelcontextprotocol/server-memory")),
        ("everything", node_server("@modelcontextprotocol/server-everything")),
        ("sequential-thinking", node_server("@modelcontextprotocol/server-sequential-thinking")),
        ("github", node_server("@modelcontextprotocol/server-github")),
        ("brave-search", npm_bin("@brave/brave-search-mcp-server")),
        ("playwright", ["node", str(NODE_MODULES / "@playwright" / "mcp" / "cli.js")]),
        ("time", [str(PY_BIN / "mcp-server-time")]),
        ("git", [str(PY_BIN / "mcp-server-git")]),
        ("fetch", [str(PY_BIN / "mcp-server-fetch")]),
        ("sqlite", [str(PY_SQLITE_BIN / "mcp-server-sqlite"), "--db-path", str(d / "t.db")]),
        # The profile library (integration/test_profiles.py).
        ("context7", npm_bin("@upstash/context7-mcp")),
        ("tavily", npm_bin("tavily-mcp")),
        ("exa", npm_bin("exa-mcp-server")),
        ("perplexity-ask", npm_bin("server-perplexity-ask")),
        ("slack", npm_bin("@modelcontextprotocol/server-slack")),
        ("firecrawl", npm_bin("firecrawl-mcp")),
        ("notion", npm_bin("@notionhq/notion-mcp-server")),
        ("figma", [*npm_bin("figma-developer-mcp"), "--stdio"]),
        ("postgres", [*npm_bin("@modelcontextprotocol/server-postgres"), "postgresql://u@db.example/db"]),
        ("desktop-commander", npm_bin("@wonderwhy-er/desktop-commander")),
        ("aws-documentation", [str(DEPS / "python-servers" / "bin" / "awslabs.aws-documentation-mcp-server")]),
        ("sentry", npm_bin("@sentry/mcp-server")),
        ("linear", npm_bin("@tacticlaunch/mcp-linear")),
        ("google-maps", npm_bin("@modelcontextprotocol/server-google-maps")),
        ("gitlab", npm_bin("@modelcontextprotocol/server-gitlab")),
        ("terraform", npm_bin("terraform-mcp-server")),
        ("puppeteer", npm_bin("@modelcontextprotocol/server-puppeteer")),
        ("chrome-devtools", [*npm_bin("chrome-devtools-mcp"), "--executablePath", "/usr/bin/chromium", "--headless",
                             "--isolated", "--chromeArg=--no-sandbox"]),
        ("prometheus", [str(PY_SERVERS / "bin" / "prometheus-mcp-server")]),
        ("grafana", [str(PY_SERVERS / "bin" / "mcp-grafana")],
         {"opts": ["--allow-exec", str(next((PY_SERVERS / "lib").glob("python3*/site-packages/mcp_grafana/bin/mcp-grafana"),
                                            PY_SERVERS))]}),
        ("home-assistant", [str(PY_SDK1 / "bin" / "hass-mcp")]),
        ("atlassian", [str(PY_SDK1 / "bin" / "mcp-atlassian")]),
        ("obsidian", [str(PY_SDK1 / "bin" / "mcp-obsidian")]),
        ("docker", [str(PY_SERVERS / "bin" / "mcp-server-docker")], {"daemon": True}),
    ]


async def initialize_seconds(session):
    """Wall time from starting the process to the end of the initialize exchange."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with session.open():
        return loop.time() - t0


def measure(cmd, profile, runs, extra=None):
    extra = extra or {}
    env = {"BRAVE_API_KEY": "x", "GITHUB_PERSONAL_ACCESS_TOKEN": "x", "TAVILY_API_KEY": "x", "EXA_API_KEY": "x",
           "PERPLEXITY_API_KEY": "x", "SLACK_BOT_TOKEN": "x", "SLACK_TEAM_ID": "x", "FIRECRAWL_API_KEY": "x",
           "NOTION_TOKEN": "x", "FIGMA_API_KEY": "x", "SENTRY_ACCESS_TOKEN": "x", "LINEAR_API_TOKEN": "x",
           "GOOGLE_MAPS_API_KEY": "x", "GITLAB_PERSONAL_ACCESS_TOKEN": "x",
           "PROMETHEUS_URL": "https://prometheus.example", "GRAFANA_URL": "https://grafana.example",
           "HA_URL": "https://ha.example", "HA_TOKEN": "x", "JIRA_URL": "https://example.atlassian.net",
           "JIRA_USERNAME": "x", "JIRA_API_TOKEN": "x", "OBSIDIAN_API_KEY": "x",
           # Servers that keep files in $HOME (desktop-commander) keep them here when bare.
           "HOME": str(scratch())}
    bare_env, jailed_env = dict(env), dict(env)
    daemon = None
    if extra.get("daemon"):
        # The docker server asks its daemon for the API version as it starts: a live Podman,
        # reached bare through DOCKER_HOST and under mcpcell through the user's link.
        daemon = LocalPodman()
        config = scratch()
        (config / "mcpcell").mkdir()
        (config / "mcpcell" / "docker.sock").symlink_to(daemon.sock)
        bare_env["DOCKER_HOST"] = f"unix://{daemon.sock}"
        jailed_env["XDG_CONFIG_HOME"] = str(config)
    try:
        bare = [asyncio.run(initialize_seconds(Session(cmd, bare=True, env=bare_env))) for _ in range(runs)]
        jailed = [asyncio.run(initialize_seconds(Session(cmd, profile=profile, env=jailed_env,
                                                         opts=extra.get("opts", ()))))
                  for _ in range(runs)]
    finally:
        if daemon:
            daemon.close()
    return statistics.median(bare), statistics.median(jailed)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    only = set(sys.argv[2:])
    print(f"Time to initialize, median of {runs} runs (start the process, complete `initialize`)\n")
    print("| server | bare (ms) | mcpcell (ms) | added (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for name, cmd, *extra in servers():
        if only and name not in only:
            continue
        try:
            b, j = measure(cmd, name, runs, *extra)
        except Exception as e:  # a missing server is reported, not fatal
            print(f"| {name} | n/a | n/a | {type(e).__name__}: {e} |")
            continue
        print(f"| {name} | {b * 1000:.0f} | {j * 1000:.0f} | {(j - b) * 1000:+.0f} |")


if __name__ == "__main__":
    main()
