//! Registry and index URLs: the credentials they may carry are removed before one reaches
//! the sandbox, and their host becomes an allowlist entry.

use crate::hostspec::HostPattern;

/// A URL with its user information, query and fragment removed, and the host and port it
/// connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanUrl {
    pub url: String,
    pub host: HostPattern,
    /// Whether user information (`user:password@`) or a query was removed.
    pub had_secret: bool,
}

/// `https://user:pass@host:8443/path?token=x` → `https://host:8443/path`, host `host:8443`.
/// Only `http` and `https`; anything else (a local directory for pip's `--find-links`, a
/// `file:` URL) is not a network host and is refused.
pub fn clean(url: &str) -> Result<CleanUrl, String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "not an http(s) URL".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Err(format!("scheme `{scheme}` is not http or https")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = &tail[..path_end];
    let had_query = path_end < tail.len();
    let pattern: HostPattern = hostport
        .parse()
        .map_err(|e: crate::hostspec::HostSpecError| e.to_string())?;
    if matches!(pattern.host, crate::hostspec::HostMatch::Subdomains(_)) {
        return Err("a wildcard is not a host".into());
    }
    if path.chars().any(char::is_control) {
        return Err("a control character in the path".into());
    }
    let port = pattern.port.unwrap_or(default_port);
    Ok(CleanUrl {
        url: format!("{scheme}://{hostport}{path}"),
        host: HostPattern {
            host: pattern.host,
            port: Some(port),
        },
        had_secret: userinfo.is_some() || had_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_are_removed() {
        let c = clean("https://alice:s3cret@npm.corp.example:8443/api/npm/?token=x#f").unwrap();
        assert_eq!(c.url, "https://npm.corp.example:8443/api/npm/");
        assert_eq!(c.host.to_string(), "npm.corp.example:8443");
        assert!(c.had_secret);
        let c = clean("https://registry.npmjs.org/").unwrap();
        assert_eq!(c.url, "https://registry.npmjs.org/");
        assert_eq!(c.host.to_string(), "registry.npmjs.org:443");
        assert!(!c.had_secret);
        let c = clean("http://[2001:db8::1]:3128/simple").unwrap();
        assert_eq!(c.host.to_string(), "[2001:db8::1]:3128");
        assert_eq!(c.url, "http://[2001:db8::1]:3128/simple");
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert!(clean("file:///home/u/wheels").is_err());
        assert!(clean("/home/u/wheels").is_err());
        assert!(clean("https:///path").is_err());
        assert!(clean("https://*.example.com/").is_err());
        assert!(clean("https://a b/").is_err());
    }
}
