use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use super::*;

fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |n| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    }
}

fn chain(vars: &[(&str, &str)]) -> Chain {
    Chain::from_env(env(vars)).unwrap().unwrap()
}

#[test]
fn no_variables_no_chain() {
    assert_eq!(Chain::from_env(env(&[])).unwrap(), None);
    assert_eq!(
        Chain::from_env(env(&[("HTTPS_PROXY", "  ")])).unwrap(),
        None
    );
    // NO_PROXY alone names no upstream.
    assert_eq!(Chain::from_env(env(&[("NO_PROXY", "*")])).unwrap(), None);
}

#[test]
fn which_variable_for_which_connection() {
    let c = chain(&[
        ("HTTPS_PROXY", "http://tunnel.corp:3128"),
        ("http_proxy", "plain.corp:8080"),
        ("HTTP_PROXY", "http://ignored.corp:1"),
        ("ALL_PROXY", "socks5://never.parsed:1080"),
    ]);
    let t = c.route("registry.npmjs.org", None, Use::Tunnel).unwrap();
    assert_eq!(
        (t.address().as_str(), t.var),
        ("tunnel.corp:3128", "HTTPS_PROXY")
    );
    let h = c.route("registry.npmjs.org", None, Use::Http).unwrap();
    assert_eq!(
        (h.address().as_str(), h.var),
        ("plain.corp:8080", "http_proxy")
    );
    // ALL_PROXY is the fallback of both; lower case wins over upper case.
    let c = chain(&[
        ("ALL_PROXY", "http://a.corp"),
        ("all_proxy", "http://b.corp:81"),
    ]);
    assert_eq!(
        c.route("x.test", None, Use::Tunnel).unwrap().address(),
        "b.corp:81"
    );
    assert_eq!(
        c.route("x.test", None, Use::Http).unwrap().address(),
        "b.corp:81"
    );
    // Only HTTP_PROXY: tunnels go direct, as curl would for https.
    let c = chain(&[("HTTP_PROXY", "http://[::1]:3128/")]);
    assert!(c.route("x.test", None, Use::Tunnel).is_none());
    assert_eq!(
        c.route("x.test", None, Use::Http).unwrap().address(),
        "[::1]:3128"
    );
}

#[test]
fn unsupported_or_malformed_upstreams_are_refused_without_their_value() {
    let e = Chain::from_env(env(&[("HTTPS_PROXY", "https://u:hunter22@p.corp")])).unwrap_err();
    assert_eq!(e, ChainError::Https { var: "HTTPS_PROXY" });
    let e = Chain::from_env(env(&[("ALL_PROXY", "socks5h://u:hunter22@p.corp")])).unwrap_err();
    assert!(matches!(e, ChainError::Scheme { scheme, .. } if scheme == "socks5h"));
    for bad in [
        "http://u:hunter22@p.corp:99999",
        "http://u:hun/ter22@p.corp",
        "http://u:hunter22@p corp",
        "http://u:hunter22@p.corp/path",
        "http://u:hunter22@",
        "http://u:hunter22@[::1",
        "http://u:hun%FFter22@p.corp",
        "http://u:hun%0D%0Ater22@p.corp",
        "ht\rtp://u:hunter22@p.corp",
    ] {
        let e = Chain::from_env(env(&[("https_proxy", bad)])).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, ChainError::Url { .. } | ChainError::Scheme { .. }),
            "{bad}: {e:?}"
        );
        assert!(
            !msg.contains("hunter22") && !msg.contains("hun"),
            "{bad}: {msg}"
        );
    }
}

