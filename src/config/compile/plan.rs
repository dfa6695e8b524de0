//! Every runtime setting of a configuration, in one [`Plan`]: one listener per port (its
//! certificates chosen by SNI, client certificates checked when the Gateway's `tls.frontend` asks,
//! HTTP/2 settings and client limits from the Gateway's annotations), the route table, and per
//! cluster its balancer tables, endpoint addresses, upstream TLS, pool limits and HTTP/2 settings
//! (from the DestinationRule). Built-in defaults apply where the configuration says nothing.
//!
//! Endpoint names (FQDN EndpointSlices, ExternalName Services) are resolved by the caller's
//! [`Resolver`] when the plan is made; `serve` makes one at start, at each reload, and every DNS
//! refresh interval while running.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use super::{CompiledCluster, cluster_spec, cluster_spec_resolved, gateway_key, site, table_spec};
use crate::balance::{self, Locality, Site};
use crate::config::load::DEFAULT_DNS_REFRESH;
use crate::config::model::{
    self, CertKeyPair, ClientCert, ClientConnections, Cluster, Config, EndpointAddress, Endpoints,
    FrontendValidationMode, Gateway, Http2Settings, Protocol, SubjectAltName, TrustAnchor,
    UpstreamTls, UpstreamTlsMode,
};
use crate::h2::conn;
use crate::proxy::client_limits::ClientLimits;
use crate::proxy::settings::{BufferLimits, GatewayConfig, Listener, Service};
use crate::proxy::upstreams::{
    ConnectionLife, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE, Endpoint, Outlier, StreamLimits,
    UpstreamCluster, Upstreams, upstream_h2,
};
use crate::route::RouteTable;
use crate::tls::client::{self, Identity};
use crate::tls::server::{ServerCert, server_config_auth};

/// Upstream connections per endpoint and worker when the DestinationRule sets no bound.
const DEFAULT_CONNECTIONS_PER_ENDPOINT: usize = 4;

/// What the workers run for one configuration.
pub struct Plan {
    /// One address per gateway listener, in `gateway.listeners` order.
    pub listen: Vec<SocketAddr>,
    pub gateway: Arc<GatewayConfig>,
    /// One line per listener and cluster, for the start-up log.
    pub describe: Vec<String>,
    /// Every cluster's endpoint addresses, as resolved (to notice when DNS answers change).
    pub endpoints: Vec<Vec<SocketAddr>>,
    /// The shortest DNS refresh interval of the config's names (`None`: no names to resolve).
    pub dns_refresh: Option<Duration>,
}

/// Resolves `(name, port)` to addresses; [`system_resolver`] asks the system (getaddrinfo).
pub type Resolver = dyn Fn(&str, u16) -> Result<Vec<SocketAddr>, String> + Send + Sync;

