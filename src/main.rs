//! The `h2edge` command.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use h2edge::h2::conn;
use h2edge::runtime::{self, BackendKind, RuntimeConfig};

const USAGE: &str = "usage: h2edge demo [--listen ADDR] [--h2c-listen ADDR] [--workers N]

  demo    run the gateway with a throwaway certificate on a TLS listener (--listen, default
          127.0.0.1:8443) and a cleartext HTTP/2 listener (--h2c-listen, default 127.0.0.1:8080);
          until upstreams land it answers every request itself

  H2EDGE_IO=epoll forces the epoll backend (io_uring is used where the kernel allows it).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => match demo(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("h2edge: {e}");
                ExitCode::FAILURE
            }
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn demo(args: &[String]) -> Result<(), String> {
    let mut config = RuntimeConfig {
        workers: 0,
        h2c_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
        tls_listen: None,
        h2: conn::Config::default(),
        backend: BackendKind::Epoll,
    };
    let mut tls_addr = SocketAddr::from(([127, 0, 0, 1], 8443));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--h2c-listen" => {
                let v = value()?;
                let addr = v.parse().map_err(|e| format!("--h2c-listen {v}: {e}"))?;
                config.h2c_listen = Some(addr);
            }
            "--listen" => {
                let v = value()?;
                tls_addr = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--workers" => {
                let v = value()?;
                config.workers = v.parse().map_err(|e| format!("--workers {v}: {e}"))?;
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone()).map_err(|e| e.to_string())?;
    }
    let (backend, why) = BackendKind::choose().map_err(|e| e.to_string())?;
    config.backend = backend;
    match why {
        Some(why) => eprintln!("h2edge: I/O backend: {} ({why})", backend.name()),
        None => eprintln!("h2edge: I/O backend: {}", backend.name()),
    }
    let pki = demo_pki()?;
    config.tls_listen = Some((tls_addr, pki.server_config));
    let h2c = config.h2c_listen.map(|a| a.to_string()).unwrap_or_default();
    let ca = pki.ca_path.display();
    println!(
        "h2edge demo: TLS listener on https://{tls_addr} (ALPN h2), h2c listener on http://{h2c}"
    );
    println!("  throwaway CA certificate: {ca}");
    println!("  try: h2load -n 10000 -c 10 -m 10 https://{tls_addr}/");
    println!("       h2load -n 10000 -c 10 -m 10 http://{h2c}/");
    println!(
        "       curl --http2 --cacert {ca} https://localhost:{}/",
        tls_addr.port()
    );
    println!("  Ctrl-C stops it.");
    runtime::run(&config, shutdown).map_err(|e| e.to_string())?;
    println!("h2edge demo: stopped");
    let _ = std::fs::remove_dir_all(&pki.dir);
    Ok(())
}

/// The demo's throwaway PKI: a CA written to a temp dir (for clients' `--cacert`) and a listener
/// certificate for localhost.
struct DemoPki {
    dir: std::path::PathBuf,
    ca_path: std::path::PathBuf,
    server_config: Arc<rustls::ServerConfig>,
}

fn demo_pki() -> Result<DemoPki, String> {
    use h2edge::demo::pki::Ca;
    use h2edge::tls::server::{ServerCert, server_config};
    let err = |e: &dyn std::fmt::Display| format!("demo certificates: {e}");
    let ca = Ca::new("h2edge demo CA").map_err(|e| err(&e))?;
    let leaf = ca
        .issue(&["localhost", "gateway.test", "127.0.0.1", "::1"])
        .map_err(|e| err(&e))?;
    let dir = std::env::temp_dir().join(format!("h2edge-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| err(&e))?;
    let ca_path = dir.join("ca.crt");
    std::fs::write(&ca_path, &ca.cert_pem).map_err(|e| err(&e))?;
    let server_config = server_config(&[ServerCert {
        hostnames: Vec::new(),
        cert_pem: leaf.cert_pem.into_bytes(),
        key_pem: leaf.key_pem.into_bytes(),
    }])
    .map_err(|e| err(&e))?;
    Ok(DemoPki {
        dir,
        ca_path,
        server_config,
    })
}