#[test]
fn credentials_are_masked_and_sent_as_basic_auth() {
    let c = chain(&[(
        "HTTPS_PROXY",
        "http://al%40ice:pa%3Ass%20word@proxy.corp:3128",
    )]);
    let up = c.tunnel.as_ref().unwrap();
    assert_eq!(up.to_string(), "http://***@proxy.corp:3128");
    let shown = format!(
        "{up:?} {} {} {}",
        serde_json::to_string(&c).unwrap(),
        c.describe(),
        up
    );
    for secret in ["al%40ice", "al@ice", "pa:ss", "pa%3Ass", "word"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let req = request(up, "registry.npmjs.org", 443).unwrap();
    let token = data_encoding::BASE64.encode(b"al@ice:pa:ss word");
    assert_eq!(
        req,
        format!(
            "CONNECT registry.npmjs.org:443 HTTP/1.1\r\nHost: registry.npmjs.org:443\r\nProxy-Authorization: Basic {token}\r\n\r\n"
        )
    );
    assert!(c.reveals("x=http://al%40ice:pa%3Ass%20word@proxy.corp:3128"));
    assert!(c.reveals("al@ice:pa:ss word"));
    assert!(c.reveals("pa:ss word"));
    assert!(!c.reveals("http://proxy.corp:3128"));
    // Without credentials: no header, nothing to hide.
    let c = chain(&[("HTTPS_PROXY", "proxy.corp")]);
    let up = c.tunnel.as_ref().unwrap();
    assert_eq!(up.to_string(), "http://proxy.corp:80");
    assert!(
        !request(up, "a.test", 443)
            .unwrap()
            .contains("Authorization")
    );
    assert!(!c.reveals("anything"));
}

#[test]
fn hostile_destinations_never_reach_the_request() {
    let c = chain(&[("HTTPS_PROXY", "http://proxy.corp:3128")]);
    let up = c.tunnel.as_ref().unwrap();
    let long = format!("{}.test", "a".repeat(300));
    for host in [
        "a.test\r\nX-Injected: 1",
        "a.test HTTP/1.1\r\n\r\nGET / HTTP/1.1",
        "a.test\n",
        "a test",
        "",
        "a.test:443",
        "a.test/x",
        long.as_str(),
        "-a.test",
    ] {
        assert_eq!(request(up, host, 443), None, "{host:?}");
    }
    assert_eq!(request(up, "a.test", 0), None);
    assert_eq!(
        request(up, "::1", 443).unwrap().split("\r\n").next(),
        Some("CONNECT [::1]:443 HTTP/1.1")
    );
    assert!(request(up, "_srv.a-b.test.", 8443).is_some());
}

#[test]
fn no_proxy_entries() {
    let c = chain(&[
        ("HTTPS_PROXY", "http://proxy.corp:3128"),
        (
            "no_proxy",
            ".corp.example, Internal.test:8443 10.0.0.0/8,[::1],192.0.2.7 *.wild.test <local>",
        ),
        ("NO_PROXY", "*"),
    ]);
    let direct = |h: &str| c.route(h, None, Use::Tunnel).is_none();
    assert!(direct("corp.example"));
    assert!(direct("npm.corp.example"));
    assert!(direct("NPM.CORP.EXAMPLE."));
    assert!(!direct("evilcorp.example"));
    assert!(direct("internal.test"));
    assert!(direct("a.internal.test"));
    assert!(direct("10.1.2.3"));
    assert!(!direct("11.1.2.3"));
    assert!(direct("::1"));
    assert!(direct("[::1]"));
    assert!(direct("192.0.2.7"));
    assert!(direct("x.wild.test"));
    assert!(direct("wild.test"));
    assert!(!direct("registry.npmjs.org"));
    // A name is not resolved for an address entry, but its network.hosts pin is matched.
    assert!(!direct("pinned.test"));
    assert!(
        c.route(
            "pinned.test",
            Some("10.9.9.9".parse().unwrap()),
            Use::Tunnel
        )
        .is_none()
    );
    // `*` sends everything direct.
    let all = chain(&[("HTTPS_PROXY", "http://p.corp"), ("NO_PROXY", "a.test,*")]);
    assert!(all.route("anything.test", None, Use::Tunnel).is_none());
    assert!(all.describe().ends_with("direct (NO_PROXY): a.test, *"));
}

/// A one-shot fake upstream: answers the first request with `reply`, then writes `after`;
/// hands back the request it got.
fn fake_upstream(reply: Vec<u8>) -> (Upstream, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut req = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            req.push_str(&line);
        }
        let _ = s.write_all(&reply);
        // Hold the connection until the client is done with it.
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        req
    });
    let c = chain(&[(
        "HTTPS_PROXY",
        &format!("http://u:pw123456@127.0.0.1:{port}"),
    )]);
    (c.tunnel.unwrap(), t)
}

