"""Time to initialize each real server, bare and under mcpcell with its built-in profile.

A measurement, not a test: it prints a table (median of several runs) and never fails on
the numbers. Run: MCPCELL_BIN=... python timing.py [RUNS]
"""

import asyncio
import statistics
import sys

from harness import NODE_MODULES, PY_BIN, PY_SQLITE_BIN, Session, node_server, scratch


def servers():
    d = scratch()
    return [
        ("filesystem", node_server("@modelcontextprotocol/server-filesystem", str(d))),
        ("memory", node_server("@modelcontextprotocol/server-memory")),
        ("everything", node_server("@modelcontextprotocol/server-everything")),
        ("sequential-thinking", node_server("@modelcontextprotocol/server-sequential-thinking")),
        ("github", node_server("@modelcontextprotocol/server-github")),
        ("brave-search", node_server("@modelcontextprotocol/server-brave-search")),
        ("playwright", ["node", str(NODE_MODULES / "@playwright" / "mcp" / "cli.js")]),
        ("time", [str(PY_BIN / "mcp-server-time")]),
        ("git", [str(PY_BIN / "mcp-server-git")]),
        ("fetch", [str(PY_BIN / "mcp-server-fetch")]),
        ("sqlite", [str(PY_SQLITE_BIN / "mcp-server-sqlite"), "--db-path", str(d / "t.db")]),
    ]


async def initialize_seconds(session):
    """Wall time from starting the process to the end of the initialize exchange."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with session.open():
        return loop.time() - t0


def measure(cmd, profile, runs):
    env = {"BRAVE_API_KEY": "x", "GITHUB_PERSONAL_ACCESS_TOKEN": "x"}
    bare = [asyncio.run(initialize_seconds(Session(cmd, bare=True, env=env))) for _ in range(runs)]
    jailed = [asyncio.run(initialize_seconds(Session(cmd, profile=profile, env=env))) for _ in range(runs)]
    return statistics.median(bare), statistics.median(jailed)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"Time to initialize, median of {runs} runs (start the process, complete `initialize`)\n")
    print("| server | bare (ms) | mcpcell (ms) | added (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for name, cmd in servers():
        try:
            b, j = measure(cmd, name, runs)
        except Exception as e:  # a missing server is reported, not fatal
            print(f"| {name} | n/a | n/a | {type(e).__name__}: {e} |")
            continue
        print(f"| {name} | {b * 1000:.0f} | {j * 1000:.0f} | {(j - b) * 1000:+.0f} |")


if __name__ == "__main__":
    main()
