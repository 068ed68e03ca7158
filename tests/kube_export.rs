//! `mcpcell export kubernetes`: the objects validate against the Kubernetes OpenAPI schemas
//! offline (kubernetes-validate, from integration/python/requirements.txt) for two
//! Kubernetes versions, and the pod's network shape works for real in network namespaces:
//! the sidecar and the server exactly as the export writes them, in one "app" namespace
//! whose only link goes to HTTP servers on the host side.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

fn export(args: &[&str]) -> Output {
    let out = mcpcell_cmd("export", &[&["kubernetes"], args].concat())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn documents(yaml: &[u8]) -> Vec<Value> {
    serde_yaml::Deserializer::from_slice(yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn validator() -> Option<PathBuf> {
    let v = venv().join("bin/kubernetes-validate");
    require(
        v.is_file(),
        "kubernetes-validate (integration/python/requirements.txt; integration/setup.sh installs it)",
    )
    .then_some(v)
}

/// kubernetes-validate --strict on `file` for `version`: (passed, its report).
fn validate(v: &Path, file: &Path, version: &str) -> (bool, String) {
    let out = Command::new(v)
        .args(["--strict", "-k", version])
        .arg(file)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}

#[test]
fn objects_validate_against_two_kubernetes_versions() {
    let Some(v) = validator() else { return };
    let dir = scratch();
    let host = profile(
        dir.path(),
        "hosty",
        "network: {mode: host, connect: [443], bind: [8080]}\nfilesystem:\n  read: [/srv/ref]\n  write: [/data]\n",
    );
    let user = profile(
        dir.path(),
        "webby",
        "extends: [python]\nfilesystem: {args: write}\nnetwork:\n  mode: proxy\n  allow: [\"api.example.com\", \"git.example.com:22\"]\nenv:\n  pass: [GITHUB_TOKEN]\n",
    );
    let host = host.to_str().unwrap();
    let user = user.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("none", vec!["-p", "default", "--", "server"]),
        ("host", vec!["-p", host, "--name", "hosty", "--", "server"]),
        (
            "proxy built-in",
            vec!["-p", "npx", "--", "npx", "-y", "@scope/server"],
        ),
        (
            "user file, proxy, passed env",
            vec![
                "-p",
                user,
                "--pass-env",
                "API_KEY",
                "--allow-host",
                "x.example.org",
                "--image",
                "registry.example.com/srv:1",
                "--",
                "srv",
                "/srv/data",
            ],
        ),
    ];
    for (what, args) in &cases {
        let out = export(args);
        let docs = documents(&out.stdout);
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert!(kinds.contains(&"Pod"), "{what}: {kinds:?}");
        let file = dir.path().join("objects.yaml");
        std::fs::write(&file, &out.stdout).unwrap();
        for version in VERSIONS {
            let (ok, report) = validate(&v, &file, version);
            assert!(ok, "{what} against {version}:\n{report}");
            // Every document was checked, not skipped for want of a schema.
            for k in &kinds {
                assert!(
                    report
                        .to_lowercase()
                        .contains(&format!("passed for resource {}", k.to_lowercase())),
                    "{what}: {k} not validated against {version}:\n{report}"
                );
            }
        }
        // The control: the same Pod with one wrong type is refused by the same check.
        let mut broken = docs.clone();
        let pod = broken.iter_mut().find(|d| d["kind"] == "Pod").unwrap();
        pod["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] =
            Value::String("ALL".into());
        let text: String = broken
            .iter()
            .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
            .collect();
        std::fs::write(&file, text).unwrap();
        let (ok, report) = validate(&v, &file, VERSIONS[0]);
        assert!(!ok, "{what}: a broken Pod passed:\n{report}");
    }
}

/// A network namespace with a veth pair to the host's namespace; removed on drop.
struct AppNs {
    name: String,
    host_if: String,
}

impl AppNs {
    fn new(net: u8) -> AppNs {
        let id = std::process::id();
        let ns = AppNs {
            name: format!("mcpcell-app-{id}"),
            host_if: format!("mcv{id}h"),
        };
        let app_if = format!("mcv{id}a");
        let host_addr = format!("10.203.{net}.1/30");
        let app_addr = format!("10.203.{net}.2/30");
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &ns.name],
            vec![
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &app_if,
            ],
            vec!["link", "set", &app_if, "netns", &ns.name],
            vec!["addr", "add", &host_addr, "dev", &ns.host_if],
            vec!["link", "set", &ns.host_if, "up"],
            vec!["-n", &ns.name, "addr", "add", &app_addr, "dev", &app_if],
            vec!["-n", &ns.name, "link", "set", &app_if, "up"],
            vec!["-n", &ns.name, "link", "set", "lo", "up"],
        ];
        for s in steps {
            let st = Command::new("ip").args(&s).status().unwrap();
            assert!(st.success(), "ip {s:?}");
        }
        ns
    }

    fn exec(&self) -> Command {
        // nsenter, not `ip netns exec`, which remounts /sys and so hides the cgroup
        // hierarchy that mcpcell's limits need.
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.name));
        c
    }
}

