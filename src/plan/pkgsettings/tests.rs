use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::plan::programs::Programs;

const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIUQ7zZHSZdscgQmmbbVhyvWOKN9qUwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBdDAeFw0yNjEyMDIwNTIzMDZaFw0zNjExMjkwNTIzMDZaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATRBdCpKPG6gOVb
HThsyPKEtMPybvsH99B+0eG2Mw2pi047NfA+ae8jr2WYHqMG+niEWn4wAKGhukOe
WXI+2Cifo1MwUTAdBgNVHQ4EFgQUjUIMvetYKBe7o6Gh+yBUkhkVtV8wHwYDVR0j
BBgwFoAUjUIMvetYKBe7o6Gh+yBUkhkVtV8wDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAi9zPzHPmBow4/ZoPkayiewoj788q0ZAMPv/Cuv1h2HYC
IQDyXKMbWunRmh2jEuhXZzbbzUzcvwhzSI+ymSHwDY/6Eg==
-----END CERTIFICATE-----
";

const KEY: &str = "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFD\n-----END PRIVATE KEY-----\n";

/// A home directory with the given files, and an environment naming it (no PATH, so no
/// builtin or global npmrc of this machine is read).
fn home(files: &[(&str, &str)]) -> (tempfile::TempDir, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut env = BTreeMap::new();
    env.insert("HOME".into(), dir.path().display().to_string());
    // No system files: pip's and uv's system locations under an empty directory.
    env.insert(
        "XDG_CONFIG_DIRS".into(),
        dir.path().join("etc-xdg").display().to_string(),
    );
    (dir, env)
}

fn var<'a>(s: &'a PkgSettings, name: &str) -> Option<&'a str> {
    s.env
        .iter()
        .find(|(n, _, _)| n == name)
        .and_then(|(_, v, _)| v.to_str())
}

fn everything(s: &PkgSettings) -> String {
    let env: Vec<String> = s
        .env
        .iter()
        .map(|(n, v, f)| format!("{n}={} {f}", v.to_string_lossy()))
        .collect();
    let pems: Vec<_> = s
        .bundles
        .iter()
        .map(|b| String::from_utf8_lossy(&b.pem))
        .collect();
    format!("{env:?} {pems:?} {:?} {:?}", s.hosts, s.notes)
}

#[test]
fn npm_user_settings_pass_without_their_token() {
    let (dir, mut env) = home(&[
        ("ca/corp.pem", CERT),
        (
            ".npmrc",
            "registry=https://npm.corp.example/api/\n@corp:registry=https://bob:pa55@npm2.corp.example:8443/\ncafile=~/ca/corp.pem\n//npm.corp.example/api/:_authToken=${NPM_TOKEN}\n_auth=c2VjcmV0\nstrict-ssl=true\nhttps-proxy=http://proxy.corp:3128\n",
        ),
    ]);
    env.insert("NPM_TOKEN".into(), "npm_T0KEN".into());
    let state = dir.path().join("state");
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, Some(&state));
    assert_eq!(
        var(&s, "npm_config_registry"),
        Some("https://npm.corp.example/api/")
    );
    assert_eq!(
        var(&s, "npm_config_@corp:registry"),
        Some("https://npm2.corp.example:8443/")
    );
    assert_eq!(var(&s, "npm_config_strict_ssl"), Some("true"));
    let bundle = state.join("mcpcell-ca-npm.pem");
    assert_eq!(var(&s, "npm_config_cafile"), bundle.to_str());
    assert_eq!(s.bundles.len(), 1);
    assert_eq!(s.bundles[0].certificates, 1);
    let mut hosts: Vec<String> = s.hosts.iter().map(|(h, _)| h.to_string()).collect();
    hosts.sort();
    assert_eq!(hosts, ["npm.corp.example:443", "npm2.corp.example:8443"]);
    let all = everything(&s);
    for secret in ["npm_T0KEN", "pa55", "c2VjcmV0", "proxy.corp"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert!(
        all.contains("_authToken") && all.contains("credentials"),
        "{all}"
    );
    assert!(!s.env.iter().any(|(n, _, _)| n.contains("proxy")));

    install(&s, &{
        std::fs::create_dir(&state).unwrap();
        state.clone()
    })
    .unwrap();
    assert_eq!(std::fs::read_to_string(&bundle).unwrap(), CERT);
}

