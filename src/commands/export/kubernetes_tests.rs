use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::profile::Loader;

fn load(spec: &str) -> Profile {
    Loader::with_dirs(vec![]).load(spec).unwrap().0
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p: PathBuf = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn spec(profile: &Profile) -> Spec<'_> {
    Spec {
        profile,
        name: None,
        image: "example.com/srv:1".into(),
        command: vec!["server".into(), "/data".into()],
        allow_read: vec![],
        allow_write: vec![],
        allow_exec: vec![],
        allow_host: vec![],
        pass_env: vec![],
    }
}

fn kind<'a>(o: &'a Objects, k: &str) -> Option<&'a Value> {
    o.objects.iter().find(|v| v["kind"] == k)
}

fn server(o: &Objects) -> &Value {
    &kind(o, "Pod").unwrap()["spec"]["containers"][0]
}

#[test]
fn server_runs_under_mcpcell_with_a_restrictive_context() {
    let p = load("default");
    let o = build(&spec(&p)).unwrap();
    let c = server(&o);
    assert_eq!(c["command"][0], "mcpcell");
    assert_eq!(c["args"][0], "run");
    assert_eq!(c["stdin"], true);
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"][0], "ALL");
    assert_eq!(sc["seccompProfile"]["type"], "Localhost");
    assert_eq!(
        sc["seccompProfile"]["localhostProfile"],
        "mcpcell/mcpcell-default.json"
    );
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&args[args.len() - 3..], &["--", "server", "/data"]);
    // mode none: a NetworkPolicy with no egress at all.
    let np = kind(&o, "NetworkPolicy").unwrap();
    assert_eq!(np["spec"]["egress"].as_array().unwrap().len(), 0);
}

#[test]
fn hostile_strings_are_quoted_by_the_serialiser() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "evil.yaml",
        "filesystem:\n  write: [\"/data\\n---\\n- &a [evil] # \"]\nnetwork: {mode: none}\n",
    );
    let p = load(&path);
    let mut s = spec(&p);
    s.command = vec![
        "sh".into(),
        "-c".into(),
        "x\n---\napiVersion: v1\nkind: Secret # \"'".into(),
    ];
    s.image = "img\nkind: Evil".into();
    let o = build(&s).unwrap();
    let text = render(&o.objects).unwrap();
    // Parsed back, the stream holds exactly our documents, the hostile values intact.
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "NetworkPolicy", "Pod"]);
    assert_eq!(docs[2]["spec"]["containers"][0]["image"], "img\nkind: Evil");
    let args = docs[2]["spec"]["containers"][0]["args"].as_array().unwrap();
    assert_eq!(
        args.last().unwrap(),
        "x\n---\napiVersion: v1\nkind: Secret # \"'"
    );
    let mounts = docs[2]["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"] == "/data\n---\n- &a [evil] # ")
    );
}

#[test]
fn volumes_only_for_grants_outside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "srv.yaml",
        "filesystem:\n  read: [/usr/share/zoneinfo, /srv/ref]\n  write: [\"${STATE_DIR}\", /data, \"${HOME}/.cache/x\"]\n  args: read\nnetwork: {mode: none}\n",
    );
    let p = load(&path);
    let mut s = spec(&p);
    s.command = vec!["server".into(), "/docs".into()];
    let o = build(&s).unwrap();
    let mounts = server(&o)["volumeMounts"].as_array().unwrap().clone();
    let find = |path: &str| mounts.iter().find(|m| m["mountPath"] == path).cloned();
    assert!(find("/usr/share/zoneinfo").is_none(), "the image has it");
    assert!(
        find("/var/lib/mcpcell/mcpcell").is_none(),
        "the state volume covers it"
    );
    assert!(find("/var/lib/mcpcell").is_some());
    assert!(find("/tmp").is_some());
    assert_eq!(find("/data").unwrap().get("readOnly"), None);
    assert_eq!(
        find("/home/mcpcell/.cache/x").unwrap().get("readOnly"),
        None
    );
    assert_eq!(find("/srv/ref").unwrap()["readOnly"], true);
    assert_eq!(find("/docs").unwrap()["readOnly"], true);
    assert_eq!(find("/etc/mcpcell/profiles").unwrap()["readOnly"], true);
    let cm = kind(&o, "ConfigMap").unwrap();
    assert!(
        cm["data"]["srv.yaml"]
            .as_str()
            .unwrap()
            .contains("/srv/ref")
    );
}

