//! Per-stream load balancing over one upstream cluster.
//!
//! Two halves:
//! - [`Tables`]: built once per config from a [`ClusterSpec`], immutable, shared by every worker
//!   (e.g. in an `Arc`): endpoints, locality priority levels, and the precomputed tables (ring,
//!   Maglev table, weights).
//! - [`Balancer`]: one per worker per cluster, plain mutable state with no locks and no atomics:
//!   the worker's PRNG, health mask, in-flight stream counts and round-robin positions. A pick
//!   reads the shared tables and this state only, and never allocates.
//!
//! Policies, one file each, dispatched by a `match` on [`PolicySpec`]:
//! [`round_robin`](self::round_robin) (smooth weighted), [`least_request`](self::least_request)
//! (P2C over in-flight/weight), [`random`](self::random) (weighted), [`ring_hash`] (ketama-style
//! ring) and [`maglev`] (Maglev table), the last two keyed by [`key`] (header, cookie, source IP,
//! query parameter) hashed with the seedless [`hash::xxh64`], so every worker maps a key to the
//! same endpoint.
//!
//! Health and locality: endpoints are grouped into priority levels ([`LocalitySpec`]); a pick uses
//! the first level that has a healthy endpoint on this worker. Within it, unhealthy endpoints are
//! skipped (ring and Maglev walk on to the next healthy owner, so keys of healthy endpoints never
//! move).

pub mod hash;
pub mod key;
mod least_request;
pub(crate) mod locality;
pub mod maglev;
mod random;
pub mod ring_hash;
pub mod rng;
mod round_robin;
pub mod spec;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use key::{KeyOutcome, KeySource, SetCookie};
pub use rng::{Rng, worker_seed};
pub use spec::{
    ClusterSpec, CookieSpec, DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_MINIMUM_RING_SIZE, EndpointSpec,
    Failover, HashAlgorithm, HashKeySpec, Locality, LocalitySpec, PolicySpec, Site,
};

use maglev::Maglev;
use ring_hash::Ring;

/// A cluster spec that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    DuplicateEndpoint {
        cluster: String,
        id: String,
    },
    EmptyEndpointId {
        cluster: String,
    },
    EmptyKeyName {
        cluster: String,
    },
    RingSize {
        cluster: String,
        size: u64,
    },
    MaglevTableSize {
        cluster: String,
        size: u64,
        reason: &'static str,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::DuplicateEndpoint { cluster, id } => {
                write!(f, "cluster {cluster}: endpoint {id} listed twice")
            }
            BuildError::EmptyEndpointId { cluster } => {
                write!(f, "cluster {cluster}: an endpoint has an empty id")
            }
            BuildError::EmptyKeyName { cluster } => {
                write!(f, "cluster {cluster}: consistentHash key name is empty")
            }
            BuildError::RingSize { cluster, size } => write!(
                f,
                "cluster {cluster}: ringHash.minimumRingSize {size} must be in 1..={}",
                spec::MAXIMUM_RING_SIZE
            ),
            BuildError::MaglevTableSize {
                cluster,
                size,
                reason,
            } => write!(f, "cluster {cluster}: maglev.tableSize {size} {reason}"),
        }
    }
}

impl std::error::Error for BuildError {}

pub(crate) enum HashTable {
    None,
    Ring(Ring),
    Maglev(Maglev),
}

/// One locality priority level: its members and their precomputed tables.
pub(crate) struct Level {
    pub(crate) priority: u32,
    /// Endpoint indices (weight > 0). Input order for RR/LR/random, sorted by id for hashing.
    pub(crate) members: Vec<u32>,
    /// Parallel to `members`.
    pub(crate) weights: Vec<u32>,
    pub(crate) equal_weights: bool,
    pub(crate) table: HashTable,
}

