//! `proxy`: the egress proxy on its own, outside any sandbox (a sidecar container, or any
//! process that honours HTTP_PROXY/ALL_PROXY). The same allowlist syntax, DNS refusal,
//! private-address refusal, CONNECT/HTTP/SOCKS5 and logging as network mode `proxy`; what it
//! does not have is the sandbox's network namespace, so whoever can reach its address can
//! use it: keep it on loopback (a pod's containers share it) or fence it with a firewall or
//! NetworkPolicy.

use std::net::{TcpListener, UdpSocket};

use nix::sys::signal::{SigSet, Signal};
use thiserror::Error;
use tracing::{info, warn};

use crate::cli::ProxyArgs;
use crate::hostspec::{Cidr, HostPattern, HostSpecError};
use crate::outfile::OutFileError;
use crate::plan;
use crate::profile::Loader;
use crate::proxy::{Listeners, ProxyConfig};

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("--allow-host {0}")]
    Host(HostSpecError),
    #[error("--allow-private {0}")]
    Private(HostSpecError),
    #[error(transparent)]
    Logging(OutFileError),
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error(
        "profile `{profile}` has network mode `{mode}`; `mcpcell proxy` serves a `proxy`-mode allowlist (network: {{mode: proxy, allow: [...]}}), or give --allow-host without --profile"
    )]
    NotProxy { profile: String, mode: String },
    #[error("failed to listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Upstream(#[from] crate::proxy::chain::ChainError),
    #[error("failed to start the proxy")]
    Start(#[source] std::io::Error),
}

/// Serves until SIGTERM, SIGINT or SIGHUP; every failure exits 125.
pub fn run(args: ProxyArgs) -> Result<i32, ProxyError> {
    crate::logging::init(args.log_level, args.log_format, None).map_err(ProxyError::Logging)?;
    serve(&args)?;
    Ok(0)
}

/// The allowlist: a profile's proxy settings plus --allow-host and --allow-private, or
/// those flags alone.
fn config(args: &ProxyArgs) -> Result<ProxyConfig, ProxyError> {
    let allow_private: Vec<Cidr> = args
        .allow_private
        .iter()
        .map(|c| c.parse().map_err(ProxyError::Private))
        .collect::<Result<_, _>>()?;
    let Some(profile) = &args.profile else {
        let allow: Vec<HostPattern> = args
            .allow_host
            .iter()
            .map(|h| h.parse().map_err(ProxyError::Host))
            .collect::<Result<_, _>>()?;
        let mut cfg = ProxyConfig::new(allow, allow_private);
        cfg.chain = crate::proxy::chain::Chain::from_env(|n| std::env::var(n).ok())?;
        return Ok(cfg);
    };
    let req = plan::Request {
        profile: Some(profile.clone()),
        allow_host: args.allow_host.clone(),
        dry_run: true,
        command_optional: true,
        // Only the allowlist is used: what the sandbox could not enforce here (a memory
        // cgroup, RLIMIT_NPROC for root) does not concern the proxy, and must not keep a
        // sidecar from starting.
        collect_gaps: true,
        ..Default::default()
    };
    let plan = plan::build(&req, &Loader::from_env(), &plan::Host::probe()?)?;
    let Some(mut cfg) = plan.network.proxy else {
        return Err(ProxyError::NotProxy {
            profile: plan.profile.name.clone(),
            mode: crate::profile::validate::mode_name(plan.network.mode).to_string(),
        });
    };
    cfg.allow_private.extend(allow_private);
    Ok(cfg)
}

fn serve(args: &ProxyArgs) -> Result<(), ProxyError> {
    let cfg = config(args)?;
    let listen =
        |addr| TcpListener::bind(addr).map_err(|source| ProxyError::Listen { addr, source });
    let proxy = listen(args.listen)?;
    // Without --dns the responder listens on an ephemeral loopback port nobody is told about.
    let dns_addr = args.dns.unwrap_or(([127, 0, 0, 1], 0).into());
    let dns = UdpSocket::bind(dns_addr).map_err(|source| ProxyError::Listen {
        addr: dns_addr,
        source,
    })?;
    let at = proxy.local_addr().map_err(ProxyError::Start)?;
    if !at.ip().is_loopback() {
        warn!(target: "mcpcell", "the proxy listens on {at}, beyond loopback: anyone who can reach that address can use its allowlist");
    }
    if cfg.allow.is_empty() {
        warn!(target: "mcpcell", "the allowlist is empty: every destination will be refused");
    }
    let allow: Vec<String> = cfg.allow.iter().map(|a| a.to_string()).collect();
    info!(
        target: "mcpcell",
        event = "proxy_listening",
        address = %at,
        "proxy listening on {at} (HTTP CONNECT, http:// and SOCKS5); allowed: {}",
        if allow.is_empty() { "nothing".to_string() } else { allow.join(", ") }
    );
    if args.dns.is_some() {
        let d = dns.local_addr().map_err(ProxyError::Start)?;
        info!(target: "mcpcell", event = "dns_listening", address = %d, "DNS responder on {d}");
    }
    // Blocked before the proxy's threads start (they inherit the mask), so that only the
    // wait below takes them.
    let mut stop = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        stop.add(s);
    }
    stop.thread_block()
        .map_err(|e| ProxyError::Start(e.into()))?;
    let running = crate::proxy::start(
        cfg,
        Listeners {
            proxy,
            transparent: Vec::new(),
            dns,
            admitted: None,
        },
    )
    .map_err(ProxyError::Start)?;
    let sig = stop.wait().map_err(|e| ProxyError::Start(e.into()))?;
    info!(target: "mcpcell", event = "proxy_stopping", signal = %sig, "proxy stopping ({sig})");
    for line in running.summary() {
        info!(target: "mcpcell", event = "proxy_summary", "proxy summary: {line}");
    }
    Ok(())
}
