//! The embedded demo: a throwaway PKI, three echo backends behind mutual TLS, and the gateway in
//! front of them, so `h2edge demo` needs nothing else.
//!
//! - [`pki`]: a throwaway CA and the certificates the demo (and the tests) need.

pub mod pki;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use crate::h2::conn;
use crate::proxy::settings::{GatewayConfig, Listener, Service};
use crate::proxy::upstreams::{Endpoint, Upstreams};
use crate::runtime::{self, BackendKind, RuntimeConfig};
use crate::tls::client::{Identity, UpstreamTls, client_config};
use crate::tls::server::{ServerCert, server_config};

/// The SPIFFE identities of the demo's mesh.
pub const BACKEND_ID: &str = "spiffe://cluster.local/ns/demo/sa/echo";
pub const GATEWAY_ID: &str = "spiffe://cluster.local/ns/demo/sa/h2edge";
/// How many echo backends the demo runs.
pub const BACKENDS: usize = 3;

pub struct Options {
    pub listen: SocketAddr,
    pub h2c_listen: SocketAddr,
    pub workers: usize,
    pub backend: BackendKind,
    /// Where the gateway's workers count what they do (for `/metrics`).
    pub metrics: Option<Arc<crate::observe::Registry>>,
}

/// A running demo.
pub struct Running {
    pub ca_path: PathBuf,
    pub backends: Vec<SocketAddr>,
    dir: PathBuf,
    handles: Vec<JoinHandle<std::io::Result<()>>>,
    shutdown: Arc<AtomicBool>,
}

impl Running {
    pub fn backend_addrs(&self) -> String {
        let names: Vec<String> = self
            .backends
            .iter()
            .enumerate()
            .map(|(i, a)| format!("b{}={a}", i + 1))
            .collect();
        names.join(" ")
    }

    /// Waits until the shutdown flag is set and every thread has stopped.
    pub fn wait(mut self) -> std::io::Result<()> {
        let result = runtime::join(std::mem::take(&mut self.handles));
        let _ = std::fs::remove_dir_all(&self.dir);
        result
    }

    /// Stops the demo and waits for it.
    pub fn stop(self) -> std::io::Result<()> {
        self.shutdown.store(true, Ordering::Relaxed);
        self.wait()
    }
}

fn err(context: &str, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{context}: {e}"))
}

/// The demo's TLS material: an edge CA and the gateway listener's certificate; a mesh CA, the
/// backends' configuration (a mesh client certificate required) and the gateway's upstream
/// configuration (its mesh client certificate; the backends' SPIFFE id checked).
pub struct DemoTls {
    pub edge_ca_pem: String,
    pub listener: Arc<ServerConfig>,
    pub backend: Arc<ServerConfig>,
    pub upstream: Arc<ClientConfig>,
}

/// A fresh throwaway PKI and the configurations built from it.
pub fn demo_tls() -> std::io::Result<DemoTls> {
    let edge = pki::Ca::new("h2edge demo edge CA").map_err(|e| err("demo PKI", e))?;
    let mesh = pki::Ca::new("h2edge demo mesh CA").map_err(|e| err("demo PKI", e))?;
    let issue = |ca: &pki::Ca, names: &[&str]| {
        let c = ca.issue(names).map_err(|e| err("demo PKI", e))?;
        Ok::<_, std::io::Error>(ServerCert {
            hostnames: Vec::new(),
            cert_pem: c.cert_pem.into_bytes(),
            key_pem: c.key_pem.into_bytes(),
        })
    };
    let listener = issue(&edge, &["localhost", "gateway.test", "127.0.0.1", "::1"])?;
    let backend = issue(&mesh, &["backend.test", BACKEND_ID])?;
    let gateway_client = issue(&mesh, &[GATEWAY_ID])?;
    Ok(DemoTls {
        listener: server_config(&[listener], None).map_err(|e| err("listener TLS", e))?,
        backend: server_config(&[backend], Some(mesh.cert_pem.as_bytes()))
            .map_err(|e| err("backend TLS", e))?,
        upstream: client_config(&UpstreamTls {
            ca_pem: mesh.cert_pem.into_bytes(),
            client_cert: Some((gateway_client.cert_pem, gateway_client.key_pem)),
            identity: Identity::AnyUri(vec![BACKEND_ID.into()]),
        })
        .map_err(|e| err("upstream TLS", e))?,
        edge_ca_pem: edge.cert_pem,
    })
}

/// Starts the backends and the gateway; returns once everything listens.
pub fn start(options: &Options, shutdown: Arc<AtomicBool>) -> std::io::Result<Running> {
    let tls = demo_tls()?;
    let dir = std::env::temp_dir().join(format!("h2edge-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, &tls.edge_ca_pem)?;

    // The backends: one worker, three mTLS listeners on ports the kernel picks.
    let mut backend_listeners = Vec::new();
    let mut backends = Vec::new();
    for _ in 0..BACKENDS {
        let l = runtime::listener::bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        backends.push(l.local_addr()?);
        backend_listeners.push(l);
    }
    let backend_config = Arc::new(GatewayConfig {
        listeners: vec![Listener::Tls(tls.backend); BACKENDS],
        service: Service::Echo {
            names: (1..=BACKENDS).map(|i| format!("b{i}")).collect(),
            counters: Vec::new(),
        },
        server_h2: conn::Config::default(),
        client_h2: crate::proxy::upstreams::upstream_h2(),
        buffers: Default::default(),
    });
    let mut handles = vec![runtime::spawn_one(
        backend_listeners,
        backend_config,
        options.backend,
        shutdown.clone(),
        "h2edge-demo-backends",
    )?];

    // The gateway: TLS and h2c listeners, every stream proxied round robin over mTLS upstreams
    // whose SPIFFE id is checked.
    let name = ServerName::try_from("backend.test").map_err(|e| err("upstream name", e))?;
    let endpoints = backends
        .iter()
        .map(|&addr| Endpoint {
            addr,
            tls: Some((tls.upstream.clone(), name.clone())),
        })
        .collect();
    let gateway = Arc::new(GatewayConfig {
        listeners: vec![Listener::Tls(tls.listener), Listener::H2c],
        service: Service::Proxy(Arc::new(
            Upstreams::round_robin(endpoints, 4).map_err(|e| err("demo routes", e))?,
        )),
        server_h2: conn::Config::default(),
        client_h2: crate::proxy::upstreams::upstream_h2(),
        buffers: Default::default(),
    });
    let config = RuntimeConfig {
        workers: options.workers,
        listen: vec![options.listen, options.h2c_listen],
        gateway,
        backend: options.backend,
        metrics: options.metrics.clone(),
    };
    handles.extend(runtime::spawn(&config, shutdown.clone())?);
    Ok(Running {
        ca_path,
        backends,
        dir,
        handles,
        shutdown,
    })
}