#[test]
fn env_only_passed_names_from_an_optional_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "envy.yaml",
        "env:\n  pass: [PATH, GITHUB_TOKEN, \"LC_*\"]\n  set: {FOO: bar}\nnetwork: {mode: none}\n",
    );
    let p = load(&path);
    let mut s = spec(&p);
    s.pass_env = vec!["EXTRA".into()];
    let o = build(&s).unwrap();
    let env = server(&o)["env"].as_array().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["HOME", "TMPDIR", "XDG_STATE_HOME", "GITHUB_TOKEN", "EXTRA"]
    );
    let r = &env[3]["valueFrom"]["secretKeyRef"];
    assert_eq!(r["name"], "mcpcell-envy-env");
    assert_eq!(r["key"], "GITHUB_TOKEN");
    assert_eq!(r["optional"], true);
    assert!(o.notes.iter().any(|n| n.contains("LC_*")));
    let mut s = spec(&p);
    s.pass_env = vec!["A=B".into()];
    assert!(matches!(build(&s), Err(KubeError::EnvName(_))));
}

#[test]
fn proxy_mode_adds_the_sidecar_and_an_egress_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "web.yaml",
        "network:\n  mode: proxy\n  allow: [\"api.example.com\", \"git.example.com:22\"]\n",
    );
    let p = load(&path);
    let o = build(&spec(&p)).unwrap();
    let pod = kind(&o, "Pod").unwrap();
    let side = &pod["spec"]["containers"][1];
    assert_eq!(side["name"], "egress-proxy");
    assert_eq!(side["args"][0], "proxy");
    assert!(
        side["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "127.0.0.1:3128")
    );
    // The server runs a profile that extends this one in host mode, port 3128 only.
    let cm = kind(&o, "ConfigMap").unwrap();
    let derived: Value =
        serde_yaml::from_str(cm["data"]["mcpcell-web-pod.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(derived["extends"][0], "web");
    assert_eq!(derived["network"]["mode"], "host");
    assert_eq!(derived["network"]["connect"][0], 3128);
    let np = kind(&o, "NetworkPolicy").unwrap();
    let egress = np["spec"]["egress"].as_array().unwrap();
    assert_eq!(egress[0]["ports"][0]["port"], 53);
    let ports: Vec<u64> = egress[1]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [22, 80, 443]);
    let except = egress[1]["to"][0]["ipBlock"]["except"].as_array().unwrap();
    assert!(except.iter().any(|c| c == "10.0.0.0/8"));
}

/// The derived host-mode profile extends the proxy-mode one, and lists append: a port list
/// the proxy-mode profile carries (ignored there) would let the server past the sidecar.
#[test]
fn a_proxy_mode_profile_with_port_lists_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (key, line) in [("connect", 4), ("bind", 5)] {
        let list = |k: &str| if k == key { "[443]" } else { "[]" };
        let path = file(
            &dir,
            &format!("{key}.yaml"),
            &format!(
                "network:\n  mode: proxy\n  allow: [\"api.example.com\"]\n  connect: {}\n  bind: {}\n",
                list("connect"),
                list("bind")
            ),
        );
        let p = load(&path);
        let e = match build(&spec(&p)) {
            Err(e @ KubeError::PortList { .. }) => e.to_string(),
            other => panic!("{key}: {:?}", other.map(|_| ())),
        };
        assert!(
            e.contains(&format!("{key}.yaml:{line}:"))
                && e.contains(&format!("port 443 in network.{key}")),
            "{e}"
        );
    }
}

#[test]
fn names_are_checked() {
    let p = load("default");
    for bad in ["Bad", "a_b", "-a", "a\nb", &"x".repeat(51)] {
        let mut s = spec(&p);
        s.name = Some(bad.to_string());
        assert!(matches!(build(&s), Err(KubeError::Name(_))), "{bad:?}");
    }
    let mut s = spec(&p);
    s.allow_write = vec!["/a/../etc".into()];
    assert!(matches!(build(&s), Err(KubeError::Path { .. })));
    let mut s = spec(&p);
    s.command = vec![];
    assert!(matches!(build(&s), Err(KubeError::NoCommand)));
    assert_eq!(default_name("My Profile.v2"), "mcpcell-my-profile-v2");
}

#[test]
fn a_profile_file_runs_by_its_path_in_the_configmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "mine.yaml",
        "extends: [python]\nnetwork: {mode: host, connect: [443]}\nfilesystem: {write: [\"${CWD}/out\"]}\n",
    );
    let p = load(&path);
    let o = build(&spec(&p)).unwrap();
    let args = &server(&o)["args"];
    assert_eq!(args[3], "/etc/mcpcell/profiles/mine.yaml");
    assert!(kind(&o, "NetworkPolicy").is_none(), "host mode: no policy");
    assert!(o.notes.iter().any(|n| n.contains("${CWD}/out")));
    let cm = kind(&o, "ConfigMap").unwrap();
    assert_eq!(
        cm["data"].as_object().unwrap().len(),
        1,
        "built-ins are not carried"
    );
}