#[test]
fn a_tunnel_keeps_the_bytes_after_the_answer() {
    let (up, t) = fake_upstream(
        b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nSERVER-FIRST".to_vec(),
    );
    let mut s = tunnel(&up, "allowed.test", 25).unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"SERVER-FIRST");
    drop(s);
    let req = t.join().unwrap();
    assert!(
        req.starts_with("CONNECT allowed.test:25 HTTP/1.1\r\n"),
        "{req}"
    );
    let token = data_encoding::BASE64.encode(b"u:pw123456");
    assert!(
        req.contains(&format!("Proxy-Authorization: Basic {token}\r\n")),
        "{req}"
    );
}

#[test]
fn a_refusing_or_hostile_upstream_is_a_clear_error() {
    let (up, t) = fake_upstream(b"HTTP/1.1 403 Filtered\x1b[31m by policy\r\n\r\n".to_vec());
    let e = tunnel(&up, "allowed.test", 443).unwrap_err().to_string();
    drop(t);
    assert!(
        e.contains("answered CONNECT 403 Filtered\\x1b[31m by policy"),
        "{e}"
    );
    assert!(!e.chars().any(crate::escape::is_special), "{e:?}");

    let (up, t) = fake_upstream(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n".to_vec());
    let e = tunnel(&up, "allowed.test", 443).unwrap_err().to_string();
    drop(t);
    assert!(e.contains("407") && e.contains("wants credentials"), "{e}");

    let (up, t) = fake_upstream(b"SSH-2.0-not-a-proxy\r\n\r\n".to_vec());
    let e = tunnel(&up, "allowed.test", 443).unwrap_err().to_string();
    drop(t);
    assert!(e.contains("something other than HTTP"), "{e}");

    // An endless head is cut off at the bound, not read into memory.
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    endless.extend(std::iter::repeat_n(b'a', 64 * 1024));
    let (up, t) = fake_upstream(endless);
    let e = tunnel(&up, "allowed.test", 443).unwrap_err().to_string();
    drop(t);
    assert!(e.contains("head over 16384 bytes"), "{e}");

    // Nothing listening: a connection error naming the upstream.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = chain(&[("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"))]);
    let e = tunnel(c.tunnel.as_ref().unwrap(), "allowed.test", 443).unwrap_err();
    assert!(
        matches!(&e, TunnelError::Connect(m) if m.contains(&format!("127.0.0.1:{port}"))),
        "{e:?}"
    );
}

#[test]
fn the_upstream_itself_is_recognised_by_name_and_address() {
    let c = chain(&[
        ("HTTPS_PROXY", "http://Proxy.Corp.example:3128"),
        ("HTTP_PROXY", "http://127.0.0.1:8080"),
    ]);
    let none: &[IpAddr] = &[];
    assert!(c.is_upstream("proxy.corp.example.", none, 3128));
    assert!(!c.is_upstream("proxy.corp.example", none, 443));
    assert!(c.is_upstream("127.0.0.1", none, 8080));
    // Another name for its address, in either IP family's form.
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert!(c.is_upstream("alias.test", &[lo], 8080));
    assert!(c.is_upstream("alias.test", &[mapped], 8080));
    assert!(!c.is_upstream("alias.test", &[lo], 8081));
    assert!(!c.is_upstream("other.test", &["10.0.0.1".parse().unwrap()], 8080));
}