/// A relative PREFIX (or globalconfig) would name the project's own npmrc: not read; the
/// same file by its absolute path is the control.
#[test]
fn a_relative_prefix_reads_no_project_npmrc() {
    let (dir, mut env) = home(&[("proj/etc/npmrc", "registry=https://evil.example/\n")]);
    let proj = dir.path().join("proj");
    // Relative to this process's working directory, which reads would resolve it from.
    let up = std::env::current_dir().unwrap().components().count() - 1;
    let rel = format!(
        "{}{}",
        "../".repeat(up),
        proj.display().to_string().trim_start_matches('/')
    );
    assert!(Path::new(&rel).join("etc/npmrc").is_file());
    for (k, v) in [
        ("PREFIX", rel.clone()),
        ("npm_config_globalconfig", format!("{rel}/etc/npmrc")),
        ("npm_config_userconfig", format!("{rel}/etc/npmrc")),
    ] {
        let mut env = env.clone();
        env.insert(k.into(), v);
        let host = Host {
            env: &env,
            cwd: &proj,
            programs: &Programs::default(),
        };
        let s = read(&[PackageManager::Npm], &host, None);
        assert_eq!(var(&s, "npm_config_registry"), None, "{k}");
    }
    env.insert("PREFIX".into(), proj.display().to_string());
    let host = Host {
        env: &env,
        cwd: &proj,
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, None);
    assert_eq!(
        var(&s, "npm_config_registry"),
        Some("https://evil.example/")
    );
}

#[test]
fn environment_wins_over_files_and_is_cleaned() {
    let (dir, mut env) = home(&[(".npmrc", "registry=https://a.example/\n")]);
    env.insert(
        "NPM_CONFIG_REGISTRY".into(),
        "https://u:p@b.example/?token=t".into(),
    );
    env.insert("npm_config__authToken".into(), "tok".into());
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, None);
    assert_eq!(var(&s, "npm_config_registry"), Some("https://b.example/"));
    let all = everything(&s);
    assert!(
        !all.contains(":p@") && !all.contains("token=t") && !all.contains("\"tok"),
        "{all}"
    );
}

#[test]
fn a_cafile_that_is_a_key_is_not_copied() {
    let (dir, env) = home(&[
        (".ssh/id_rsa", KEY),
        ("mixed.pem", &format!("{KEY}{CERT}")),
        (".npmrc", "cafile=~/.ssh/id_rsa\n"),
    ]);
    let state = dir.path().join("state");
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, Some(&state));
    assert!(s.bundles.is_empty());
    assert_eq!(var(&s, "npm_config_cafile"), None);
    assert!(
        s.notes.iter().any(|n| n.contains("no PEM certificate")),
        "{:?}",
        s.notes
    );

    // A file that holds a key and a certificate gives only the certificate.
    std::fs::write(dir.path().join(".npmrc"), "cafile=~/mixed.pem\n").unwrap();
    let s = read(&[PackageManager::Npm], &host, Some(&state));
    assert_eq!(s.bundles.len(), 1);
    assert_eq!(s.bundles[0].pem, CERT.as_bytes());
}

#[test]
fn a_project_npmrc_is_not_read() {
    let (dir, env) = home(&[(
        "project/.npmrc",
        "registry=https://evil.example/\ncafile=/etc/shadow\n",
    )]);
    let cwd = dir.path().join("project");
    let host = Host {
        env: &env,
        cwd: &cwd,
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, None);
    assert!(s.hosts.is_empty() && s.env.is_empty(), "{}", everything(&s));
}