/// Every runtime setting of `config`: listeners bind on `bind` (e.g. `0.0.0.0`) at their
/// configured ports; cluster-wide limits are shared out over `workers` workers; endpoint names are
/// resolved by `resolve`.
pub fn plan(
    config: &Config,
    bind: IpAddr,
    workers: usize,
    resolve: &Resolver,
) -> Result<Plan, String> {
    let table = RouteTable::build(&table_spec(config)).map_err(|e| e.to_string())?;
    let mut describe = Vec::new();

    // One socket per port; the Gateway listeners on it share its certificates (picked by SNI).
    let mut ports: BTreeMap<u16, Vec<(&Gateway, &model::Listener)>> = BTreeMap::new();
    for gw in &config.gateways {
        for l in &gw.listeners {
            ports.entry(l.port).or_default().push((gw, l));
        }
    }
    let (mut listeners, mut listen, mut listener_ports) = (Vec::new(), Vec::new(), Vec::new());
    let (mut server_h2, mut clients) = (Vec::new(), Vec::new());
    for (port, on_port) in &ports {
        let names: Vec<String> = on_port
            .iter()
            .map(|(gw, l)| format!("{}/{}", gateway_key(&gw.meta), l.name))
            .collect();
        let https = on_port.iter().any(|(_, l)| l.protocol == Protocol::Https);
        if https && on_port.iter().any(|(_, l)| l.protocol == Protocol::Http) {
            return Err(format!(
                "port {port}: listeners {} mix HTTP and HTTPS on one port",
                names.join(", ")
            ));
        }
        let listener = if https {
            let mut certs = Vec::new();
            for (_, l) in on_port {
                for pair in l.tls.iter().flat_map(|t| &t.certificates) {
                    certs.push(ServerCert {
                        hostnames: l.hostname.iter().map(|h| h.as_str().to_string()).collect(),
                        cert_pem: pair.cert_pem.clone(),
                        key_pem: pair.key_pem.clone(),
                    });
                }
            }
            let validation = on_port
                .iter()
                .find_map(|(gw, _)| gw.frontend_validation.for_port(*port));
            let auth = validation.map(|v| {
                (
                    v.ca_pem.as_slice(),
                    v.mode == FrontendValidationMode::AllowValidOnly,
                )
            });
            let tls = server_config_auth(&certs, auth)
                .map_err(|e| format!("port {port} ({}): TLS: {e}", names.join(", ")))?;
            Listener::Tls(tls)
        } else {
            Listener::H2c
        };
        // The config was checked: every Gateway on a port has the same HTTP/2 annotations.
        let http2 = on_port.first().map(|(gw, _)| gw.http2).unwrap_or_default();
        describe.push(format!(
            "listener {bind}:{port} {} ({}){}",
            if https { "HTTPS" } else { "HTTP (h2c)" },
            names.join(", "),
            describe_http2(&http2)
        ));
        listeners.push(listener);
        listen.push(SocketAddr::new(bind, *port));
        listener_ports.push(Some(*port));
        server_h2.push(h2_config(conn::Config::default(), &http2));
        let annotations = on_port
            .first()
            .map(|(gw, _)| gw.clients)
            .unwrap_or_default();
        clients.push(client_limits(&annotations));
    }
    if listeners.is_empty() {
        return Err("no Gateway listener to run".into());
    }

    // The Gateways that name a locality agree on it (validation checks).
    let site = config
        .gateways
        .iter()
        .find(|g| g.locality != Locality::default())
        .or(config.gateways.first())
        .map(site)
        .unwrap_or_default();
    let backend_cert = config
        .gateways
        .iter()
        .find_map(|g| g.backend_client_cert.as_ref());
    let mut clusters = Vec::new();
    let mut dns_refresh: Option<Duration> = None;
    for cluster in &config.clusters {
        let refresh = match &cluster.endpoints {
            Endpoints::Dns { refresh, .. } => Some(*refresh),
            Endpoints::Static(list) => list
                .iter()
                .any(|e| matches!(e.address, EndpointAddress::Dns(_)))
                .then_some(DEFAULT_DNS_REFRESH),
        };
        dns_refresh = match (dns_refresh, refresh) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let c = upstream_cluster(cluster, &site, backend_cert, workers, resolve)
            .map_err(|e| format!("cluster {}: {e}", cluster.name()))?;
        describe.push(format!(
            "cluster {} ({}, {}{}): {}",
            cluster.name(),
            cluster.policy.load_balancer.policy.name(),
            match &cluster.tls {
                UpstreamTls::Disabled => "h2c".to_string(),
                UpstreamTls::Enabled(t) => format!("TLS {:?}", t.mode),
            },
            describe_http2(&cluster.http2),
            c.endpoints
                .iter()
                .map(|e| e.addr.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ));
        clusters.push(c);
    }
    let gateway = GatewayConfig {
        listeners,
        service: Service::Proxy(Arc::new(Upstreams {
            table,
            clusters,
            listener_ports,
            // The request timeout bounds the whole exchange; without retries a backend request
            // is the whole exchange too, so the shorter of the two applies.
            http_timeouts: config
                .http_routes
                .iter()
                .map(|r| {
                    r.rules
                        .iter()
                        .map(
                            |rule| match (rule.timeouts.request, rule.timeouts.backend_request) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            },
                        )
                        .collect()
                })
                .collect(),
            server_h2,
            clients,
        })),
        // Every listener and cluster carries its own settings (above).
        server_h2: conn::Config::default(),
        client_h2: upstream_h2(),
        buffers: buffer_limits(&config.gateways),
    };
    let endpoints = match &gateway.service {
        Service::Proxy(up) => up
            .clusters
            .iter()
            .map(|c| c.endpoints.iter().map(|e| e.addr).collect())
            .collect(),
        _ => Vec::new(),
    };
    Ok(Plan {
        listen,
        gateway: Arc::new(gateway),
        describe,
        endpoints,
        dns_refresh,
    })
}

