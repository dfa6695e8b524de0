//! The event hook (`h2edge::proxy::events::Events`) sees what the gateway does: streams started and
//! how they ended, local answers with their reason, upstream connections, answers counted for
//! outlier detection, replays.

use std::collections::HashMap;
use std::time::Duration;

use h2edge::proxy::events::{EndpointRef, Events, Outcome, StreamEnd};
use h2edge::proxy::local::Reason;
use h2edge::testkit::{Dial, H2Client, H2Server, Sim, gateway_config};

use crate::{client_with, endpoint, serves, yaml};

#[derive(Default)]
struct Recorder {
    started: usize,
    local: Vec<Reason>,
    answered: HashMap<u16, usize>,
    ended: Vec<StreamEnd>,
    connected: Vec<EndpointRef>,
    replayed: usize,
}

impl Events for Recorder {
    fn stream_started(&mut self, _listener: usize) {
        self.started += 1;
    }
    fn local_answer(&mut self, _listener: usize, reason: Reason) {
        self.local.push(reason);
    }
    fn answered(&mut self, _endpoint: EndpointRef, status: u16) {
        *self.answered.entry(status).or_default() += 1;
    }
    fn stream_ended(&mut self, end: &StreamEnd) {
        self.ended.push(*end);
    }
    fn upstream_connected(&mut self, endpoint: EndpointRef) {
        self.connected.push(endpoint);
    }
    fn replayed(&mut self, _endpoint: EndpointRef) {
        self.replayed += 1;
    }
}

#[test]
fn the_hook_sees_streams_answers_and_replays() {
    let (faults, _) = serves();
    faults.refuse_every_other.set(true);
    let rules = "[{matches: [{path: {type: PathPrefix, value: /small}}], \
                 backendRefs: [{name: up, port: 80}]}]";
    let config = gateway_config(&yaml(&[endpoint(0)], "", rules, "")).expect("config");
    let f = faults.clone();
    let mut sim: Sim<H2Client, H2Server, Recorder> =
        Sim::with_events(config, std::time::Instant::now(), 7, Recorder::default(), {
            move |_, now| Dial::Accept(H2Server::new(f.clone(), now))
        });
    let c = client_with(&mut sim, &Default::default(), true);
    // One call at a time: the backend refuses every other request, so each call is refused once
    // and replayed once.
    for i in 0..4 {
        let id = sim.client_mut(c).get("/small");
        let done = sim.run_until(Duration::from_secs(2), |s| s.client(c).ended(id));
        assert!(done, "call {i} unanswered");
        assert_eq!(sim.client(c).status(id), Some("200"), "call {i}");
    }
    let lost = sim.client_mut(c).get("/nothing");
    assert!(sim.run_until(Duration::from_secs(2), |s| s.client(c).ended(lost)));
    assert_eq!(sim.client(c).status(lost), Some("404"));
    let seen = sim.gateway.events();
    assert_eq!(seen.started, 5);
    assert_eq!(seen.local, [Reason::NoRoute]);
    assert_eq!(
        seen.connected,
        [EndpointRef {
            cluster: 0,
            endpoint: 0
        }]
    );
    assert_eq!(faults.refused.get(), 4);
    assert_eq!(seen.replayed, 4);
    assert_eq!(seen.answered.get(&200), Some(&4));
    assert_eq!(seen.ended.len(), 4);
    assert!(
        seen.ended
            .iter()
            .all(|e| e.outcome == Outcome::Complete && e.responded && e.endpoint.is_some())
    );
}
