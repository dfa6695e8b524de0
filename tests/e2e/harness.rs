//! The test bed: a throwaway PKI, three tonic backends behind mutual TLS on loopback ports the
//! kernel picks, and h2edge gateways in front of them (a TLS listener with ALPN h2 and an h2c
//! listener, `Service::Proxy` over the backends, the backends' SPIFFE id checked), wired the way
//! `h2edge::demo::start` wires the demo but with tonic backends instead of the embedded echo ones.
//!
//! [`run`] gives each test its own bed and tokio runtime, bounds the test body in time, and tears
//! everything down at the end (the gateway's shutdown flag set and its workers joined, within a
//! bound too), so no test can hang.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use h2edge::demo::pki::{Ca, Issued};
use h2edge::h2::conn;
use h2edge::proxy::gateway::{GatewayConfig, Listener, Service};
use h2edge::proxy::upstreams::{Endpoint, Upstreams};
use h2edge::runtime::{self, BackendKind, RuntimeConfig};
use h2edge::serve::run::Running;
use h2edge::tls::client::{Identity, UpstreamTls, client_config};
use h2edge::tls::server::{ServerCert, server_config};
use rustls::pki_types::ServerName;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint, Server, ServerTlsConfig,
};

use crate::backend::{Backend, Event, EventKind, TestServiceServer};
use crate::client::TestClient;

/// The backends' workload identity (a URI SAN in their certificate, next to `backend.test`).
pub const BACKEND_ID: &str = "spiffe://cluster.local/ns/test/sa/backend";
/// An identity no backend has.
pub const OTHER_ID: &str = "spiffe://cluster.local/ns/test/sa/other";
/// The gateway's client certificate identity.
pub const GATEWAY_ID: &str = "spiffe://cluster.local/ns/test/sa/h2edge";
pub const BACKENDS: usize = 3;

/// The certificates of one test bed.
pub struct Pki {
    /// Signs the gateway's listener certificate; what clients trust.
    pub edge_ca: String,
    listener: Issued,
    /// Signs the backends' and the gateway's client certificates.
    mesh_ca: String,
    backend: Issued,
    gateway_client: Issued,
}

impl Pki {
    fn new() -> Pki {
        let edge = Ca::new("h2edge e2e edge CA").expect("edge CA");
        let mesh = Ca::new("h2edge e2e mesh CA").expect("mesh CA");
        Pki {
            listener: edge
                .issue(&["localhost", "127.0.0.1"])
                .expect("listener cert"),
            backend: mesh
                .issue(&["backend.test", BACKEND_ID])
                .expect("backend cert"),
            gateway_client: mesh.issue(&[GATEWAY_ID]).expect("gateway cert"),
            edge_ca: edge.cert_pem,
            mesh_ca: mesh.cert_pem,
        }
    }
}

/// How to build a gateway.
#[derive(Clone)]
pub struct GatewayOptions {
    pub kind: BackendKind,
    pub workers: usize,
    /// Present the mesh client certificate to upstreams.
    pub client_cert: bool,
    /// The SPIFFE id upstreams must prove.
    pub identity: String,
    /// Upstream endpoints; `None` for the bed's backends.
    pub endpoints: Option<Vec<SocketAddr>>,
}