/// The immutable, shareable part of a cluster's balancer: its endpoints and the tables built over
/// them (the cluster itself is the configuration's; its runtime settings are the proxy's).
pub struct Tables {
    name: String,
    policy: PolicySpec,
    endpoints: Vec<EndpointSpec>,
    /// Per endpoint: its locality priority (0 = preferred).
    priorities: Vec<u32>,
    levels: Vec<Level>,
    /// Endpoint index → (level, member position); `None` for weight 0.
    locate: Vec<Option<(u32, u32)>>,
}

impl Tables {
    /// Validates and precomputes a cluster. `site` is where this gateway runs (locality).
    pub fn build(spec: &ClusterSpec, site: &Site) -> Result<Tables, BuildError> {
        let cluster = || spec.name.clone();
        let mut seen = HashMap::new();
        for e in &spec.endpoints {
            if e.id.is_empty() {
                return Err(BuildError::EmptyEndpointId { cluster: cluster() });
            }
            if seen.insert(e.id.as_str(), ()).is_some() {
                return Err(BuildError::DuplicateEndpoint {
                    cluster: cluster(),
                    id: e.id.clone(),
                });
            }
        }
        let algorithm = match &spec.policy {
            PolicySpec::ConsistentHash { key, algorithm } => {
                let empty = match key {
                    HashKeySpec::Header(n) | HashKeySpec::QueryParam(n) => n.is_empty(),
                    HashKeySpec::Cookie(c) => c.name.is_empty(),
                    HashKeySpec::SourceIp => false,
                };
                if empty {
                    return Err(BuildError::EmptyKeyName { cluster: cluster() });
                }
                match *algorithm {
                    HashAlgorithm::RingHash { minimum_ring_size } => {
                        if minimum_ring_size == 0 || minimum_ring_size > spec::MAXIMUM_RING_SIZE {
                            return Err(BuildError::RingSize {
                                cluster: cluster(),
                                size: minimum_ring_size,
                            });
                        }
                    }
                    HashAlgorithm::Maglev { table_size } => {
                        let reason = if table_size > spec::MAXIMUM_MAGLEV_TABLE_SIZE {
                            Some("is larger than 5000011")
                        } else if !maglev::is_prime(table_size) {
                            Some("must be prime (e.g. 65537)")
                        } else {
                            None
                        };
                        if let Some(reason) = reason {
                            return Err(BuildError::MaglevTableSize {
                                cluster: cluster(),
                                size: table_size,
                                reason,
                            });
                        }
                    }
                }
                Some(*algorithm)
            }
            _ => None,
        };

        let endpoints = &spec.endpoints;
        let prio = locality::priorities(&spec.locality, site, endpoints);
        let mut priorities: Vec<u32> = endpoints
            .iter()
            .zip(&prio)
            .filter(|(e, _)| e.weight > 0)
            .map(|(_, &p)| p)
            .collect();
        priorities.sort_unstable();
        priorities.dedup();

        let mut locate = vec![None; endpoints.len()];
        let mut levels = Vec::with_capacity(priorities.len());
        for (li, &p) in priorities.iter().enumerate() {
            let mut members: Vec<u32> = (0..endpoints.len() as u32)
                .filter(|&i| endpoints[i as usize].weight > 0 && prio[i as usize] == p)
                .collect();
            if algorithm.is_some() {
                members.sort_by(|&a, &b| endpoints[a as usize].id.cmp(&endpoints[b as usize].id));
            }
            let weights: Vec<u32> = members
                .iter()
                .map(|&i| endpoints[i as usize].weight)
                .collect();
            let equal_weights = weights.windows(2).all(|w| w[0] == w[1]);
            let ids: Vec<&str> = members
                .iter()
                .map(|&i| endpoints[i as usize].id.as_str())
                .collect();
            let table = match algorithm {
                None => HashTable::None,
                Some(HashAlgorithm::RingHash { minimum_ring_size }) => {
                    HashTable::Ring(Ring::build(&ids, &weights, minimum_ring_size))
                }
                Some(HashAlgorithm::Maglev { table_size }) => {
                    if (members.len() as u64) > table_size {
                        return Err(BuildError::MaglevTableSize {
                            cluster: cluster(),
                            size: table_size,
                            reason: "is smaller than the number of endpoints",
                        });
                    }
                    HashTable::Maglev(Maglev::build(&ids, &weights, table_size))
                }
            };
            for (pos, &m) in members.iter().enumerate() {
                locate[m as usize] = Some((li as u32, pos as u32));
            }
            levels.push(Level {
                priority: p,
                members,
                weights,
                equal_weights,
                table,
            });
        }
        Ok(Tables {
            name: spec.name.clone(),
            policy: spec.policy.clone(),
            endpoints: spec.endpoints.clone(),
            priorities: prio,
            levels,
            locate,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn policy(&self) -> &PolicySpec {
        &self.policy
    }

    /// The endpoints, in spec order (a pick returns an index into this).
    pub fn endpoints(&self) -> &[EndpointSpec] {
        &self.endpoints
    }

    /// Endpoint `i`'s locality priority (0 = preferred; where the gateway runs decides it).
    pub fn priority(&self, i: usize) -> Option<u32> {
        self.priorities.get(i).copied()
    }

    /// The priority levels in use (ascending) with their endpoint indices.
    pub fn levels(&self) -> impl Iterator<Item = (u32, &[u32])> {
        self.levels
            .iter()
            .map(|l| (l.priority, l.members.as_slice()))
    }

    /// Points on the ring / slots in the Maglev table per endpoint of level `level` (indexed like
    /// the level's members), or `None` for non-hash policies.
    pub fn table_shares(&self, level: usize) -> Option<Vec<(usize, usize)>> {
        let l = self.levels.get(level)?;
        let counts = match &l.table {
            HashTable::None => return None,
            HashTable::Ring(r) => r.points_per_member(l.members.len()),
            HashTable::Maglev(m) => m.slots_per_member(l.members.len()),
        };
        Some(
            l.members
                .iter()
                .zip(counts)
                .map(|(&e, c)| (e as usize, c))
                .collect(),
        )
    }

    /// Size of the ring or Maglev table of level `level`.
    pub fn table_len(&self, level: usize) -> Option<usize> {
        match &self.levels.get(level)?.table {
            HashTable::None => None,
            HashTable::Ring(r) => Some(r.len()),
            HashTable::Maglev(m) => Some(m.len()),
        }
    }

    /// The endpoint `hash` maps to when every endpoint is healthy (first level), for hash
    /// policies; what `explain` reports.
    pub fn hash_owner(&self, hash: u64) -> Option<usize> {
        let l = self.levels.first()?;
        let m = match &l.table {
            HashTable::None => return None,
            HashTable::Ring(r) => r.owner(hash)?,
            HashTable::Maglev(t) => t.owner(hash)?,
        };
        l.members.get(m as usize).map(|&e| e as usize)
    }
}

impl fmt::Debug for Tables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tables")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .field("endpoints", &self.endpoints.len())
            .field("levels", &self.levels.len())
            .finish()
    }
}

/// Per-worker state of one level.
pub(crate) struct LevelState {
    /// Parallel to the level's members.
    pub(crate) member_healthy: Vec<bool>,
    /// Member positions that are healthy, in member order (capacity = members: no allocation).
    pub(crate) healthy: Vec<u32>,
    /// Running sum of the weights of `healthy` (random).
    pub(crate) cumulative: Vec<u64>,
    pub(crate) total_weight: u64,
    /// Smooth round-robin `current` per member.
    pub(crate) rr_current: Vec<i64>,
    /// Equal-weight round-robin position in `healthy`.
    pub(crate) rr_next: usize,
}

impl LevelState {
    fn new(level: &Level) -> Self {
        let n = level.members.len();
        let mut st = LevelState {
            member_healthy: vec![true; n],
            healthy: Vec::with_capacity(n),
            cumulative: Vec::with_capacity(n),
            total_weight: 0,
            rr_current: vec![0; n],
            rr_next: 0,
        };
        st.refresh(level);
        st
    }

