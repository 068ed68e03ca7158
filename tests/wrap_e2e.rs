//! End to end: wrap a Claude-Desktop-style config of real MCP servers (the official memory
//! server and mcp-server-time, as `integration/setup.sh` installs them), then start every
//! wrapped entry exactly as a client does (its command, args and env, with a client's
//! minimal PATH) and complete an MCP `initialize` and `tools/list` through mcpcell.
//!
//! Without the servers the test says so and skips; under `CI=true` it fails instead.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(60);

/// A client's end of one server: JSON-RPC messages, one per line, over the server's stdio.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    name: String,
}

impl Session {
    fn start(name: &str, command: &str, args: &[String], env: &[(String, String)]) -> Session {
        let mut c = Command::new(command);
        // What a desktop client passes on: a minimal PATH, the home directory, and the
        // entry's env block.
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("XDG_STATE_HOME", state_home())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(h) = std::env::var_os("HOME") {
            c.env("HOME", h);
        }
        let mut child = c
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: failed to start {command}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines,
            name: name.to_string(),
        }
    }

    fn send(&mut self, msg: &Value) {
        let mut line = msg.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("{}: failed to write: {e}", self.name));
        self.stdin.flush().unwrap();
    }

    /// The response to request `id`, skipping notifications and log messages.
    fn response(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("{}: no response to request {id} within {T:?}", self.name)
            });
            let msg: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: not JSON-RPC on stdout ({e}): {line}", self.name));
            if msg["id"] == json!(id) {
                assert!(
                    msg.get("error").is_none(),
                    "{}: request {id} failed: {msg}",
                    self.name
                );
                return msg["result"].clone();
            }
        }
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.response(id)
    }

    /// Closes stdin, as a client does, and waits for the server to go.
    fn close(mut self) {
        drop(self.stdin);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this user can run the program at all (outside any sandbox).
fn runs(program: &Path, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn wrapped_servers_answer_initialize_and_tools_list() {
    let memory = node_modules().join("@modelcontextprotocol/server-memory/dist/index.js");
    let venv = venv();
    let time = venv.join("bin/mcp-server-time");
    if !require(
        memory.is_file(),
        "the MCP memory server (run integration/setup.sh)",
    ) || !require(time.is_file(), "mcp-server-time (run integration/setup.sh)")
        || !require(which::which("node").is_ok(), "node on PATH")
        || !require(landlock_abi() >= 1, "Landlock")
    {
        return;
    }
    // An environment built from an interpreter under another user's home (pyenv as root) is
    // not this user's to run; then only the Node server is exercised here.
    let python_usable = runs(&venv.join("bin/python3"), "--version");
    if !python_usable {
        eprintln!(
            "SKIPPED for this user: mcp-server-time, since {} cannot be run by uid {}",
            venv.display(),
            nix::unistd::geteuid()
        );
    }

    let d = scratch();
    let dir = d.path();
    let config = dir.join("claude_desktop_config.json");
    let mut servers = json!({
        "memory": {
            "command": "node",
            "args": [memory],
            "env": {"MEMORY_FILE_PATH": dir.join("memory.jsonl")}
        },
        "remote": {"type": "http", "url": "https://mcp.example.invalid/mcp"}
    });
    if python_usable {
        servers["time"] = json!({
            "command": time,
            "args": ["--local-timezone", "UTC"]
        });
    }
    let original = serde_json::to_string_pretty(&json!({ "mcpServers": servers })).unwrap() + "\n";
    std::fs::write(&config, &original).unwrap();

    let out = output_within(
        {
            let mut c = Command::new(mcpcell());
            // No --profile: each server's built-in profile is inferred from its command.
            c.arg("wrap")
                .arg(&config)
                .arg("--write")
                .env("XDG_STATE_HOME", state_home());
            c
        },
        T,
    );
    let report = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.contains("remote: skipped, remote"), "{report}");

    let wrapped: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let launcher = mcpcell().canonicalize().unwrap();
    let mut seen = Vec::new();
    for (name, entry) in wrapped["mcpServers"].as_object().unwrap() {
        let Some(command) = entry["command"].as_str() else {
            continue;
        };
        assert_eq!(
            Path::new(command),
            launcher,
            "{name} is not wrapped: {entry}"
        );
        let args: Vec<String> = serde_json::from_value(entry["args"].clone()).unwrap();
        assert_eq!(args[0], "run", "{name}: {args:?}");
        // The server's own built-in profile, chosen from its command.
        assert!(
            args.windows(2)
                .any(|w| (w[0] == "-p" || w[0] == "--profile") && w[1] == *name),
            "{name}: not wrapped with its own profile: {args:?}"
        );
        let env: Vec<(String, String)> = entry["env"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        for (k, _) in &env {
            assert!(
                args.windows(2).any(|w| w[0] == "--pass-env" && w[1] == *k),
                "{name}: {k} is not passed: {args:?}"
            );
        }

        let mut s = Session::start(name, command, &args, &env);
        let init = s.request(
            1,
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcpcell-wrap-test", "version": "1.0"}
            }),
        );
        assert!(
            init["serverInfo"]["name"].is_string(),
            "{name}: initialize result without serverInfo: {init}"
        );
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        let tools = s.request(2, "tools/list", json!({}));
        let names: Vec<&str> = tools["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: tools/list without tools: {tools}"))
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let expected = match name.as_str() {
            "memory" => "read_graph",
            "time" => "get_current_time",
            other => panic!("unexpected server {other}"),
        };
        assert!(names.contains(&expected), "{name}: tools {names:?}");
        s.close();
        seen.push(name.clone());
    }
    let expected: &[&str] = if python_usable {
        &["memory", "time"]
    } else {
        &["memory"]
    };
    assert_eq!(seen, expected);

    // And back: unwrap gives the original file.
    let out = output_within(
        {
            let mut c = Command::new(mcpcell());
            c.arg("unwrap").arg(&config).arg("--write");
            c
        },
        T,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}