/// A running gateway; dropping it sets its shutdown flag, [`Gateway::stop`] also joins it.
pub struct Gateway {
    pub tls: SocketAddr,
    pub h2c: SocketAddr,
    shutdown: Arc<AtomicBool>,
    handles: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Gateway {
    /// Sets the shutdown flag and waits (bounded) for every worker to return.
    pub fn stop(mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        let handles = std::mem::take(&mut self.handles);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(runtime::join(handles));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("gateway worker failed: {e}"),
            Err(_) => panic!("gateway workers did not stop within 10 s of the shutdown flag"),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }
}

/// Reserves a loopback port for `runtime::spawn`: a SO_REUSEPORT listener on port 0 held while the
/// workers bind the same port, dropped before any client connects (so no race for the port).
fn reserve() -> (std::net::TcpListener, SocketAddr) {
    let l = runtime::listener::bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("reserve a loopback port");
    let addr = l.local_addr().expect("reserved address");
    (l, addr)
}

/// One test bed.
pub struct Bed {
    pub pki: Pki,
    pub kind: BackendKind,
    pub backends: Vec<SocketAddr>,
    pub names: Vec<String>,
    /// The gateway every test uses (mTLS with the right identity).
    pub gateway: std::sync::Mutex<Option<Gateway>>,
    pub tls: SocketAddr,
    pub h2c: SocketAddr,
    events: Mutex<(mpsc::UnboundedReceiver<Event>, Vec<Event>)>,
    stop_backends: std::sync::Mutex<Vec<oneshot::Sender<()>>>,
}

impl Bed {
    async fn start(kind: BackendKind, workers: usize) -> Arc<Bed> {
        let pki = Pki::new();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut backends = Vec::new();
        let mut names = Vec::new();
        let mut stops = Vec::new();
        for i in 1..=BACKENDS {
            let name = format!("b{i}");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a backend");
            backends.push(listener.local_addr().expect("backend address"));
            let tls = ServerTlsConfig::new()
                .identity(tonic::transport::Identity::from_pem(
                    &pki.backend.cert_pem,
                    &pki.backend.key_pem,
                ))
                .client_ca_root(Certificate::from_pem(&pki.mesh_ca));
            let service = TestServiceServer::new(Backend::new(name.clone(), events_tx.clone()));
            let (stop, stopped) = oneshot::channel::<()>();
            let server = Server::builder()
                .tls_config(tls)
                .expect("backend TLS")
                .add_service(service)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                });
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    eprintln!("e2e: backend {name}: {e}");
                }
            });
            names.push(format!("b{i}"));
            stops.push(stop);
        }
        let mut bed = Bed {
            pki,
            kind,
            backends,
            names,
            gateway: std::sync::Mutex::new(None),
            tls: SocketAddr::from(([127, 0, 0, 1], 0)),
            h2c: SocketAddr::from(([127, 0, 0, 1], 0)),
            events: Mutex::new((events_rx, Vec::new())),
            stop_backends: std::sync::Mutex::new(stops),
        };
        let gateway = bed.start_gateway(&bed.options(workers));
        bed.tls = gateway.tls;
        bed.h2c = gateway.h2c;
        *bed.gateway.get_mut().expect("gateway slot") = Some(gateway);
        Arc::new(bed)
    }

    /// The main gateway's options (mTLS, right identity, the bed's backends).
    pub fn options(&self, workers: usize) -> GatewayOptions {
        GatewayOptions {
            kind: self.kind,
            workers,
            client_cert: true,
            identity: BACKEND_ID.to_string(),
            endpoints: None,
        }
    }

    /// Starts a gateway in front of the backends (or `options.endpoints`).
    pub fn start_gateway(&self, options: &GatewayOptions) -> Gateway {
        let upstream_tls = client_config(&UpstreamTls {
            ca_pem: self.pki.mesh_ca.clone().into_bytes(),
            client_cert: options.client_cert.then(|| {
                (
                    self.pki.gateway_client.cert_pem.clone().into_bytes(),
                    self.pki.gateway_client.key_pem.clone().into_bytes(),
                )
            }),
            identity: Identity::AnyUri(vec![options.identity.clone()]),
        })
        .expect("upstream TLS config");
        let name = ServerName::try_from("backend.test").expect("upstream SNI name");
        let endpoints = options
            .endpoints
            .as_ref()
            .unwrap_or(&self.backends)
            .iter()
            .map(|&addr| Endpoint {
                addr,
                tls: Some((upstream_tls.clone(), name.clone())),
            })
            .collect();
        let listener_tls = server_config(
            &[ServerCert {
                hostnames: Vec::new(),
                cert_pem: self.pki.listener.cert_pem.clone().into_bytes(),
                key_pem: self.pki.listener.key_pem.clone().into_bytes(),
            }],
            None,
        )
        .expect("listener TLS config");
        let config = Arc::new(GatewayConfig {
            listeners: vec![Listener::Tls(listener_tls), Listener::H2c],
            service: Service::Proxy(Arc::new(
                Upstreams::round_robin(endpoints, 4).expect("routes"),
            )),
            server_h2: conn::Config::default(),
            client_h2: conn::Config::default(),
            buffers: Default::default(),
        });
        let (tls_hold, tls) = reserve();
        let (h2c_hold, h2c) = reserve();
        let shutdown = Arc::new(AtomicBool::new(false));
        let handles = runtime::spawn(
            &RuntimeConfig {
                workers: options.workers,
                listen: vec![tls, h2c],
                gateway: config,
                backend: options.kind,
                metrics: None,
            },
            shutdown.clone(),
        )
        .expect("spawn the gateway");
        drop((tls_hold, h2c_hold));
        Gateway {
            tls,
            h2c,
            shutdown,
            handles,
        }
    }

    /// Starts a gateway the way `h2edge run` does: from Gateway API / Istio YAML (built by
    /// [`Bed::config_yaml`] for a reserved loopback port) through `config::load_str` and
    /// `serve::plan`. Its one listener is h2c, in both `tls` and `h2c`.
    pub fn start_gateway_from_config(
        &self,
        load_balancer: &str,
        backends: &[SocketAddr],
    ) -> Gateway {
        self.start_gateway_yaml(|port| self.config_yaml(port, load_balancer, backends))
    }

    /// Starts a gateway from the YAML `config` gives for a reserved loopback port, loaded and
    /// planned as `h2edge run` does. Its one listener is h2c, in both `tls` and `h2c`.
    pub fn start_gateway_yaml(&self, config: impl FnOnce(u16) -> String) -> Gateway {
        let (hold, addr) = reserve();
        let yaml = config(addr.port());
        let config = match h2edge::config::load_str("e2e-config.yaml", &yaml) {
            Ok(c) => c,
            Err(problems) => {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                panic!("the test config does not load:\n{}", lines.join("\n"))
            }
        };
        let plan = h2edge::serve::plan(&config, addr.ip()).expect("plan the config");
        assert_eq!(plan.listen, vec![addr]);
        let shutdown = Arc::new(AtomicBool::new(false));
        let handles = runtime::spawn(
            &RuntimeConfig {
                workers: 1,
                listen: plan.listen,
                gateway: plan.gateway,
                backend: self.kind,
                metrics: None,
            },
            shutdown.clone(),
        )
        .expect("spawn the gateway");
        drop(hold);
        Gateway {
            tls: addr,
            h2c: addr,
            shutdown,
            handles,
        }
    }

    /// Starts a gateway through `serve::run::start`, as `h2edge run DIR` does, on the config file
    /// `dir/gateway.yaml` (written from [`Bed::config_yaml`] with `load_balancer`). Returns it with
    /// the listener's address (h2c), which reloads keep.
    pub fn start_running(&self, dir: &Path, load_balancer: &str) -> (Running, SocketAddr) {
        self.start_running_yaml(
            dir,
            |port| self.config_yaml(port, load_balancer, &self.backends),
            Arc::new(h2edge::serve::system_resolver),
        )
    }

    /// [`Bed::start_running`] on the YAML `config` gives for the reserved port, with endpoint
    /// names resolved by `resolver`.
    pub fn start_running_yaml(
        &self,
        dir: &Path,
        config: impl FnOnce(u16) -> String,
        resolver: Arc<h2edge::config::compile::Resolver>,
    ) -> (Running, SocketAddr) {
        let (hold, addr) = reserve();
        std::fs::write(dir.join("gateway.yaml"), config(addr.port())).expect("write the config");
        let options = h2edge::serve::run::Options {
            bind: addr.ip(),
            workers: 1,
            backend: self.kind,
            drain_timeout: h2edge::serve::run::DEFAULT_DRAIN_TIMEOUT,
            metrics: None,
        };
        let (running, _) = h2edge::serve::run::start_with(
            &[dir.to_path_buf()],
            &options,
            Arc::new(AtomicBool::new(false)),
            resolver,
        )
        .unwrap_or_else(|e| panic!("h2edge run: {e}"));
        drop(hold);
        (running, addr)
    }

    /// [`Bed::config_yaml`] with an HTTPS listener instead (the bed's listener certificate) that
    /// requires client certificates signed by the mesh CA (`spec.tls.frontend`, AllowValidOnly).
    pub fn frontend_mtls_yaml(&self, port: u16) -> String {
        let indent = |pem: &str| pem.trim_end().replace('\n', "\n    ");
        let base = self.config_yaml(port, "      simple: ROUND_ROBIN", &self.backends);
        let listener = format!("  - name: h2c\n    port: {port}\n    protocol: HTTP\n");
        assert!(base.contains(&listener));
        let base = base.replace(
            &listener,
            &format!(
                "  - name: https\n    port: {port}\n    protocol: HTTPS\n    tls:\n      mode: Terminate\n      certificateRefs: [{{name: edge-cert}}]\n"
            ),
        );
        let base = base.replace(
            "  tls:\n    backend:\n",
            "  tls:\n    frontend:\n      default:\n        validation:\n          caCertificateRefs: [{kind: ConfigMap, name: client-ca}]\n    backend:\n",
        );
        format!(
            r#"{base}---
apiVersion: v1
kind: Secret
metadata:
  name: edge-cert
  namespace: e2e
type: kubernetes.io/tls
stringData:
  tls.crt: |
    {cert}
  tls.key: |
    {key}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: client-ca
  namespace: e2e
data:
  ca.crt: |
    {ca}
"#,
            cert = indent(&self.pki.listener.cert_pem),
            key = indent(&self.pki.listener.key_pem),
            ca = indent(&self.pki.mesh_ca),
        )
    }

    /// A TLS channel to `addr` trusting the edge CA, presenting the mesh client certificate when
    /// `client_cert`; `Err` when the connection is refused.
    pub async fn try_channel_tls(
        &self,
        addr: SocketAddr,
        client_cert: bool,
    ) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.pki.edge_ca))
            .domain_name("localhost");
        if client_cert {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                &self.pki.gateway_client.cert_pem,
                &self.pki.gateway_client.key_pem,
            ));
        }
        TonicEndpoint::from_shared(format!("https://{addr}"))
            .expect("gateway URI")
            .tls_config(tls)
            .expect("client TLS config")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
    }

    /// A config for the bed: an HTTP (h2c) Gateway listener on `port` whose backend client
    /// certificate is the mesh one; a GRPCRoute sending only `grpc.testing.TestService/UnaryCall`
    /// to Service `test` (so `EmptyCall` has no route); a DestinationRule with `load_balancer` (the
    /// YAML under `trafficPolicy.loadBalancer`, indented 6) and ISTIO_MUTUAL checking the backends'
    /// SPIFFE id; one EndpointSlice per backend in `backends` (each on its own port).
    pub fn config_yaml(&self, port: u16, load_balancer: &str, backends: &[SocketAddr]) -> String {
        let indent = |pem: &str| pem.trim_end().replace('\n', "\n    ");
        let mut yaml = format!(
            r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: e2e
spec:
  gatewayClassName: h2edge
  listeners:
  - name: h2c
    port: {port}
    protocol: HTTP
  tls:
    backend:
      clientCertificateRef:
        name: mesh-client
---
apiVersion: v1
kind: Secret
metadata:
  name: mesh-client
  namespace: e2e
type: kubernetes.io/tls
stringData:
  tls.crt: |
    {cert}
  tls.key: |
    {key}
  ca.crt: |
    {ca}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: test
  namespace: e2e
spec:
  parentRefs:
  - name: edge
  rules:
  - matches:
    - method:
        service: grpc.testing.TestService
        method: UnaryCall
    backendRefs:
    - name: test
      port: 50051
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: test
  namespace: e2e
spec:
  host: test.e2e.svc.cluster.local
  trafficPolicy:
    loadBalancer:
{load_balancer}
    tls:
      mode: ISTIO_MUTUAL
      sni: backend.test
      subjectAltNames:
      - {BACKEND_ID}
---
apiVersion: v1
kind: Service
metadata:
  name: test
  namespace: e2e
spec:
  ports:
  - name: grpc
    port: 50051
"#,
            cert = indent(&self.pki.gateway_client.cert_pem),
            key = indent(&self.pki.gateway_client.key_pem),
            ca = indent(&self.pki.mesh_ca),
        );
        for (i, backend) in backends.iter().enumerate() {
            yaml.push_str(&format!(
                r#"---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: test-{i}
  namespace: e2e
  labels:
    kubernetes.io/service-name: test
addressType: IPv4
ports:
- name: grpc
  port: {port}
endpoints:
- addresses: ["{ip}"]
"#,
                port = backend.port(),
                ip = backend.ip(),
            ));
        }
        yaml
    }

    /// A channel (one HTTP/2 connection) to `addr`'s TLS listener, trusting the edge CA, with
    /// `localhost` as the TLS name.
    pub async fn channel_tls(&self, addr: SocketAddr) -> Channel {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.pki.edge_ca))
            .domain_name("localhost");
        TonicEndpoint::from_shared(format!("https://{addr}"))
            .expect("gateway URI")
            .tls_config(tls)
            .expect("client TLS config")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect to the gateway over TLS")
    }

    /// A client over TLS to the main gateway.
    pub async fn client(&self) -> TestClient {
        TestClient::new(self.channel_tls(self.tls).await)
    }

    /// A client over h2c (prior knowledge) to the main gateway.
    pub async fn client_h2c(&self) -> TestClient {
        let channel = TonicEndpoint::from_shared(format!("http://{}", self.h2c))
            .expect("gateway URI")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connect to the gateway over h2c");
        TestClient::new(channel)
    }

    /// Waits up to `within` for the backends to report `kind` for `tag`.
    pub async fn wait_event(
        &self,
        tag: &str,
        within: Duration,
        want: impl Fn(&EventKind) -> bool,
    ) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        let mut guard = self.events.lock().await;
        let (rx, seen) = &mut *guard;
        if let Some(e) = seen.iter().find(|e| e.tag == tag && want(&e.kind)) {
            return Some(e.clone());
        }
        loop {
            let event = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
            seen.push(event.clone());
            if event.tag == tag && want(&event.kind) {
                return Some(event);
            }
        }
    }

    fn teardown(&self) {
        if let Some(gateway) = self.gateway.lock().expect("gateway slot").take() {
            gateway.stop();
        }
        for stop in self.stop_backends.lock().expect("backend stops").drain(..) {
            let _ = stop.send(());
        }
    }
}

