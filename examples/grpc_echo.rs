//! A gRPC client for `h2edge demo`: unary calls on one HTTP/2 connection, printing which backend
//! answered each (the demo balances every call, not every connection).
//!
//! ```sh
//! cargo run --release -- demo &                         # prints the CA path
//! cargo run --release --example grpc_echo -- https://localhost:8443 /tmp/h2edge-demo-PID/ca.crt
//! cargo run --release --example grpc_echo -- http://127.0.0.1:8080       # the h2c listener
//! ```
//!
//! Optional third argument: how many calls (default 6). The demo's backends echo any gRPC method,
//! so the call is `/demo.Echo/Say` with a one-field message.

use std::process::ExitCode;
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

#[derive(Clone, PartialEq, prost::Message)]
struct Say {
    #[prost(string, tag = "1")]
    text: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc_echo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        return Err("usage: grpc_echo URL [CA-FILE] [CALLS]".into());
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| format!("{url}: {e}"))?
        .connect_timeout(Duration::from_secs(5));
    if url.starts_with("https://") {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca_file = args.get(1).ok_or("an https URL needs the demo's CA file")?;
        let ca = std::fs::read(ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let calls: usize = match args.get(2) {
        Some(n) => n.parse().map_err(|e| format!("CALLS {n}: {e}"))?,
        None => 6,
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    for i in 1..=calls {
        grpc.ready().await.map_err(|e| e.to_string())?;
        let request = tonic::Request::new(Say {
            text: format!("hello #{i}"),
        });
        let response = grpc
            .unary(
                request,
                PathAndQuery::from_static("/demo.Echo/Say"),
                tonic_prost::ProstCodec::<Say, Say>::default(),
            )
            .await
            .map_err(|s| format!("call {i}: {s:?}"))?;
        let backend = response
            .metadata()
            .get("x-backend")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?")
            .to_string();
        println!("{:<12} answered by {backend}", response.into_inner().text);
    }
    Ok(())
}