#[test]
fn pip_and_uv_settings() {
    let (dir, mut env) = home(&[
        ("ca.pem", CERT),
        (
            ".config/pip/pip.conf",
            "[global]\nindex-url = https://alice:hunter2@pypi.corp.example/simple\nextra-index-url =\n    https://extra.example/simple\n    file:///srv/wheels\ntrusted-host = pypi.corp.example\nclient-cert = /home/u/client.pem\n[install]\ncert = CAFILE\n",
        ),
        (
            ".config/uv/uv.toml",
            "native-tls = true\n[[index]]\nname = \"corp\"\nurl = \"https://bob:pw@uv.corp.example/simple\"\ndefault = true\n[[index]]\nname = \"extra\"\nurl = \"https://uv-extra.example/simple\"\n",
        ),
    ]);
    let ca = dir.path().join("ca.pem");
    let conf = dir.path().join(".config/pip/pip.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("CAFILE", ca.to_str().unwrap())).unwrap();
    env.insert("SSL_CERT_FILE".into(), ca.display().to_string());
    let state = dir.path().join("state");
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(
        &[PackageManager::Pip, PackageManager::Uv],
        &host,
        Some(&state),
    );
    assert_eq!(
        var(&s, "PIP_INDEX_URL"),
        Some("https://pypi.corp.example/simple")
    );
    assert_eq!(
        var(&s, "PIP_EXTRA_INDEX_URL"),
        Some("https://extra.example/simple")
    );
    assert_eq!(var(&s, "PIP_TRUSTED_HOST"), Some("pypi.corp.example"));
    assert_eq!(
        var(&s, "PIP_CERT"),
        state.join("mcpcell-ca-pip.pem").to_str()
    );
    assert_eq!(
        var(&s, "UV_DEFAULT_INDEX"),
        Some("https://uv.corp.example/simple")
    );
    assert_eq!(
        var(&s, "UV_INDEX"),
        Some("extra=https://uv-extra.example/simple")
    );
    assert_eq!(var(&s, "UV_NATIVE_TLS"), Some("true"));
    // SSL_CERT_FILE names the file pip's `cert` names: one copy serves both.
    assert_eq!(
        var(&s, "SSL_CERT_FILE"),
        state.join("mcpcell-ca-pip.pem").to_str()
    );
    assert_eq!(s.bundles.len(), 1);
    let all = everything(&s);
    for secret in ["hunter2", "alice", ":pw@", "client.pem\""] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert_eq!(var(&s, "PIP_CLIENT_CERT"), None);
    let hosts: Vec<String> = s.hosts.iter().map(|(h, _)| h.to_string()).collect();
    assert_eq!(
        hosts,
        [
            "pypi.corp.example:443",
            "extra.example:443",
            "uv.corp.example:443",
            "uv-extra.example:443"
        ]
    );
}

#[test]
fn pip_config_file_devnull_turns_files_off() {
    let (dir, mut env) = home(&[(
        ".config/pip/pip.conf",
        "[global]\nindex-url=https://x.example/\n",
    )]);
    env.insert("PIP_CONFIG_FILE".into(), "/dev/null".into());
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Pip], &host, None);
    assert!(s.env.is_empty(), "{}", everything(&s));
}

#[test]
fn install_replaces_a_planted_link_without_following_it() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep").unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink(&victim, state.join("mcpcell-ca-npm.pem")).unwrap();
    std::os::unix::fs::symlink(&victim, state.join(".mcpcell-ca-npm.pem.tmp")).unwrap();
    let s = PkgSettings {
        bundles: vec![Bundle {
            file: "mcpcell-ca-npm.pem",
            certificates: 1,
            from: vec![],
            pem: CERT.into(),
            cached: None,
            source: None,
        }],
        ..PkgSettings::default()
    };
    install(&s, &state).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    let meta = std::fs::symlink_metadata(state.join("mcpcell-ca-npm.pem")).unwrap();
    assert!(meta.is_file());
    assert!(install(&s, Path::new("/nonexistent/state")).is_err());
}

/// The upstream proxy is the egress proxy's business (shown in the network section): the
/// package settings neither pass it nor repeat its credentials.
#[test]
fn an_upstream_proxy_is_not_passed_as_a_package_setting() {
    let (dir, mut env) = home(&[]);
    env.insert(
        "HTTPS_PROXY".into(),
        "http://user:proxypass@proxy.corp:3128".into(),
    );
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Npm], &host, None);
    let all = everything(&s);
    assert!(!all.contains("proxypass"), "{all}");
    assert!(s.env.is_empty(), "{all}");
}

/// Hostile text never panics the readers: random bytes and fragments of every syntax they
/// parse (a deterministic generator, so a failure replays).
#[test]
fn hostile_text_never_panics() {
    let pieces = [
        "=",
        "[",
        "]",
        "[]",
        "${",
        "}",
        "\\${",
        "é",
        "\u{202e}",
        "\n",
        " ",
        "\t",
        "#",
        ";",
        ":",
        "//",
        "@",
        "https://",
        "http://[",
        "-----BEGIN CERTIFICATE-----",
        "-----END CERTIFICATE-----",
        "MIIB",
        "====",
        "registry",
        "cafile",
        "ca[]",
        "npm_config_",
        "\"",
        "'",
        "%",
        "?",
        "*.",
        "0",
        "65536",
        "::1",
        "\u{0}",
    ];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (dir, env) = home(&[]);
    for round in 0..20_000 {
        let n = (next() % 12) as usize;
        let mut s = String::new();
        for _ in 0..n {
            match next() % 4 {
                0 => s.push(char::from_u32((next() % 0x3000) as u32).unwrap_or('x')),
                _ => s.push_str(pieces[(next() % pieces.len() as u64) as usize]),
            }
        }
        let _ = ini::parse(&s, ini::Dialect::Npm);
        let _ = ini::parse(&s, ini::Dialect::ConfigParser);
        let _ = pem::certificates(&s);
        let _ = url::clean(&s);
        // The whole reader touches files and PATH: every 20th input is enough.
        if round % 20 != 0 {
            continue;
        }
        let mut env = env.clone();
        env.insert(s.clone(), s.clone());
        env.insert("npm_config_registry".into(), s.clone());
        env.insert("UV_INDEX".into(), s.clone());
        let host = Host {
            env: &env,
            cwd: dir.path(),
            programs: &Programs::default(),
        };
        std::fs::write(dir.path().join(".npmrc"), &s).unwrap();
        let _ = read(&[PackageManager::Npm, PackageManager::Uv], &host, None);
    }
}

