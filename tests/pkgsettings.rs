//! `env.package_settings` end to end: a company's npm registry and PyPI index behind TLS
//! signed by a private CA (tests/pkgsettings/registry.py), configured as companies do (a
//! user npmrc with `registry=`, `cafile=` and a token; uv.toml with an index whose URL holds
//! a password; pip.conf with `index-url` and `cert`). `npx -y`, `uvx` and `pip download`
//! work through mcpcell; the same runs without the CA fail with the certificate error; the
//! token and the password are not visible inside, and a weakened run shows the probe would
//! have seen them.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

const TOKEN: &str = "npm_TOKEN_d0n0tl3ak";
const PASSWORD: &str = "PyPassw0rd_d0n0tl3ak";

/// The registry server, stopped (by its own pid) when dropped.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn start() -> Option<Registry> {
        let tools = ["openssl", "python3"].iter().all(|t| {
            Command::new(t)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
                || Command::new(t)
                    .arg("version")
                    .output()
                    .is_ok_and(|o| o.status.success())
        });
        if !require(tools, "openssl and python3 for the TLS registry") {
            return None;
        }
        let dir = readable_scratch();
        let script = dir.path().join("registry.py");
        write(&script, include_str!("pkgsettings/registry.py"));
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start registry.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("registry.py prints its port");
        for d in ["home", "state", "work"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Some(Registry { child, port, dir })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn npm_url(&self) -> String {
        format!("https://npm.corp.test:{}/", self.port)
    }

    fn pypi_url(&self, auth: &str) -> String {
        format!("https://{auth}pypi.corp.test:{}/simple/", self.port)
    }

    /// A profile on `base` whose proxy sends the registry's names to its loopback port. The
    /// allowlist entry itself comes from the settings.
    fn profile(&self, base: &str, extra: &str) -> PathBuf {
        profile(
            self.dir.path(),
            &format!("corp-{base}"),
            &format!(
                "extends: [{base}]\nnetwork:\n  hosts: {{npm.corp.test: 127.0.0.1, pypi.corp.test: 127.0.0.1}}\n  allow_private: [127.0.0.1/32]\n{extra}"
            ),
        )
    }

    /// `mcpcell run` with this registry's home and a state directory of its own (so that no
    /// cache from another run answers), plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = run_cmd(args);
        c.env("HOME", self.home())
            .env("XDG_STATE_HOME", self.path("state"))
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin",
                    venv().join("bin").display()
                ),
            )
            .current_dir(self.path("work"));
        for (k, v) in env {
            c.env(k, v);
        }
        output_within(c, Duration::from_secs(120))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path("requests.log")).unwrap_or_default()
    }

    fn fresh_state(&self) {
        let _ = std::fs::remove_dir_all(self.path("state"));
        std::fs::create_dir_all(self.path("state")).unwrap();
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn have(program: &str) -> bool {
    which(program).is_some()
}

fn which(program: &str) -> Option<PathBuf> {
    ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

#[test]
fn npx_installs_from_a_private_registry_named_in_the_users_npmrc() {
    let Some(r) = Registry::start() else { return };
    if !require(have("npx"), "npx") {
        return;
    }
    let prof = r.profile("npx", "");
    let p = prof.to_str().unwrap();
    let ca = r.path("ca.pem");
    let npmrc = r.home().join(".npmrc");
    write(
        &npmrc,
        &format!(
            "registry={}\ncafile={}\n//npm.corp.test:{}/:_authToken=${{NPM_TOKEN}}\n",
            r.npm_url(),
            ca.display(),
            r.port
        ),
    );
    let env = [("NPM_TOKEN", TOKEN)];

    let dry = r.run(
        &["-p", p, "--dry-run", "--", "npx", "-y", "corp-hello"],
        &env,
    );
    let (dry_out, dry_err) = text(&dry);
    assert!(dry.status.success(), "{dry_err}");
    let allow = format!("allow npm.corp.test:{} in network mode proxy", r.port);
    assert!(dry_out.contains(&allow), "{dry_out}");
    assert!(dry_out.contains("CA certificate(s) copied"), "{dry_out}");
    assert!(!dry_out.contains(TOKEN), "the dry-run shows the token");

    let ok = r.run(&["-p", p, "--", "npx", "-y", "corp-hello"], &env);
    let (out, err) = text(&ok);
    assert!(
        ok.status.success() && out.contains("corp-hello ran"),
        "npx -y through the private registry failed: {}\n{out}\n{err}",
        ok.status
    );
    let log = r.log();
    assert!(log.contains("/corp-hello/-/corp-hello-1.0.0.tgz"), "{log}");
    assert!(
        !log.contains(TOKEN),
        "the token reached the registry: {log}"
    );

    // Control: the same registry without the CA fails with the certificate error, so the
    // run above passed because the CA went in.
    r.fresh_state();
    write(&npmrc, &format!("registry={}\n", r.npm_url()));
    let bad = r.run(
        &[
            "-p",
            p,
            "--set-env",
            "npm_config_fetch_retries=0",
            "--",
            "npx",
            "-y",
            "corp-hello",
        ],
        &env,
    );
    let (out, err) = text(&bad);
    assert!(
        !bad.status.success() && !out.contains("corp-hello ran"),
        "{out}"
    );
    assert!(err.contains("SELF_SIGNED_CERT_IN_CHAIN"), "{err}");
}

#[test]
fn uvx_installs_from_a_private_index_named_in_uv_toml() {
    let Some(r) = Registry::start() else { return };
    if !require(
        venv().join("bin/uvx").exists(),
        "uvx (integration/setup.sh)",
    ) {
        return;
    }
    let prof = r.profile("uvx", "");
    let p = prof.to_str().unwrap();
    let conf = r.home().join(".config/uv/uv.toml");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    write(
        &conf,
        &format!(
            "native-tls = true\n[[index]]\nname = \"corp\"\nurl = \"{}\"\ndefault = true\n",
            r.pypi_url(&format!("alice:{PASSWORD}@"))
        ),
    );
    let ca = r.path("ca.pem");
    let with_ca = [("SSL_CERT_FILE", ca.to_str().unwrap())];
    let ok = r.run(&["-p", p, "--", "uvx", "corp-hello-py"], &with_ca);
    let (out, err) = text(&ok);
    assert!(
        ok.status.success() && out.contains("corp-hello-py ran"),
        "uvx through the private index failed: {}\n{out}\n{err}",
        ok.status
    );
    assert!(
        !r.log().contains(PASSWORD),
        "the password reached the index"
    );

    // Control: without the CA, the certificate is refused.
    r.fresh_state();
    let bad = r.run(
        &[
            "-p",
            p,
            "--set-env",
            "UV_HTTP_RETRIES=0",
            "--",
            "uvx",
            "corp-hello-py",
        ],
        &[],
    );
    let (out, err) = text(&bad);
    assert!(
        !bad.status.success() && !out.contains("corp-hello-py ran"),
        "{out}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn pip_downloads_from_a_private_index_named_in_pip_conf() {
    let Some(r) = Registry::start() else { return };
    let pip_ok = Command::new("/usr/bin/python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(pip_ok, "pip for /usr/bin/python3") {
        return;
    }
    let prof = r.profile("uvx", "");
    let p = prof.to_str().unwrap();
    let conf = r.home().join(".config/pip/pip.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    let ca = r.path("ca.pem");
    let write_conf = |cert: bool| {
        let cert = if cert {
            format!("cert = {}\n", ca.display())
        } else {
            String::new()
        };
        write(
            &conf,
            &format!(
                "[global]\nindex-url = {}\nretries = 0\n{cert}",
                r.pypi_url(&format!("alice:{PASSWORD}@"))
            ),
        );
    };
    let cmd = [
        "-p",
        p,
        "--",
        "/usr/bin/python3",
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "-d",
        "/tmp/d",
        "corp-hello-py",
    ];
    write_conf(true);
    let ok = r.run(&cmd, &[]);
    let (out, err) = text(&ok);
    assert!(
        ok.status.success() && out.contains("corp_hello_py-1.0-py3-none-any.whl"),
        "pip through the private index failed: {}\n{out}\n{err}",
        ok.status
    );
    assert!(
        !r.log().contains(PASSWORD),
        "the password reached the index"
    );

    write_conf(false);
    let bad = r.run(&cmd, &[]);
    let (out, err) = text(&bad);
    assert!(!bad.status.success(), "{out}");
    assert!(
        format!("{out}{err}").contains("CERTIFICATE_VERIFY_FAILED"),
        "{out}\n{err}"
    );
}

#[test]
fn tokens_passwords_and_keys_stay_outside_the_sandbox() {
    let Some(r) = Registry::start() else { return };
    // The user's settings where companies put them, outside the home directory's hidden
    // files, so that the weakened run below can grant them.
    let npmrc = r.path("corp-npmrc");
    let pipconf = r.path("corp-pip.conf");
    let mixed = r.path("client-and-ca.pem");
    let key = "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFB\n-----END PRIVATE KEY-----\n";
    let ca = std::fs::read_to_string(r.path("ca.pem")).unwrap();
    write(&mixed, &format!("{key}{ca}"));
    write(
        &npmrc,
        &format!(
            "registry=https://deploy:{PASSWORD}@npm.corp.test:{}/\ncafile={}\n//npm.corp.test:{}/:_authToken=${{NPM_TOKEN}}\n_auth=${{NPM_TOKEN}}\n",
            r.port,
            mixed.display(),
            r.port
        ),
    );
    write(
        &pipconf,
        &format!(
            "[global]\nindex-url = {}\nclient-cert = {}\n",
            r.pypi_url(&format!("alice:{PASSWORD}@")),
            mixed.display()
        ),
    );
    let prof = r.profile("npx", "env:\n  package_settings: [pip, uv]\n");
    let p = prof.to_str().unwrap();
    let script = format!(
        "env; cat {} {} 2>&1; cat \"$npm_config_cafile\" \"$PIP_CERT\" 2>&1; true",
        npmrc.display(),
        pipconf.display()
    );
    let env = [
        ("NPM_TOKEN", TOKEN),
        ("npm_config_userconfig", npmrc.to_str().unwrap()),
        ("PIP_CONFIG_FILE", pipconf.to_str().unwrap()),
    ];
    let probe = |extra: &[&str]| {
        let mut args = vec!["-p", p];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "/bin/sh", "-c", &script]);
        let o = r.run(&args, &env);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        out
    };

    let out = probe(&[]);
    // What should reach the sandbox did.
    let registry = format!("npm_config_registry=https://npm.corp.test:{}/", r.port);
    assert!(out.contains(&registry), "{out}");
    assert!(
        out.contains(&format!("PIP_INDEX_URL={}", r.pypi_url(""))),
        "{out}"
    );
    assert!(
        out.contains("BEGIN CERTIFICATE"),
        "the CA did not reach the sandbox: {out}"
    );
    // What should not, did not.
    for secret in [TOKEN, PASSWORD, "PRIVATE KEY"] {
        assert!(
            !out.contains(secret),
            "{secret} is visible in the sandbox:\n{out}"
        );
    }

    // Control: granting the files and passing the variable shows the probe would see them.
    let mixed_s = mixed.to_str().unwrap();
    let weak = probe(&[
        "--allow-read",
        npmrc.to_str().unwrap(),
        "--allow-read",
        pipconf.to_str().unwrap(),
        "--allow-read",
        mixed_s,
        "--set-env",
        &format!("npm_config_cafile={mixed_s}"),
        "--pass-env",
        "NPM_TOKEN",
    ]);
    for secret in [TOKEN, PASSWORD, "PRIVATE KEY"] {
        assert!(
            weak.contains(secret),
            "the weakened run does not show {secret}:\n{weak}"
        );
    }
}

#[test]
fn a_projects_npmrc_cannot_widen_the_sandbox() {
    let Some(r) = Registry::start() else { return };
    // A workspace the server could have written: a registry on an internal address and a
    // CA file that is the user's private key.
    let ssh = r.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    write(
        &ssh.join("id_rsa"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    write(
        &r.path("work/.npmrc"),
        &format!(
            "registry=https://evil.corp.test/\ncafile={}\n",
            ssh.join("id_rsa").display()
        ),
    );
    write(&r.path("work/package.json"), "{}");
    let prof = r.profile("npx", "");
    let o = r.run(
        &[
            "-p",
            prof.to_str().unwrap(),
            "--dry-run",
            "--",
            "npx",
            "-y",
            "corp-hello",
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(!out.contains("evil.corp.test"), "{out}");
    let work = r.path("work").display().to_string();
    assert!(
        !out.contains(&format!("{work}/.npmrc")),
        "the project's npmrc was read: {out}"
    );
    // Control: the same lines in the user's own npmrc are read (the key still is not copied).
    std::fs::copy(r.path("work/.npmrc"), r.home().join(".npmrc")).unwrap();
    let o = r.run(
        &[
            "-p",
            prof.to_str().unwrap(),
            "--dry-run",
            "--",
            "npx",
            "-y",
            "corp-hello",
        ],
        &[],
    );
    let (out, _) = text(&o);
    assert!(out.contains("allow evil.corp.test:443"), "{out}");
    let npmrc = r.home().join(".npmrc").display().to_string();
    assert!(
        out.contains(&format!("{npmrc}:2 (cafile): holds no PEM certificate")),
        "{out}"
    );
    assert!(!out.contains(&format!("from {npmrc}:2")), "{out}");
}

#[test]
fn a_registry_on_a_private_address_is_still_refused() {
    let Some(r) = Registry::start() else { return };
    if !require(have("npx"), "npx") {
        return;
    }
    // The same registry as in the npx test, but the profile does not let the proxy reach
    // private addresses: the host named in the user's npmrc is allowlisted, its address is
    // not. (The npx test, which adds `allow_private`, is the control.)
    let prof = profile(
        r.dir.path(),
        "corp-npx-no-private",
        "extends: [npx]\nnetwork:\n  hosts: {npm.corp.test: 127.0.0.1}\n",
    );
    write(
        &r.home().join(".npmrc"),
        &format!(
            "registry={}\ncafile={}\n",
            r.npm_url(),
            r.path("ca.pem").display()
        ),
    );
    let o = r.run(
        &[
            "-p",
            prof.to_str().unwrap(),
            "--set-env",
            "npm_config_fetch_retries=0",
            "--",
            "npx",
            "-y",
            "corp-hello",
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert!(
        !o.status.success() && !out.contains("corp-hello ran"),
        "{out}"
    );
    let refused = format!("refused npm.corp.test:{}", r.port);
    assert!(err.contains(&refused) && err.contains("private"), "{err}");
    assert!(
        !r.log().contains("/corp-hello"),
        "the request reached the registry"
    );
}

/// A real self-signed certificate (openssl req -x509 -newkey ec, /CN=mcpcell-test-ca).
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBijCCAS+gAwIBAgIUCcSZZ6SZ97j1HjrmoO5mPvXUhAwwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPbWNwY2VsbC10ZXN0LWNhMB4XDTI2MTIwMjEyNTcyOVoXDTM2
MTEyOTEyNTcyOVowGjEYMBYGA1UEAwwPbWNwY2VsbC10ZXN0LWNhMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAE3rK1TKeolzOodLUv38TmZqU5PwKvrM1TwCBlELzQ
WOK9yTeK6s1iiC+jxZpjuakiOB+C+BhuQyv6m7tQuw9dpqNTMFEwHQYDVR0OBBYE
FMijP9VrNS4Z15KPj1iu2ohQcLRuMB8GA1UdIwQYMBaAFMijP9VrNS4Z15KPj1iu
2ohQcLRuMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhANtHsNTI
J9KavZOvoll1IWZaRfrZTB7J04zeN4bwycJCAiEA+PTPxYLXv/9bHoz/6hhUrS+W
2zLOpxY3Hl+4f7WIfho=
-----END CERTIFICATE-----
";

/// The CA bundle and the npm settings are taken from the host at every launch, whatever
/// was kept between launches: a CA file changed in place with its size and modification
/// time kept, and an npmrc naming another registry, reach the next launch; a bundle the
/// server changed in its state directory is put right at the next one. Checked from inside
/// (what the server reads at its start) and from outside (the state directory's copy).
#[test]
fn a_changed_ca_file_or_npmrc_reaches_the_next_launch() {
    let dir = scratch();
    let home = dir.path().join("home");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&home).unwrap();
    let ca = dir.path().join("ca.pem");
    let npmrc = home.join(".npmrc");
    // The same certificate with one signature character changed: the same size, and still
    // a block of base64 DER as far as the copy checks.
    let at = TEST_CA.find("wycJ").unwrap();
    let other = format!("{}x{}", &TEST_CA[..at], &TEST_CA[at + 1..]);
    assert_eq!(other.len(), TEST_CA.len());
    write(&ca, TEST_CA);
    let registry = |host: &str| format!("registry=https://{host}/\ncafile={}\n", ca.display());
    write(&npmrc, &registry("one.example"));

    // What the server sees at its start; then it appends to its copy of the bundle.
    let launch = || {
        let mut c = run_cmd(&[
            "-p",
            "node",
            "--",
            "/bin/sh",
            "-c",
            "printf '%s\\n' \"$npm_config_registry\"; cat \"$npm_config_cafile\"; printf tampered >> \"$npm_config_cafile\"",
        ]);
        c.env("HOME", &home).env("XDG_STATE_HOME", &state);
        let o = output_within(c, Duration::from_secs(60));
        let (out, err) = text(&o);
        assert!(o.status.success(), "{err}");
        out
    };
    // The state directory's copy, read from outside.
    let copy = || {
        let servers = state.join("mcpcell/node");
        let mut found = std::fs::read_dir(&servers)
            .unwrap()
            .flatten()
            .map(|e| e.path().join("mcpcell-ca-npm.pem"))
            .filter(|p| p.exists());
        let p = found.next().expect("no bundle in the state directory");
        assert!(found.next().is_none(), "one server, one state directory");
        std::fs::read_to_string(p).unwrap()
    };

    let first = launch();
    assert_eq!(first, format!("https://one.example/\n{TEST_CA}"));
    // The server's change landed (the control for the next launch's repair).
    assert_eq!(copy(), format!("{TEST_CA}tampered"));
    assert_eq!(
        launch(),
        first,
        "the server's change survived into the next launch"
    );

    // The CA file changes in place, its size and modification time kept.
    let before = std::fs::metadata(&ca).unwrap();
    write(&ca, &other);
    let mtime = nix::sys::time::TimeSpec::new(
        std::os::unix::fs::MetadataExt::mtime(&before),
        std::os::unix::fs::MetadataExt::mtime_nsec(&before),
    );
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &ca,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let after = std::fs::metadata(&ca).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap())
    );
    assert_eq!(launch(), format!("https://one.example/\n{other}"));
    assert_eq!(copy(), format!("{other}tampered"));

    // The npmrc names another registry.
    write(&npmrc, &registry("two.example"));
    assert_eq!(launch(), format!("https://two.example/\n{other}"));
}