    fn refresh(&mut self, level: &Level) {
        self.healthy.clear();
        self.cumulative.clear();
        let mut total = 0u64;
        for (pos, &ok) in self.member_healthy.iter().enumerate() {
            if ok {
                self.healthy.push(pos as u32);
                total += u64::from(level.weights[pos]);
                self.cumulative.push(total);
            }
        }
        self.total_weight = total;
    }
}

/// What a pick chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picked<'a> {
    /// Index into [`Tables::endpoints`].
    pub endpoint: usize,
    /// Cookie policy with a missing cookie: add this `Set-Cookie` to the response.
    pub set_cookie: Option<SetCookie<'a>>,
}

/// One worker's balancer for one cluster. Not `Sync` by intent of use: each worker owns its own.
pub struct Balancer {
    cluster: Arc<Tables>,
    rng: Rng,
    healthy: Vec<bool>,
    in_flight: Vec<u32>,
    levels: Vec<LevelState>,
}

impl Balancer {
    /// A worker's balancer, every endpoint healthy and idle. `seed`: e.g. [`worker_seed`]`(i)`.
    pub fn new(cluster: Arc<Tables>, seed: u64) -> Self {
        let levels = cluster.levels.iter().map(LevelState::new).collect();
        let n = cluster.endpoints.len();
        Balancer {
            cluster,
            rng: Rng::new(seed),
            healthy: vec![true; n],
            in_flight: vec![0; n],
            levels,
        }
    }

