//! `h2edge run CONFIG`: binds and spawns what the configuration's plan
//! ([`compile::plan`](crate::config::compile::plan)) says, and resolves endpoint names with the
//! system's resolver: at start, at each reload, and every DNS refresh interval while running.
//!
//! - [`run`]: the running gateway and its reload.

pub mod run;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::config::Config;
use crate::config::compile::{self, Plan};

/// The plan of `config` for one worker, names resolved by the system (for tools and tests).
pub fn plan(config: &Config, bind: IpAddr) -> Result<Plan, String> {
    compile::plan(config, bind, 1, &system_resolver)
}

/// The system's resolver (getaddrinfo; blocking, so only ever called off the workers).
pub fn system_resolver(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {name}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{name} resolves to no address"));
    }
    Ok(addrs)
}