/// A bundle already in place, byte for byte, is left as it is (no rename, which ext4 follows
/// with a flush); one that differs, or a link even to the same bytes, is replaced.
#[test]
fn install_leaves_an_identical_bundle_and_replaces_anything_else() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let s = PkgSettings {
        bundles: vec![Bundle {
            file: "mcpcell-ca-npm.pem",
            certificates: 1,
            from: vec![],
            pem: CERT.into(),
            cached: None,
            source: None,
        }],
        ..PkgSettings::default()
    };
    let path = state.join("mcpcell-ca-npm.pem");
    install(&s, &state).unwrap();
    let first = std::fs::metadata(&path).unwrap().ino();
    install(&s, &state).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), first, "rewritten");
    // Changed by the server: replaced.
    std::fs::write(&path, format!("{CERT}{CERT}")).unwrap();
    install(&s, &state).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CERT);
    // A link to a file outside with the same bytes: replaced by a file, the target untouched.
    let outside = dir.path().join("outside.pem");
    std::fs::write(&outside, CERT).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&outside, &path).unwrap();
    install(&s, &state).unwrap();
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
}

/// The comparison goes a piece at a time: a bundle larger than one piece that differs only
/// far in, with the same size, is still replaced; the same bytes are still left in place.
#[test]
fn install_compares_a_large_bundle_to_its_last_byte() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let pem = CERT.repeat(300).into_bytes();
    assert!(pem.len() > 3 * (32 << 10));
    let s = PkgSettings {
        bundles: vec![Bundle {
            file: "mcpcell-ca-npm.pem",
            certificates: 300,
            from: vec![],
            pem: pem.clone(),
            cached: None,
            source: None,
        }],
        ..PkgSettings::default()
    };
    let path = state.join("mcpcell-ca-npm.pem");
    install(&s, &state).unwrap();
    let first = std::fs::metadata(&path).unwrap().ino();
    install(&s, &state).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), first, "rewritten");
    for at in [pem.len() - 1, 100_000, 0] {
        let mut changed = pem.clone();
        changed[at] ^= 0x20;
        std::fs::write(&path, &changed).unwrap();
        install(&s, &state).unwrap();
        assert!(
            std::fs::read(&path).unwrap() == pem,
            "byte {at} left changed"
        );
    }
}

/// `SSL_CERT_DIR` and `SSL_CERT_FILE` become one bundle, each certificate once however many
/// files and names hold it; the directory's other files are not copied.
#[test]
fn ssl_cert_dir_and_file_become_one_bundle() {
    let (dir, mut env) = home(&[
        ("certs/t.pem", CERT),
        ("certs/bundle.crt", &format!("{CERT}{CERT}")),
        ("certs/README", "token=hunter2\n"),
        ("file.pem", CERT),
    ]);
    std::os::unix::fs::symlink("t.pem", dir.path().join("certs/1a2b3c4d.0")).unwrap();
    env.insert(
        "SSL_CERT_DIR".into(),
        format!("relative:{}", dir.path().join("certs").display()),
    );
    env.insert(
        "SSL_CERT_FILE".into(),
        dir.path().join("file.pem").display().to_string(),
    );
    let state = dir.path().join("state");
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let s = read(&[PackageManager::Pip], &host, Some(&state));
    assert_eq!(
        var(&s, "SSL_CERT_FILE"),
        state.join("mcpcell-ca-ssl.pem").to_str()
    );
    let ssl = s
        .bundles
        .iter()
        .find(|b| b.file == "mcpcell-ca-ssl.pem")
        .unwrap();
    assert_eq!(ssl.pem, CERT.as_bytes(), "{}", everything(&s));
    assert_eq!(ssl.certificates, 1);
    assert!(!everything(&s).contains("hunter2"));
}

