//! The `h2edge check`, `route` and `run` subcommands, run as the built binary: output and exit
//! status on the shipped examples and on broken configurations; `run` serving, reloading, stopping.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
#[path = "common/run_gateway.rs"]
mod run_gateway;
use h2c_gateway::h2c_config;
use run_gateway::{Gateway, free_port};

fn h2edge<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_h2edge"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("running h2edge: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit status, with both streams in the message when it is not `want`.
fn assert_exit(o: &Output, want: i32) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|p| Some(format!("examples/{}", p.file_name()?.to_str()?)))
        .collect();
    v.sort();
    v
}

/// Writes `text` to `name` in a directory of its own under Cargo's scratch directory.
fn scratch_dir(test: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{test}"))
}

fn scratch(test: &str, name: &str, text: &str) -> PathBuf {
    let dir = scratch_dir(test);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Line 9: the port is out of range; line 18: no listener has that sectionName.
const BROKEN: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
spec:
  gatewayClassName: h2edge
  listeners:
  - name: http
    port: 70000
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: r
spec:
  parentRefs:
  - name: edge
    sectionName: httpz
";

#[test]
fn every_example_checks_ok_alone_and_together() {
    let files = examples();
    assert!(files.len() >= 10, "examples: {files:?}");
    for f in &files {
        let o = h2edge(&["check", f]);
        assert_exit(&o, 0);
        assert!(
            stdout(&o).starts_with("ok: 1 file, 1 gateway"),
            "{f}: {}",
            stdout(&o)
        );
        assert_eq!(stderr(&o), "", "{f}");
    }
    let mut args = vec!["check".to_string()];
    args.extend(files.iter().cloned());
    let o = h2edge(&args);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).starts_with(&format!("ok: {} files, ", files.len())),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_prints_the_seed_summary() {
    let o = h2edge(&["check", "examples/seed-gateway.yaml"]);
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o),
        "ok: 1 file, 1 gateway (1 listener), 0 HTTPRoutes, 1 GRPCRoute, 1 cluster (3 endpoints); 1 note (below)\n\
         note: examples/seed-gateway.yaml:98: DestinationRule/product: spec.trafficPolicy.outlierDetection.interval: \
         not used: ejection is decided on each answer, and an ejected endpoint returns when its ejection time is over\n"
    );
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let path = scratch("check-broken", "broken.yaml", BROKEN);
    let file = path.display().to_string();
    let o = h2edge(&["check", &file]);
    assert_exit(&o, 1);
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!("{file}:9: Gateway/edge: spec.listeners[0].port: ")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{file}:18: HTTPRoute/r: spec.parentRefs[0].sectionName: "
        )),
        "{err}"
    );
    assert_eq!(lines[2], format!("h2edge: 2 problems in {file}"));
}

