//! `h2edge route CONFIG... --authority HOST --path PATH ...`: which listener, rule, cluster and
//! endpoint a request would get, and why, without sending anything.

use std::net::IpAddr;
use std::process::ExitCode;

use h2edge::balance;
use h2edge::config::{self, compile, model::Endpoints};
use h2edge::h2::grpc;
use h2edge::route::{self, Explanation, Headers, Request, RouteTable};

use super::{Usage, problems_report};

struct Options {
    configs: Vec<String>,
    authority: String,
    path: String,
    method: Option<String>,
    /// In command-line order, so the first `content-type` wins as it would on the wire.
    headers: Vec<(String, String)>,
    port: Option<u16>,
    source: Option<IpAddr>,
}

pub fn run(args: &[String]) -> Result<ExitCode, Usage> {
    let options = parse(args)?;
    match explain(&options) {
        Ok(ex) => {
            print!("{ex}");
            // A local answer (no listener, no rule, no backend) is what a script wants to catch.
            Ok(if ex.local_reply.is_none() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(report) => {
            eprintln!("{report}");
            Ok(ExitCode::from(2))
        }
    }
}

fn parse(args: &[String]) -> Result<Options, Usage> {
    let mut configs = Vec::new();
    let (mut authority, mut path, mut method, mut port, mut source) =
        (None, None, None, None, None);
    let mut headers = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Usage(format!("route: {arg} needs a value")))
        };
        match arg.as_str() {
            "--authority" => authority = Some(value()?.clone()),
            "--path" => path = Some(value()?.clone()),
            "--method" => method = Some(value()?.clone()),
            "-H" => headers.push(header(value()?)?),
            "--grpc" => headers.push(("content-type".into(), "application/grpc".into())),
            "--port" => {
                let v = value()?;
                port = Some(
                    v.parse()
                        .map_err(|e| Usage(format!("route: --port {v}: {e}")))?,
                );
            }
            "--source" => {
                let v = value()?;
                source = Some(
                    v.parse()
                        .map_err(|e| Usage(format!("route: --source {v}: {e}")))?,
                );
            }
            flag if flag.starts_with('-') => {
                return Err(Usage(format!("route: unknown option {flag}")));
            }
            file => configs.push(file.to_owned()),
        }
    }
    if configs.is_empty() {
        return Err(Usage("route: no CONFIG given".into()));
    }
    let authority = authority.ok_or_else(|| Usage("route: --authority is required".into()))?;
    let path = path.ok_or_else(|| Usage("route: --path is required".into()))?;
    // A relative path never matches a rule; say so instead of printing "no route".
    if !path.starts_with('/') {
        return Err(Usage(format!("route: --path {path}: must start with /")));
    }
    Ok(Options {
        configs,
        authority,
        path,
        method,
        headers,
        port,
        source,
    })
}

/// `NAME:VALUE`, spaces around either part ignored (as curl's `-H`). Pseudo-headers have their
/// own options, so an empty name (`:authority:x`) is refused.
fn header(v: &str) -> Result<(String, String), Usage> {
    match v.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        }
        _ => Err(Usage(format!("route: -H {v}: expected NAME:VALUE"))),
    }
}

/// The explanation, or the report of why the configuration cannot be used.
fn explain(o: &Options) -> Result<Explanation, String> {
    let config = config::load(&o.configs).map_err(|p| problems_report(&p, &o.configs))?;
    let table = RouteTable::build(&compile::table_spec(&config))
        .map_err(|e| format!("h2edge: route table: {e}"))?;

    let grpc = o.headers.first(b"content-type").is_some_and(grpc::is_grpc);
    let method = o
        .method
        .as_deref()
        .unwrap_or(if grpc { "POST" } else { "GET" });
    let mut req = Request::new(
        o.authority.as_bytes(),
        o.path.as_bytes(),
        method.as_bytes(),
        &o.headers,
    );
    if let Some(port) = o.port {
        req = req.with_port(port);
    }
    if let Some(ip) = o.source {
        req = req.with_source_ip(ip);
    }

    // Locality priorities depend on where the gateway runs: use the Gateway whose listener takes
    // this request (any site will do when none does, since nothing is balanced then).
    let site = table
        .select_listener(req.port, req.host())
        .and_then(|li| table.listeners().nth(li))
        .and_then(|l| {
            config
                .gateways
                .iter()
                .find(|g| compile::gateway_key(&g.meta) == l.gateway)
        })
        .map(compile::site)
        .unwrap_or_default();
    // Cluster ids are model indices (see config::compile), so the vectors line up.
    let mut clusters = Vec::with_capacity(config.clusters.len());
    let mut unready = Vec::with_capacity(config.clusters.len());
    for c in &config.clusters {
        let compiled = compile::cluster_spec(c);
        clusters.push(
            balance::Tables::build(&compiled.spec, &site).map_err(|e| format!("h2edge: {e}"))?,
        );
        unready.push(compiled.unready);
    }

    let mut ex = route::explain(&table, |id| clusters.get(id.0 as usize), &req);
    for b in &mut ex.backends {
        let i = b.cluster.0 as usize;
        // The balancer starts with these marked unhealthy; its cluster cannot show that.
        for &e in unready.get(i).into_iter().flatten() {
            if let Some(line) = b.endpoints.get_mut(e) {
                line.push_str(" not ready");
            }
        }
        if let Some(Endpoints::Dns { name, port, .. }) =
            config.clusters.get(i).map(|c| &c.endpoints)
        {
            b.endpoints
                .push(format!("none until {name} resolves (DNS, port {port})"));
        }
    }
    Ok(ex)
}