/// The merge of `SSL_CERT_FILE` and `SSL_CERT_DIR` is kept too: the next launch takes it from
/// its entry without reading the sources' certificates, and a change to either source misses.
#[test]
fn a_merged_bundle_is_kept_and_any_change_to_a_source_misses() {
    use super::cache::tests::OTHER;
    let (dir, mut env) = home(&[("certs/t.pem", CERT), ("file.pem", OTHER)]);
    env.insert(
        "SSL_CERT_DIR".into(),
        dir.path().join("certs").display().to_string(),
    );
    env.insert(
        "SSL_CERT_FILE".into(),
        dir.path().join("file.pem").display().to_string(),
    );
    let state = dir.path().join("state");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let cache = CaCache::open(Some(&root));
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &Programs::default(),
    };
    let ssl = |s: PkgSettings| {
        let b = s
            .bundles
            .into_iter()
            .find(|b| b.file == "mcpcell-ca-ssl.pem")
            .unwrap();
        let pem = match &b.cached {
            Some(e) => e.read().unwrap(),
            None => b.pem.clone(),
        };
        (
            b.certificates,
            String::from_utf8(pem).unwrap(),
            b.cached.is_some(),
        )
    };
    let launch = || {
        ssl(read_cached(
            &[PackageManager::Pip],
            &host,
            Some(&state),
            &cache,
        ))
    };
    // SSL_CERT_FILE first, then the directory's.
    let both = format!("{OTHER}{CERT}");
    // Merged from the sources, then taken from the merge's entry.
    assert_eq!(launch(), (2, both.clone(), false));
    assert_eq!(launch(), (2, both, true));
    // Served from that entry: change the entry, not the sources, and see it.
    let merged = std::fs::read_dir(root.join(".ca-cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::read(p).unwrap().ends_with(b"\n2\n"))
        .expect("the merge's entry");
    std::fs::write(&merged, format!("{OTHER}1\n")).unwrap();
    assert_eq!(
        launch(),
        (1, OTHER.to_string(), true),
        "not served from the merge's entry"
    );
    // Either source changed: a miss, the sources' certificates again, then a hit.
    std::fs::write(dir.path().join("file.pem"), CERT).unwrap();
    assert_eq!(launch(), (1, CERT.to_string(), false));
    std::fs::write(dir.path().join("certs/t.pem"), OTHER).unwrap();
    let swapped = format!("{CERT}{OTHER}");
    assert_eq!(launch(), (2, swapped.clone(), false));
    assert_eq!(launch(), (2, swapped, true));
    // One merge entry is kept per bundle.
    let merges = std::fs::read_dir(root.join(".ca-cache"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read(e.path()).unwrap().ends_with(b"\n2\n"))
        .count();
    assert_eq!(merges, 1);
}

#[test]
fn node_extra_ca_certs_naming_the_npm_cafile_shares_its_copy() {
    let other = CERT.replace("MIIBbjCC", "MIIBbjCD");
    let (dir, mut env) = home(&[
        ("ca/corp.pem", CERT),
        ("ca/other.pem", &other),
        (".npmrc", "cafile=~/ca/corp.pem\n"),
    ]);
    let state = dir.path().join("state");
    let corp = dir.path().join("ca/corp.pem").display().to_string();
    env.insert("NODE_EXTRA_CA_CERTS".into(), corp);
    let programs = Programs::default();
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &programs,
    };
    let s = read(&[PackageManager::Npm], &host, Some(&state));
    let npm = state.join("mcpcell-ca-npm.pem");
    assert_eq!(var(&s, "npm_config_cafile"), npm.to_str());
    assert_eq!(var(&s, "NODE_EXTRA_CA_CERTS"), npm.to_str());
    assert_eq!(s.bundles.len(), 1, "{}", everything(&s));
    assert!(s.bundles[0].from.iter().any(|f| f == "NODE_EXTRA_CA_CERTS"));
    std::fs::create_dir(&state).unwrap();
    install(&s, &state).unwrap();
    assert_eq!(std::fs::read_to_string(&npm).unwrap(), CERT);
    assert!(!state.join("mcpcell-ca-node-extra.pem").exists());

    // Another file keeps a copy of its own.
    let other_path = dir.path().join("ca/other.pem").display().to_string();
    env.insert("NODE_EXTRA_CA_CERTS".into(), other_path);
    let host = Host {
        env: &env,
        cwd: dir.path(),
        programs: &programs,
    };
    let s = read(&[PackageManager::Npm], &host, Some(&state));
    let extra = state.join("mcpcell-ca-node-extra.pem");
    assert_eq!(var(&s, "npm_config_cafile"), npm.to_str());
    assert_eq!(var(&s, "NODE_EXTRA_CA_CERTS"), extra.to_str());
    assert_eq!(s.bundles.len(), 2);
    install(&s, &state).unwrap();
    assert_eq!(std::fs::read_to_string(&extra).unwrap(), other);
}