#[test]
fn route_explains_the_seed_grpc_route() {
    let o = h2edge(&[
        "route",
        "examples/seed-gateway.yaml",
        "--authority",
        "grpc.example.com",
        "--path",
        "/product.ProductService/GetProduct",
        "--grpc",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with("request   POST /product.ProductService/GetProduct"),
        "{out}"
    );
    assert!(
        out.contains("\nroute     GRPCRoute default/product rules[0] matches[0]\n"),
        "{out}"
    );
    assert!(
        out.contains("-> cluster default/product:50051, policy ROUND_ROBIN\n"),
        "{out}"
    );
    assert!(
        out.contains("  endpoint 127.0.0.1:50051 (weight 1, "),
        "{out}"
    );
    assert!(!out.contains("answer    local"), "{out}");
}

#[test]
fn route_answers_locally_for_an_unknown_method() {
    let o = h2edge(&[
        "route",
        "examples/seed-gateway.yaml",
        "--authority",
        "grpc.example.com",
        "--path",
        "/other.Service/Get",
        "-H",
        "content-type: application/grpc",
    ]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(out.contains("\nroute     no rule matches\n"), "{out}");
    assert!(
        out.contains("answer    local: no route (HTTP 404 / grpc-status 12)"),
        "{out}"
    );
}

#[test]
fn route_shows_dns_clusters_as_unresolved() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config/dns-external-name.yaml");
    let o = h2edge(&[
        "route",
        &path.display().to_string(),
        "--authority",
        "x.test",
        "--path",
        "/a",
        "--port",
        "80",
    ]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    // Not gRPC, so the method defaults to GET.
    assert!(
        out.starts_with("request   GET /a (authority x.test, HTTP)"),
        "{out}"
    );
    assert!(
        out.contains("  endpoint none until api.example.net resolves (DNS, port 8443)\n"),
        "{out}"
    );
}

#[test]
fn route_on_a_broken_config_prints_the_problems() {
    let path = scratch("route-broken", "broken.yaml", BROKEN);
    let file = path.display().to_string();
    let o = h2edge(&["route", &file, "--authority", "a", "--path", "/"]);
    assert_exit(&o, 2);
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.contains(&format!("{file}:9: ")), "{err}");
    assert!(
        err.ends_with(&format!("h2edge: 2 problems in {file}\n")),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2() {
    for (args, message) in [
        (&["check"][..], "h2edge: check: no CONFIG given"),
        (
            &["route", "examples/seed-gateway.yaml", "--path", "/x"][..],
            "h2edge: route: --authority is required",
        ),
        (
            &[
                "route",
                "examples/seed-gateway.yaml",
                "--authority",
                "a",
                "--path",
                "x",
            ][..],
            "h2edge: route: --path x: must start with /",
        ),
        (
            &[
                "route",
                "examples/seed-gateway.yaml",
                "--authority",
                "a",
                "--path",
                "/",
                "-H",
                "novalue",
            ][..],
            "h2edge: route: -H novalue: expected NAME:VALUE",
        ),
        (
            &[
                "route",
                "examples/seed-gateway.yaml",
                "--authority",
                "a",
                "--path",
                "/",
                "--port",
                "70000",
            ][..],
            "h2edge: route: --port 70000: ",
        ),
        (&["frob"][..], "h2edge: unknown command frob"),
        (&["run"][..], "h2edge: run: no CONFIG given"),
        (
            &["run", "x.yaml", "--workers", "many"][..],
            "h2edge: run: --workers many: ",
        ),
    ] {
        let o = h2edge(args);
        assert_exit(&o, 2);
        assert!(stderr(&o).starts_with(message), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("\nusage: h2edge run CONFIG..."),
            "{args:?}"
        );
    }
}

/// `h2edge run`: serves its config, reloads a changed file (and refuses a broken one, keeping the
/// running config), and stops cleanly on SIGTERM.
#[test]
fn run_serves_reloads_and_stops_on_sigterm() {
    let port = free_port();
    let dir = scratch_dir("run");
    let gateway = Gateway::start(
        &dir,
        &h2c_config(port, SocketAddr::from(([127, 0, 0, 1], free_port()))),
    );
    let started = &gateway.started;
    let path = dir.join("gateway.yaml");
    assert!(
        started
            .iter()
            .any(|l| l.contains(&format!("127.0.0.1:{port}"))),
        "{started:#?}"
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the listener accepts");

    // A changed, valid file is taken up, with the notes of its fields; a broken one is refused
    // with its file and line.
    std::fs::write(
        &path,
        h2c_config(port, SocketAddr::from(([127, 0, 0, 1], free_port())))
            + concat!(
                "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n",
                "metadata: {name: up, namespace: test}\n",
                "spec:\n  host: up.test.svc.cluster.local\n",
                "  trafficPolicy: {connectionPool: {http: {maxRetries: 3}}}\n",
            ),
    )
    .expect("rewrite");
    gateway.wait_for("configuration reloaded");
    let noted = gateway.wait_for("http.maxRetries");
    assert!(
        noted
            .iter()
            .any(|l| l.contains("note:") && l.contains("not enforced")),
        "{noted:#?}"
    );
    std::fs::write(&path, "kind: Gateway\nspec: [\n").expect("break");
    let refused = gateway.wait_for("gateway.yaml:");
    assert!(
        refused.iter().any(|l| l.contains("reload refused")),
        "{refused:#?}"
    );
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("still serving");

    gateway.stop();
}

#[test]
fn run_refuses_to_start_on_a_broken_config() {
    let path = scratch("run-broken", "gateway.yaml", BROKEN);
    let o = h2edge(&[
        "run".to_string(),
        "--bind".to_string(),
        "127.0.0.1".to_string(),
        path.display().to_string(),
    ]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("gateway.yaml:9:"), "{}", stderr(&o));
}
