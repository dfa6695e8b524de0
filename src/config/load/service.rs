//! `Service` (ports, or `type: ExternalName` for a DNS name) and `discovery.k8s.io/v1`
//! `EndpointSlice` (addresses, ports, zone, ready).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::{Head, check, one_of};
use crate::config::model::EndpointAddress;
use crate::config::read::{Cx, Fields};
use crate::config::syntax;

pub(crate) const DNS_REFRESH: &str = "h2edge.io/dns-refresh";
/// How often a name is resolved again where nothing says: an ExternalName Service without the
/// annotation, and the names of FQDN EndpointSlices.
pub(crate) const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(30);
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

#[derive(Debug)]
pub(crate) struct RawService {
    pub head: Head,
    pub ports: Vec<ServicePort>,
    /// `spec.externalName` of an ExternalName Service.
    pub external_name: Option<String>,
    pub dns_refresh: Duration,
}

#[derive(Clone, Debug)]
pub(crate) struct ServicePort {
    /// Empty when unnamed.
    pub name: String,
    pub port: u16,
    /// A numeric targetPort (a named one resolves through the EndpointSlice port name).
    pub target_port: Option<u16>,
    pub app_protocol: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RawEndpointSlice {
    pub head: Head,
    /// The Service it belongs to (label `kubernetes.io/service-name`).
    pub service: String,
    pub endpoints: Vec<RawEndpoint>,
    /// `(name, port)`; the name is empty when unnamed.
    pub ports: Vec<(String, u16)>,
}

#[derive(Debug)]
pub(crate) struct RawEndpoint {
    pub addresses: Vec<EndpointAddress>,
    pub ready: bool,
    pub zone: Option<String>,
    /// `deprecatedTopology` labels.
    pub topology: BTreeMap<String, String>,
}

pub(crate) fn load_service(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawService> {
    let spec_at = root.req(cx, "spec")?;
    let mut spec = spec_at.map(cx)?;
    let external = match spec.get("type") {
        Some(t) => {
            one_of(
                cx,
                &t,
                &["ClusterIP", "ExternalName", "NodePort", "LoadBalancer"],
            )? == 1
        }
        None => false,
    };
    let external_name = if external {
        spec.req(cx, "externalName").and_then(|e| {
            let s = e.str(cx)?;
            check(cx, &e, syntax::dns_name(&s)).then_some(s)
        })
    } else {
        None
    };
    if external && external_name.is_none() {
        return None;
    }
    let mut ports: Vec<ServicePort> = Vec::new();
    let ports_at = if external {
        spec.get("ports")
    } else {
        spec.req(cx, "ports")
    };
    if let Some(p) = ports_at {
        let items = p.seq(cx).unwrap_or_default();
        if items.is_empty() && !external {
            cx.error(p.line, &p.path, "at least one port is required");
        }
        for item in &items {
            let Some(mut f) = item.map(cx) else { continue };
            let name = f.get("name").and_then(|n| n.str(cx)).unwrap_or_default();
            let port = f.req(cx, "port").and_then(|p| p.port(cx));
            let target_port = match f.get("targetPort") {
                Some(t) => match &t.node.value {
                    crate::config::yaml::Value::Str(_) => None,
                    _ => t.port(cx),
                },
                None => None,
            };
            let app_protocol = f.get("appProtocol").and_then(|a| a.str(cx));
            if let Some(proto) = f.get("protocol") {
                if let Some(s) = proto.str(cx) {
                    if s != "TCP" {
                        cx.error(
                            proto.line,
                            &proto.path,
                            format!("protocol {s} is not supported (only TCP)"),
                        );
                    }
                }
            }
            f.finish(cx);
            let Some(port) = port else { continue };
            if items.len() > 1 && name.is_empty() {
                cx.error(
                    item.line,
                    &item.path,
                    "ports must be named when a Service has more than one",
                );
            }
            if let Some(dup) = ports
                .iter()
                .find(|p| p.port == port || (!name.is_empty() && p.name == name))
            {
                cx.error(
                    item.line,
                    &item.path,
                    format!("duplicate port (port {} / name {:?})", dup.port, dup.name),
                );
                continue;
            }
            ports.push(ServicePort {
                name,
                port,
                target_port,
                app_protocol,
            });
        }
    }
    spec.finish(cx);
    let dns_refresh = match head.annotations.get(DNS_REFRESH) {
        Some(v) => match syntax::go_duration(v) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                cx.error(
                    head.line,
                    &format!("metadata.annotations.{DNS_REFRESH}"),
                    "must be more than 0s",
                );
                DEFAULT_DNS_REFRESH
            }
            Err(e) => {
                cx.error(head.line, &format!("metadata.annotations.{DNS_REFRESH}"), e);
                DEFAULT_DNS_REFRESH
            }
        },
        None => DEFAULT_DNS_REFRESH,
    };
    Some(RawService {
        head,
        ports,
        external_name,
        dns_refresh,
    })
}