/// A cluster's balancer, endpoints and TLS.
fn upstream_cluster(
    cluster: &Cluster,
    site: &Site,
    backend_cert: Option<&CertKeyPair>,
    workers: usize,
    resolve: &Resolver,
) -> Result<UpstreamCluster, String> {
    let (compiled, addrs) = match &cluster.endpoints {
        Endpoints::Static(list) => {
            let mut addrs = Vec::new();
            for e in list {
                addrs.push(match &e.address {
                    EndpointAddress::Ip(ip) => SocketAddr::new(*ip, e.port),
                    EndpointAddress::Dns(name) => resolve(name, e.port)?
                        .into_iter()
                        .next()
                        .ok_or(format!("{name} resolves to no address"))?,
                });
            }
            (cluster_spec(cluster), addrs)
        }
        Endpoints::Dns { name, port, .. } => {
            let addrs = resolve(name, *port)?;
            let compiled = cluster_spec_resolved(cluster, &addrs);
            // In the balancer's order (duplicates dropped).
            let addrs = compiled
                .spec
                .endpoints
                .iter()
                .filter_map(|e| e.id.parse().ok())
                .collect();
            (compiled, addrs)
        }
    };
    let CompiledCluster { spec, unready } = compiled;
    let balance = balance::Tables::build(&spec, site).map_err(|e| e.to_string())?;
    let tls = upstream_tls(cluster, backend_cert)?;
    let endpoints: Vec<Endpoint> = addrs
        .into_iter()
        .map(|addr| Endpoint {
            addr,
            tls: tls.clone(),
        })
        .collect();
    let pool = &cluster.policy.connection_pool;
    let max_connections = match pool.max_connections {
        Some(n) => (n as usize / endpoints.len().max(1)).max(1),
        None => DEFAULT_CONNECTIONS_PER_ENDPOINT,
    };
    Ok(UpstreamCluster {
        balance: Arc::new(balance),
        endpoints,
        unready,
        max_connections,
        connect_timeout: pool.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        keepalive: pool
            .http2_keepalive
            .map_or(DEFAULT_KEEPALIVE, |k| (k.interval, k.timeout)),
        life: ConnectionLife {
            max_duration: pool.max_connection_duration,
            idle_timeout: pool.http_idle_timeout,
        },
        tcp_keepalive: pool.tcp_keepalive,
        limits: StreamLimits {
            per_connection: pool.max_concurrent_streams,
            per_connection_life: pool.max_requests_per_connection.filter(|&n| n > 0),
            in_flight: pool
                .http2_max_requests
                .map(|n| (n as usize).div_ceil(workers.max(1))),
        },
        client_h2: Some(h2_config(upstream_h2(), &cluster.http2)),
        outlier: cluster.policy.outlier_detection.as_ref().map(|o| Outlier {
            consecutive_5xx: o.consecutive_5xx_errors,
            consecutive_gateway: o.consecutive_gateway_errors,
            base_ejection: o.base_ejection_time,
            max_ejection_percent: o.max_ejection_percent,
            min_health_percent: o.min_health_percent,
        }),
    })
}

/// The limits a Gateway's annotations set for its client connections, the defaults where they say
/// nothing.
fn client_limits(a: &ClientConnections) -> ClientLimits {
    let d = ClientLimits::DEFAULT;
    ClientLimits {
        tls_handshake_timeout: a.tls_handshake_timeout.unwrap_or(d.tls_handshake_timeout),
        preface_timeout: a.preface_timeout.unwrap_or(d.preface_timeout),
        request_headers_timeout: a
            .request_headers_timeout
            .unwrap_or(d.request_headers_timeout),
        idle_timeout: a.idle_timeout.unwrap_or(d.idle_timeout),
        max_connections: a.max_connections_per_worker.unwrap_or(d.max_connections),
    }
}

