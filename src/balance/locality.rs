//! Locality priorities: which endpoints to prefer, computed once when a cluster is built.
//!
//! Every endpoint gets a priority (0 = most preferred). A pick uses the lowest priority that still
//! has a healthy endpoint on this worker and ignores the others (strict failover; Envoy's 1.4
//! overprovisioning spill is not modelled).

use super::spec::{EndpointSpec, LocalitySpec, Site};

/// The priority of every endpoint, in input order.
pub(crate) fn priorities(spec: &LocalitySpec, site: &Site, endpoints: &[EndpointSpec]) -> Vec<u32> {
    match spec {
        LocalitySpec::Disabled => vec![0; endpoints.len()],
        LocalitySpec::Failover(failover) => endpoints
            .iter()
            .map(|e| {
                let l = &e.locality;
                let me = &site.locality;
                if l.region == me.region && l.zone == me.zone && l.subzone == me.subzone {
                    0
                } else if l.region == me.region && l.zone == me.zone {
                    1
                } else if l.region == me.region {
                    2
                } else {
                    let targets = failover.iter().filter(|f| f.from == me.region);
                    let mut n = 0u32;
                    let mut found = None;
                    for (i, f) in targets.enumerate() {
                        n = i as u32 + 1;
                        if found.is_none() && f.to == l.region {
                            found = Some(i as u32);
                        }
                    }
                    3 + found.unwrap_or(n)
                }
            })
            .collect(),
        LocalitySpec::FailoverPriority(keys) => endpoints
            .iter()
            .map(|e| {
                let matched = keys
                    .iter()
                    .take_while(|key| {
                        let (key, wanted) = match key.split_once('=') {
                            Some((k, v)) => (k, Some(v)),
                            None => (key.as_str(), None),
                        };
                        let wanted = match wanted {
                            Some(v) => Some(v),
                            None => label(&site.labels, &site.locality, key),
                        };
                        let have = label(&e.labels, &e.locality, key);
                        matches!((have, wanted), (Some(h), Some(w)) if h == w)
                    })
                    .count();
                (keys.len() - matched) as u32
            })
            .collect(),
    }
}

fn label<'a>(
    labels: &'a [(String, String)],
    locality: &'a super::spec::Locality,
    key: &str,
) -> Option<&'a str> {
    if let Some((_, v)) = labels.iter().find(|(k, _)| k == key) {
        return Some(v);
    }
    let v = match key {
        "topology.kubernetes.io/region" => &locality.region,
        "topology.kubernetes.io/zone" => &locality.zone,
        "topology.istio.io/subzone" => &locality.subzone,
        _ => return None,
    };
    (!v.is_empty()).then_some(v.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::spec::{Failover, Locality};
    use super::*;

    #[test]
    fn failover_levels() {
        let site = Site {
            locality: Locality::new("us-east", "a", "1"),
            labels: vec![],
        };
        let eps = [
            EndpointSpec::new("same", 1).in_locality(Locality::new("us-east", "a", "1")),
            EndpointSpec::new("zone", 1).in_locality(Locality::new("us-east", "a", "2")),
            EndpointSpec::new("region", 1).in_locality(Locality::new("us-east", "b", "1")),
            EndpointSpec::new("eu", 1).in_locality(Locality::new("eu-west", "a", "1")),
            EndpointSpec::new("ap", 1).in_locality(Locality::new("ap-south", "a", "1")),
            EndpointSpec::new("us-west", 1).in_locality(Locality::new("us-west", "a", "1")),
        ];
        let spec = LocalitySpec::Failover(vec![
            Failover {
                from: "us-east".into(),
                to: "eu-west".into(),
            },
            Failover {
                from: "other".into(),
                to: "us-west".into(),
            },
            Failover {
                from: "us-east".into(),
                to: "ap-south".into(),
            },
        ]);
        assert_eq!(priorities(&spec, &site, &eps), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn failover_priority_labels() {
        let site = Site {
            locality: Locality::new("r1", "z1", ""),
            labels: vec![("topology.istio.io/network".into(), "n1".into())],
        };
        let keys = LocalitySpec::FailoverPriority(vec![
            "topology.istio.io/network".into(),
            "topology.kubernetes.io/region".into(),
            "topology.kubernetes.io/zone".into(),
        ]);
        let eps = [
            EndpointSpec::new("a", 1)
                .in_locality(Locality::new("r1", "z1", ""))
                .with_label("topology.istio.io/network", "n1"),
            EndpointSpec::new("b", 1)
                .in_locality(Locality::new("r1", "z2", ""))
                .with_label("topology.istio.io/network", "n1"),
            EndpointSpec::new("c", 1)
                .in_locality(Locality::new("r2", "z1", ""))
                .with_label("topology.istio.io/network", "n1"),
            EndpointSpec::new("d", 1)
                .in_locality(Locality::new("r1", "z1", ""))
                .with_label("topology.istio.io/network", "n2"),
        ];
        assert_eq!(priorities(&keys, &site, &eps), vec![0, 1, 2, 3]);
        let pinned = LocalitySpec::FailoverPriority(vec!["topology.istio.io/network=n2".into()]);
        assert_eq!(priorities(&pinned, &site, &eps), vec![1, 1, 1, 0]);
    }
}