/// The I/O backend the tests use unless they name one: what the gateway itself would choose
/// (io_uring where the kernel and sandbox allow it; `H2EDGE_IO=epoll` forces epoll).
pub fn default_kind() -> BackendKind {
    BackendKind::choose().expect("H2EDGE_IO").0
}

/// Runs `body` against a fresh bed whose gateway uses `kind` with `workers` workers, within
/// `limit`; then tears the bed down.
pub fn run_with<F, Fut>(kind: BackendKind, workers: usize, limit: Duration, body: F)
where
    F: FnOnce(Arc<Bed>) -> Fut,
    Fut: Future<Output = ()>,
{
    // tonic builds its rustls configs with `ServerConfig::builder()`: name the provider explicitly
    // (the one h2edge uses) rather than rely on crate features.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let bed = rt.block_on(Bed::start(kind, workers));
    let outcome = rt.block_on(async { tokio::time::timeout(limit, body(bed.clone())).await });
    bed.teardown();
    rt.shutdown_timeout(Duration::from_secs(2));
    if outcome.is_err() {
        panic!(
            "test did not finish within {limit:?} (gateway on {}); {:?} elapsed",
            kind.name(),
            started.elapsed()
        );
    }
}

/// [`run_with`] on the default I/O backend with one gateway worker and a 60 s bound.
pub fn run<F, Fut>(body: F)
where
    F: FnOnce(Arc<Bed>) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with(default_kind(), 1, Duration::from_secs(60), body)
}

/// Awaits `future` for at most `limit`, failing the test with `what` if it takes longer.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {limit:?}"),
    }
}