impl Drop for AppNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// An HTTP server on `addr` that counts the requests it answers with `body`.
fn http_server(addr: &str, body: &'static str) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            h.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hits)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(c: &mut Command, url: &str, extra: &[&str]) -> (i32, String) {
    c.args(["curl", "-sS", "-m", "10"]).args(extra).arg(url);
    let out = output_within(
        std::mem::replace(c, Command::new("true")),
        Duration::from_secs(60),
    );
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn pod_network_shape_in_network_namespaces() {
    if !is_root() {
        eprintln!("SKIPPED: network namespaces need root (CI runs this as root)");
        return;
    }
    if !require(
        Path::new("/usr/bin/curl").is_file()
            && Command::new("ip")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
        "curl and iproute2",
    ) || !require(landlock_abi() >= 4, "Landlock ABI 4 (TCP connect rules)")
    {
        return;
    }
    let net = (std::process::id() % 250) as u8;
    let ns = AppNs::new(net);
    let host_ip = format!("10.203.{net}.1");
    let (allowed_port, allowed_hits) = http_server(&host_ip, "allowed-body\n");
    let (other_port, other_hits) = http_server(&host_ip, "other-body\n");

    // The user's profile, exported; the ConfigMap's files become a profile directory.
    let dir = scratch();
    let user = profile(
        dir.path(),
        "shape",
        &format!(
            "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [\"allowed.kube.test:{allowed_port}\"]\n  hosts: {{allowed.kube.test: \"{host_ip}\", other.kube.test: \"{host_ip}\"}}\n  allow_private: [\"{host_ip}/32\"]\n"
        ),
    );
    let out = export(&["-p", user.to_str().unwrap(), "--", "/usr/bin/curl"]);
    let docs = documents(&out.stdout);
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let config = dir.path().join("config");
    let pdir = config.join("mcpcell/profiles");
    std::fs::create_dir_all(&pdir).unwrap();
    for (k, v) in cm["data"].as_object().unwrap() {
        std::fs::write(pdir.join(k), v.as_str().unwrap()).unwrap();
    }
    let pod = docs.iter().find(|d| d["kind"] == "Pod").unwrap();
    let local = |a: &Value| {
        a.as_str()
            .unwrap()
            .replace("/etc/mcpcell/profiles", pdir.to_str().unwrap())
    };
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let sidecar: Vec<String> = containers[1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(local)
        .collect();
    let server: Vec<String> = containers[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(local)
        .collect();
    let dash = server.iter().position(|a| a == "--").unwrap();
    let server_opts = &server[..dash];

    // The sidecar, in the app namespace, on the pod's loopback.
    let mut side = ns.exec();
    side.arg(mcpcell())
        .args(&sidecar)
        .env("XDG_CONFIG_HOME", &config)
        .env("XDG_STATE_HOME", state_home())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _proxy = Killed(side.spawn().unwrap());
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        let up = ns
            .exec()
            .args(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3128"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // The server as the pod runs it, here in both of mcpcell's tiers: the namespace tier,
    // and the namespace-free tier a container puts it in (namespaces refused as Docker's
    // default seccomp profile refuses them), which is the one that matters in a pod.
    let server_cmd = |tier: bool| {
        let mut c = ns.exec();
        if tier {
            c.arg(nouserns());
        }
        c.arg(mcpcell())
            .args(server_opts)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_CONFIG_HOME", &config)
            .env("XDG_STATE_HOME", state_home())
            .arg("--")
            .current_dir("/");
        c
    };
    let allowed = format!("http://allowed.kube.test:{allowed_port}/");
    let other_name = format!("http://other.kube.test:{other_port}/");
    let other_port_allowed_name = format!("http://allowed.kube.test:{other_port}/");
    let direct = format!("http://{host_ip}:{allowed_port}/");
    let udp = std::net::UdpSocket::bind((host_ip.as_str(), 0)).unwrap();
    let udp_send = format!(
        "echo leak > /dev/udp/{host_ip}/{}",
        udp.local_addr().unwrap().port()
    );
    let udp_hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&udp_hits);
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while udp.recv(&mut buf).is_ok() {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });

    for (round, tier) in [false, true].into_iter().enumerate() {
        // 1. The server reaches the allowlisted host through the sidecar (the proxy
        //    variables come from the exported profile).
        let (code, text) = curl(&mut server_cmd(tier), &allowed, &["-f"]);
        assert_eq!(code, 0, "tier {tier}: allowed through the sidecar: {text}");
        assert!(text.contains("allowed-body"), "{text}");
        if tier {
            assert!(
                text.contains("NOT enforced without namespaces"),
                "the tier was not used: {text}"
            );
        }
        assert_eq!(allowed_hits.load(Ordering::SeqCst), round + 1);

        // 2. A name that is not allowlisted, and the allowed name on another port: refused
        //    by the sidecar; the host-side server sees nothing.
        for url in [&other_name, &other_port_allowed_name] {
            let (code, text) = curl(&mut server_cmd(tier), url, &["-f"]);
            assert_ne!(code, 0, "tier {tier}: {url} got through: {text}");
        }
        assert_eq!(other_hits.load(Ordering::SeqCst), 0);

        // 3. A direct connection past the sidecar, by address (Landlock's TCP rule), and a
        //    UDP datagram (as a DNS query to kube-dns would be; seccomp refuses the socket).
        let before = allowed_hits.load(Ordering::SeqCst);
        let (code, text) = curl(&mut server_cmd(tier), &direct, &["--noproxy", "*"]);
        assert_ne!(
            code, 0,
            "tier {tier}: direct connection got through: {text}"
        );
        assert_eq!(allowed_hits.load(Ordering::SeqCst), before, "{text}");
        let mut c = server_cmd(tier);
        c.args(["/usr/bin/bash", "-c", &udp_send]);
        let out = output_within(c, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("socket: Operation not permitted"),
            "tier {tier}: the UDP socket was not refused: {err}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        udp_hits.load(Ordering::SeqCst),
        0,
        "a datagram from the server arrived"
    );

    // The controls: the app namespace routes a direct connection and a datagram (no mcpcell
    // in the client).
    let mut c = ns.exec();
    c.args(["/usr/bin/bash", "-c", &udp_send]);
    assert!(output_within(c, Duration::from_secs(60)).status.success());
    let t = Instant::now();
    while udp_hits.load(Ordering::SeqCst) == 0 && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        udp_hits.load(Ordering::SeqCst),
        1,
        "control: the datagram arrives"
    );
    let before = allowed_hits.load(Ordering::SeqCst);
    let mut bare = ns.exec();
    let (code, text) = curl(&mut bare, &direct, &["--noproxy", "*"]);
    assert_eq!(
        code, 0,
        "control: the app namespace reaches the host side directly: {text}"
    );
    assert_eq!(allowed_hits.load(Ordering::SeqCst), before + 1);
    // And the bare client through the sidecar to the refused name: still refused (the
    // sidecar's own check, without mcpcell in the client).
    let (code, text) = curl(
        &mut ns.exec(),
        &other_name,
        &["-f", "-x", "http://127.0.0.1:3128"],
    );
    assert_ne!(code, 0, "{text}");
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
}

/// `allow_private` lets the pod reach the ranges it names, and no other private range: the
/// NetworkPolicy keeps its exceptions and adds each named range as a block of its own.
#[test]
fn allow_private_opens_only_the_ranges_it_names() {
    let dir = scratch();
    let p = profile(
        dir.path(),
        "db",
        "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [\"db.internal:5432\"]\n  allow_private: [\" 10.1.2.9 /24\", \"fd00:1::/64\"]\n",
    );
    let out = export(&["-p", p.to_str().unwrap(), "--", "srv"]);
    let docs = documents(&out.stdout);
    let policy = docs
        .iter()
        .find(|d| d["kind"] == "NetworkPolicy")
        .expect("a NetworkPolicy");
    let to = &policy["spec"]["egress"][1]["to"];
    let blocks: Vec<&Value> = to.as_array().unwrap().iter().collect();
    let cidr = |c: &str| blocks.iter().find(|b| b["ipBlock"]["cidr"] == c).copied();
    let all4 = cidr("0.0.0.0/0").expect("the IPv4 block");
    let except: Vec<&str> = all4["ipBlock"]["except"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for private in ["10.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8"] {
        assert!(except.contains(&private), "{except:?}");
    }
    assert!(cidr("::/0").unwrap()["ipBlock"]["except"].is_array());
    for named in ["10.1.2.0/24", "fd00:1::/64"] {
        let b = cidr(named).unwrap_or_else(|| panic!("{named}: {to}"));
        assert!(b["ipBlock"].get("except").is_none(), "{b}");
    }
    assert_eq!(blocks.len(), 4, "{to}");
    // Applied in order, the pod comes after its policy.
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(at("NetworkPolicy") < at("Pod"), "{kinds:?}");
}