    /// A balancer for a reloaded `cluster` that keeps this one's health marks, in-flight counts
    /// and PRNG for endpoints with the same id.
    pub fn carry_over(&self, cluster: Arc<Tables>) -> Balancer {
        let old: HashMap<&str, usize> = self
            .cluster
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.as_str(), i))
            .collect();
        let mut next = Balancer::new(cluster.clone(), 0);
        next.rng = self.rng.clone();
        for (i, e) in cluster.endpoints.iter().enumerate() {
            if let Some(&j) = old.get(e.id.as_str()) {
                next.in_flight[i] = self.in_flight[j];
                if !self.healthy[j] {
                    next.set_healthy(i, false);
                }
            }
        }
        next
    }

    pub fn cluster(&self) -> &Arc<Tables> {
        &self.cluster
    }

    /// The worker's PRNG (also usable for the route's weighted backend split).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Picks an endpoint for `req`; `None` when no endpoint is healthy (answer 503 / gRPC 14).
    #[inline]
    pub fn pick<R: KeySource + ?Sized>(&mut self, req: &R) -> Option<Picked<'_>> {
        let (hash, generated) = match &self.cluster.policy {
            PolicySpec::ConsistentHash { key: spec, .. } => {
                let fallback = self.rng.next_u64();
                let k = key::extract(spec, req, fallback);
                (k.hash, k.generated_cookie)
            }
            _ => (None, None),
        };
        let endpoint = self.pick_hashed(hash)?;
        let set_cookie = match (&self.cluster.policy, generated) {
            (
                PolicySpec::ConsistentHash {
                    key: HashKeySpec::Cookie(spec),
                    ..
                },
                Some(value),
            ) => Some(SetCookie { spec, value }),
            _ => None,
        };
        Some(Picked {
            endpoint,
            set_cookie,
        })
    }

    /// Picks with a precomputed key hash (hash policies; `None` = random point). Other policies
    /// ignore `hash`.
    #[inline]
    pub fn pick_hashed(&mut self, hash: Option<u64>) -> Option<usize> {
        let Balancer {
            cluster,
            rng,
            in_flight,
            levels,
            ..
        } = self;
        let li = levels.iter().position(|l| !l.healthy.is_empty())?;
        let level = &cluster.levels[li];
        let st = &mut levels[li];
        let member = match &cluster.policy {
            PolicySpec::RoundRobin => round_robin::pick(level, st),
            PolicySpec::LeastRequest => least_request::pick(level, st, in_flight, rng),
            PolicySpec::Random => random::pick(level, st, rng),
            PolicySpec::ConsistentHash { .. } => {
                let h = match hash {
                    Some(h) => h,
                    None => rng.next_u64(),
                };
                let found = match &level.table {
                    HashTable::Ring(r) => r.pick(h, &st.member_healthy),
                    HashTable::Maglev(m) => m.pick(h, &st.member_healthy),
                    HashTable::None => None,
                };
                // A member with no points (extreme weights) can leave healthy members
                // unreachable: fall back to a random healthy one.
                found.or_else(|| random::pick(level, st, rng))
            }
        }?;
        level.members.get(member as usize).map(|&e| e as usize)
    }

    /// Marks an endpoint healthy or not on this worker. Returns whether anything changed.
    /// O(endpoints in its level), no allocation.
    pub fn set_healthy(&mut self, endpoint: usize, healthy: bool) -> bool {
        let Some(slot) = self.healthy.get_mut(endpoint) else {
            return false;
        };
        if *slot == healthy {
            return false;
        }
        *slot = healthy;
        if let Some(Some((li, pos))) = self.cluster.locate.get(endpoint) {
            let (li, pos) = (*li as usize, *pos as usize);
            let st = &mut self.levels[li];
            st.member_healthy[pos] = healthy;
            st.refresh(&self.cluster.levels[li]);
        }
        true
    }

    pub fn is_healthy(&self, endpoint: usize) -> bool {
        self.healthy.get(endpoint).copied().unwrap_or(false)
    }

    /// The proxy opened a stream to `endpoint` (least-request load).
    #[inline]
    pub fn stream_started(&mut self, endpoint: usize) {
        if let Some(n) = self.in_flight.get_mut(endpoint) {
            *n = n.saturating_add(1);
        }
    }

    /// A stream to `endpoint` ended (any way).
    #[inline]
    pub fn stream_ended(&mut self, endpoint: usize) {
        if let Some(n) = self.in_flight.get_mut(endpoint) {
            *n = n.saturating_sub(1);
        }
    }

    /// Sets `endpoint`'s in-flight count, for a caller that counts streams itself (the proxy counts
    /// the streams open on an endpoint's connections).
    pub fn set_in_flight(&mut self, endpoint: usize, n: u32) {
        if let Some(c) = self.in_flight.get_mut(endpoint) {
            *c = n;
        }
    }

    pub fn in_flight(&self, endpoint: usize) -> u32 {
        self.in_flight.get(endpoint).copied().unwrap_or(0)
    }
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::RoundRobin => f.write_str("ROUND_ROBIN"),
            PolicySpec::LeastRequest => f.write_str("LEAST_REQUEST"),
            PolicySpec::Random => f.write_str("RANDOM"),
            PolicySpec::ConsistentHash { key, algorithm } => {
                f.write_str("consistentHash(")?;
                match key {
                    HashKeySpec::Header(h) => write!(f, "httpHeaderName {h}")?,
                    HashKeySpec::Cookie(c) => write!(f, "httpCookie {}", c.name)?,
                    HashKeySpec::SourceIp => f.write_str("useSourceIp")?,
                    HashKeySpec::QueryParam(q) => write!(f, "httpQueryParameterName {q}")?,
                }
                match algorithm {
                    HashAlgorithm::RingHash { minimum_ring_size } => {
                        write!(f, ", ringHash minimumRingSize {minimum_ring_size})")
                    }
                    HashAlgorithm::Maglev { table_size } => {
                        write!(f, ", maglev tableSize {table_size})")
                    }
                }
            }
        }
    }
}