pub(crate) fn load_slice(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawEndpointSlice> {
    let service = head.labels.get(SERVICE_NAME_LABEL).cloned();
    if service.is_none() {
        cx.error(
            head.line,
            &format!("metadata.labels.{SERVICE_NAME_LABEL}"),
            "required label is missing (it names the Service these endpoints belong to)",
        );
    }
    let address_type = root
        .req(cx, "addressType")
        .and_then(|a| one_of(cx, &a, &["IPv4", "IPv6", "FQDN"]));
    let mut endpoints = Vec::new();
    if let Some(e) = root.get("endpoints") {
        for item in e.seq_max(cx, 1000).unwrap_or_default() {
            let Some(mut f) = item.map(cx) else { continue };
            let mut addresses = Vec::new();
            if let Some(a) = f.req(cx, "addresses") {
                let list = a.seq(cx).unwrap_or_default();
                if list.is_empty() || list.len() > 100 {
                    cx.error(
                        a.line,
                        &a.path,
                        format!("expected 1 to 100 addresses, found {}", list.len()),
                    );
                }
                for addr in &list {
                    let Some(s) = addr.str(cx) else { continue };
                    let parsed = match address_type {
                        Some(0) => s
                            .parse::<Ipv4Addr>()
                            .map(|ip| EndpointAddress::Ip(IpAddr::V4(ip)))
                            .map_err(|_| format!("invalid IPv4 address {s:?}")),
                        Some(1) => s
                            .parse::<Ipv6Addr>()
                            .map(|ip| EndpointAddress::Ip(IpAddr::V6(ip)))
                            .map_err(|_| format!("invalid IPv6 address {s:?}")),
                        Some(_) => syntax::dns_name(&s).map(|()| EndpointAddress::Dns(s.clone())),
                        None => continue,
                    };
                    match parsed {
                        Ok(a) => addresses.push(a),
                        Err(e) => cx.error(addr.line, &addr.path, e),
                    }
                }
            }
            let mut ready = true;
            if let Some(c) = f.get("conditions") {
                if let Some(mut cf) = c.map(cx) {
                    if let Some(r) = cf.get("ready") {
                        ready = r.bool(cx).unwrap_or(false);
                    }
                    // serving/terminating matter for graceful drain, which uses `ready` here.
                    cf.skip("serving");
                    cf.skip("terminating");
                    cf.finish(cx);
                }
            }
            let zone = f.get("zone").and_then(|z| z.nonempty(cx));
            let topology = f
                .get("deprecatedTopology")
                .and_then(|t| t.string_map(cx))
                .unwrap_or_default();
            f.finish(cx);
            if !addresses.is_empty() {
                endpoints.push(RawEndpoint {
                    addresses,
                    ready,
                    zone,
                    topology,
                });
            }
        }
    }
    let mut ports = Vec::new();
    if let Some(p) = root.get("ports") {
        for item in p.seq_max(cx, 100).unwrap_or_default() {
            let Some(mut f) = item.map(cx) else { continue };
            let name = f.get("name").and_then(|n| n.str(cx)).unwrap_or_default();
            let port = f.req(cx, "port").and_then(|p| p.port(cx));
            if let Some(proto) = f.get("protocol") {
                if let Some(s) = proto.str(cx) {
                    if s != "TCP" {
                        cx.error(
                            proto.line,
                            &proto.path,
                            format!("protocol {s} is not supported (only TCP)"),
                        );
                    }
                }
            }
            f.skip("appProtocol");
            f.finish(cx);
            if let Some(port) = port {
                if ports.iter().any(|(n, _)| *n == name) {
                    cx.error(
                        item.line,
                        &item.path,
                        format!("duplicate port name {name:?}"),
                    );
                } else {
                    ports.push((name, port));
                }
            }
        }
    }
    address_type?;
    Some(RawEndpointSlice {
        head,
        service: service?,
        endpoints,
        ports,
    })
}