/// The buffer budget and stall timeout: the strictest any Gateway sets, the defaults where none
/// does (they apply to the whole process).
fn buffer_limits(gateways: &[Gateway]) -> BufferLimits {
    let mut limits = BufferLimits::default();
    let set = || gateways.iter().map(|g| g.buffers);
    if let Some(b) = set().filter_map(|b| b.budget).min() {
        limits.budget = b;
    }
    if let Some(t) = set().filter_map(|b| b.stall_timeout).min() {
        limits.stall_timeout = t;
    }
    limits
}

/// The connection settings the annotations ask for; the defaults where they say nothing.
fn h2_config(mut c: conn::Config, http2: &Http2Settings) -> conn::Config {
    if let Some(n) = http2.stream_window {
        c.initial_window_size = n;
    }
    if let Some(n) = http2.connection_window {
        c.connection_window_size = n;
    }
    if let Some(n) = http2.max_buffered_output {
        c.limits.max_buffered_output = n;
    }
    c
}

/// The HTTP/2 annotations in force, for the start-up description (empty when none is set).
fn describe_http2(http2: &Http2Settings) -> String {
    let mut out = String::new();
    for (name, value) in [
        (
            "http2-stream-window",
            http2.stream_window.map(|n| n as usize),
        ),
        (
            "http2-connection-window",
            http2.connection_window.map(|n| n as usize),
        ),
        ("max-buffered-output", http2.max_buffered_output),
    ] {
        if let Some(n) = value {
            out.push_str(&format!(", {name} {n}"));
        }
    }
    out
}

type ClientTls = Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>;

/// The client TLS config and SNI name for a cluster (`None`: h2c).
fn upstream_tls(
    cluster: &Cluster,
    backend_cert: Option<&CertKeyPair>,
) -> Result<ClientTls, String> {
    let UpstreamTls::Enabled(t) = &cluster.tls else {
        return Ok(None);
    };
    let gateway_cert = || {
        backend_cert.ok_or_else(|| {
            format!(
                "{}: needs the Gateway's spec.tls.backend.clientCertificateRef",
                t.source
            )
        })
    };
    let client_cert = match &t.client_cert {
        ClientCert::None => None,
        ClientCert::Pem(pair) => Some((pair.cert_pem.clone(), pair.key_pem.clone())),
        ClientCert::GatewayBackend { .. } => {
            let pair = gateway_cert()?;
            Some((pair.cert_pem.clone(), pair.key_pem.clone()))
        }
    };
    let ca_pem = match &t.ca {
        TrustAnchor::Pem(pem) => pem.clone(),
        TrustAnchor::GatewayBackendCa => gateway_cert()?.ca_pem.clone().ok_or_else(|| {
            format!(
                "{}: the Gateway's backend client certificate has no ca.crt",
                t.source
            )
        })?,
    };
    let sni = t.sni.clone().unwrap_or_else(|| match &cluster.endpoints {
        Endpoints::Dns { name, .. } => name.clone(),
        Endpoints::Static(_) => cluster.fqdn.clone(),
    });
    let mut uris = Vec::new();
    let mut dns = None;
    for san in &t.subject_alt_names {
        match san {
            SubjectAltName::Uri(u) => uris.push(u.clone()),
            SubjectAltName::Dns(d) => dns = dns.or(Some(d.clone())),
        }
    }
    let (identity, name) = match (uris.is_empty(), dns) {
        (false, _) => (Identity::AnyUri(uris), sni),
        (true, Some(d)) => (Identity::ServerName, d),
        (true, None) if t.mode == UpstreamTlsMode::IstioMutual => {
            (Identity::AnyUri(Vec::new()), sni)
        }
        (true, None) => (Identity::ServerName, sni),
    };
    let config = client::client_config(&client::UpstreamTls {
        ca_pem,
        client_cert,
        identity,
    })
    .map_err(|e| format!("{}: {e}", t.source))?;
    let name = ServerName::try_from(name.clone())
        .map_err(|e| format!("{}: server name {name}: {e}", t.source))?;
    Ok(Some((config, name)))
}
