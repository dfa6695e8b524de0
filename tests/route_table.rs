//! Route table: Gateway API precedence (HTTPRoute and GRPCRoute), hostnames, listeners,
//! weighted split, no-route answers and `explain`.

use std::sync::Arc;

use h2edge::balance::{
    self, ClusterSpec, EndpointSpec, HashAlgorithm, HashKeySpec, PolicySpec, Rng, Site, Tables,
};
use h2edge::route::{
    BackendSpec, ClusterId, GrpcMatchSpec, GrpcRouteSpec, GrpcRuleSpec, HeaderFn, HttpMatchSpec,
    HttpRouteSpec, HttpRuleSpec, ListenerSpec, NoHeaders, NoRoute, ParentRef, Request, RouteKind,
    RouteMatch, RouteMeta, RouteTable, TableSpec, ValueMatchSpec, explain,
};

const GW: &str = "edge/gw";

fn listener(host: Option<&str>) -> ListenerSpec {
    ListenerSpec::new(GW, "https", 443, host)
}

fn meta(ns: &str, name: &str, created: i64) -> RouteMeta {
    RouteMeta::new(ns, name, created).parent(GW)
}

fn be(cluster: u32) -> Vec<BackendSpec> {
    vec![BackendSpec::new(
        format!("svc-{cluster}"),
        ClusterId(cluster),
        1,
    )]
}

fn http_rule(matches: Vec<HttpMatchSpec>, cluster: u32) -> HttpRuleSpec {
    HttpRuleSpec::new(matches, be(cluster))
}

fn grpc_rule(matches: Vec<GrpcMatchSpec>, cluster: u32) -> GrpcRuleSpec {
    GrpcRuleSpec::new(matches, be(cluster))
}

fn table(
    listeners: Vec<ListenerSpec>,
    http: Vec<HttpRouteSpec>,
    grpc: Vec<GrpcRouteSpec>,
) -> RouteTable {
    RouteTable::build(&TableSpec {
        listeners,
        http_routes: http,
        grpc_routes: grpc,
    })
    .expect("table builds")
}

fn http_table(http: Vec<HttpRouteSpec>) -> RouteTable {
    table(vec![listener(None)], http, vec![])
}

/// Routes a GET on example.com with headers `h`; returns the cluster.
fn cluster_of(t: &RouteTable, method: &str, path: &str, h: &[(&str, &str)]) -> Option<u32> {
    let req = Request::new(b"example.com", path.as_bytes(), method.as_bytes(), h);
    t.route(&req, 0).ok().map(|m| m.cluster.0)
}

fn get(t: &RouteTable, path: &str) -> Option<u32> {
    cluster_of(t, "GET", path, &[])
}

fn grpc_call(
    t: &RouteTable,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
) -> Result<RouteMatch, NoRoute> {
    let mut h = vec![("content-type", "application/grpc")];
    h.extend_from_slice(extra);
    let req = Request::new(host.as_bytes(), path.as_bytes(), b"POST", &h[..]);
    t.route(&req, 0)
}

// ---------------------------------------------------------------- HTTPRoute precedence

#[test]
fn exact_path_beats_prefix_of_same_value() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "a-prefix", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/foo")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns", "b-exact", 2),
            vec![http_rule(vec![HttpMatchSpec::exact("/foo")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/foo"), Some(2));
    assert_eq!(get(&t, "/foo/bar"), Some(1));
    assert_eq!(
        get(&t, "/foo?x=1"),
        Some(2),
        "query is not part of the path"
    );
}

#[test]
fn root_and_odd_paths() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::exact("/")], 1),
            http_rule(vec![HttpMatchSpec::regex(".*")], 2),
            http_rule(vec![HttpMatchSpec::prefix("/a")], 3),
        ],
    )]);
    assert_eq!(get(&t, "/"), Some(1));
    assert_eq!(get(&t, "/?q"), Some(1));
    assert_eq!(
        get(&t, "*"),
        Some(2),
        "asterisk-form only reaches unpinned rules"
    );
    assert_eq!(get(&t, ""), Some(2));
    assert_eq!(get(&t, "/a/b"), Some(2), "regex ranks above prefix");
}

#[test]
fn exact_path_beats_longer_prefix() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/api/v1/users")], 1),
            http_rule(vec![HttpMatchSpec::exact("/api/v1/users")], 2),
        ],
    )]);
    assert_eq!(get(&t, "/api/v1/users"), Some(2));
}

#[test]
fn longest_prefix_wins() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/")], 1),
            http_rule(vec![HttpMatchSpec::prefix("/foo")], 2),
            http_rule(vec![HttpMatchSpec::prefix("/foo/bar")], 3),
        ],
    )]);
    assert_eq!(get(&t, "/foo/bar/x"), Some(3));
    assert_eq!(get(&t, "/foo/bar"), Some(3));
    assert_eq!(get(&t, "/foo/x"), Some(2));
    assert_eq!(get(&t, "/other"), Some(1));
}

#[test]
fn prefix_matches_whole_segments_only() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/")], 1),
            http_rule(vec![HttpMatchSpec::prefix("/foo")], 2),
            http_rule(vec![HttpMatchSpec::prefix("/bar/")], 3),
        ],
    )]);
    assert_eq!(get(&t, "/foo"), Some(2));
    assert_eq!(get(&t, "/foo/"), Some(2));
    assert_eq!(get(&t, "/foo/bar"), Some(2));
    assert_eq!(get(&t, "/foobar"), Some(1));
    assert_eq!(
        get(&t, "/bar"),
        Some(3),
        "trailing / of a prefix is ignored"
    );
    assert_eq!(get(&t, "/barx"), Some(1));
}

#[test]
fn longer_prefix_beats_older_route() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "old", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/a")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns", "new", 9),
            vec![http_rule(vec![HttpMatchSpec::prefix("/a/b")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/a/b/c"), Some(2));
}

#[test]
fn method_match_wins_over_no_method() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "any", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/x")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns", "get", 2),
            vec![http_rule(
                vec![HttpMatchSpec::prefix("/x").with_method("GET")],
                2,
            )],
        ),
    ]);
    assert_eq!(cluster_of(&t, "GET", "/x", &[]), Some(2));
    assert_eq!(cluster_of(&t, "POST", "/x", &[]), Some(1));
}

#[test]
fn path_length_beats_method() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/x").with_method("GET")], 1),
            http_rule(vec![HttpMatchSpec::prefix("/x/y")], 2),
        ],
    )]);
    assert_eq!(cluster_of(&t, "GET", "/x/y/z", &[]), Some(2));
    assert_eq!(cluster_of(&t, "GET", "/x/z", &[]), Some(1));
}

#[test]
fn method_beats_header_count() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(
                vec![
                    HttpMatchSpec::prefix("/x")
                        .with_header(ValueMatchSpec::exact("a", "1"))
                        .with_header(ValueMatchSpec::exact("b", "2"))
                        .with_header(ValueMatchSpec::exact("c", "3")),
                ],
                1,
            ),
            http_rule(vec![HttpMatchSpec::prefix("/x").with_method("GET")], 2),
        ],
    )]);
    let h = [("a", "1"), ("b", "2"), ("c", "3")];
    assert_eq!(cluster_of(&t, "GET", "/x", &h), Some(2));
    assert_eq!(cluster_of(&t, "PUT", "/x", &h), Some(1));
}

#[test]
fn most_header_matches_win() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "one", 1),
            vec![http_rule(
                vec![HttpMatchSpec::prefix("/").with_header(ValueMatchSpec::exact("x-a", "1"))],
                1,
            )],
        ),
        HttpRouteSpec::new(
            meta("ns", "two", 5),
            vec![http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_header(ValueMatchSpec::exact("x-a", "1"))
                        .with_header(ValueMatchSpec::exact("x-b", "2")),
                ],
                2,
            )],
        ),
    ]);
    assert_eq!(
        cluster_of(&t, "GET", "/", &[("x-a", "1"), ("x-b", "2")]),
        Some(2)
    );
    assert_eq!(
        cluster_of(&t, "GET", "/", &[("x-a", "1"), ("x-b", "3")]),
        Some(1)
    );
    assert_eq!(cluster_of(&t, "GET", "/", &[("x-b", "2")]), None);
}

#[test]
fn header_count_beats_query_count() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_query(ValueMatchSpec::exact("a", "1"))
                        .with_query(ValueMatchSpec::exact("b", "2")),
                ],
                1,
            ),
            http_rule(
                vec![HttpMatchSpec::prefix("/").with_header(ValueMatchSpec::exact("h", "1"))],
                2,
            ),
        ],
    )]);
    assert_eq!(cluster_of(&t, "GET", "/?a=1&b=2", &[("h", "1")]), Some(2));
    assert_eq!(cluster_of(&t, "GET", "/?a=1&b=2", &[]), Some(1));
}

#[test]
fn most_query_matches_win() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "one", 1),
            vec![http_rule(
                vec![HttpMatchSpec::prefix("/s").with_query(ValueMatchSpec::exact("v", "2"))],
                1,
            )],
        ),
        HttpRouteSpec::new(
            meta("ns", "two", 2),
            vec![http_rule(
                vec![
                    HttpMatchSpec::prefix("/s")
                        .with_query(ValueMatchSpec::exact("v", "2"))
                        .with_query(ValueMatchSpec::regex("user", "[a-z]+")),
                ],
                2,
            )],
        ),
        HttpRouteSpec::new(
            meta("ns", "zero", 0),
            vec![http_rule(vec![HttpMatchSpec::prefix("/s")], 3)],
        ),
    ]);
    assert_eq!(get(&t, "/s?v=2&user=bob"), Some(2));
    assert_eq!(
        get(&t, "/s?user=BOB&v=2"),
        Some(1),
        "regex is anchored and case-sensitive"
    );
    assert_eq!(get(&t, "/s?v=3"), Some(3));
    assert_eq!(get(&t, "/s?v=2&v=3"), Some(1), "first occurrence counts");
    assert_eq!(get(&t, "/s?v=3&v=2"), Some(3));
}

#[test]
fn oldest_route_wins_a_tie() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "a-newer", 200),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns", "z-older", 100),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/p/x"), Some(2));
}

#[test]
fn alphabetical_namespace_name_breaks_timestamp_ties() {
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns-b", "a", 7),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns-a", "z", 7),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/p"), Some(2));
    // "{namespace}/{name}" as one string: "a-b/x" < "a/x" because '-' < '/'.
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("a", "x", 7),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 1)],
        ),
        HttpRouteSpec::new(
            meta("a-b", "x", 7),
            vec![http_rule(vec![HttpMatchSpec::prefix("/p")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/p"), Some(2));
}

#[test]
fn first_rule_wins_within_a_route() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/other")], 9),
            http_rule(vec![HttpMatchSpec::prefix("/p")], 1),
            http_rule(vec![HttpMatchSpec::prefix("/p")], 2),
        ],
    )]);
    let req = Request::new(b"example.com", b"/p", b"GET", &NoHeaders);
    let m = t.route(&req, 0).unwrap();
    assert_eq!((m.cluster.0, m.rule, m.match_index), (1, 1, 0));
}

#[test]
fn precedence_is_per_match_not_per_rule() {
    // Rule 0 of the newer route has a catch-all and an exact match (ORed); the older route has a
    // prefix. "/a" goes to the exact match; "/a/b" to the older prefix; "/zzz" to the catch-all.
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "old", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/a")], 1)],
        ),
        HttpRouteSpec::new(
            meta("ns", "new", 2),
            vec![http_rule(
                vec![HttpMatchSpec::prefix("/"), HttpMatchSpec::exact("/a")],
                2,
            )],
        ),
    ]);
    let req = Request::new(b"example.com", b"/a", b"GET", &NoHeaders);
    let m = t.route(&req, 0).unwrap();
    assert_eq!((m.cluster.0, m.match_index), (2, 1));
    assert_eq!(get(&t, "/a/b"), Some(1));
    assert_eq!(get(&t, "/zzz"), Some(2));
}

#[test]
fn rule_without_matches_is_prefix_root() {
    let t = http_table(vec![
        HttpRouteSpec::new(meta("ns", "catch", 1), vec![http_rule(vec![], 1)]),
        HttpRouteSpec::new(
            meta("ns", "api", 2),
            vec![http_rule(vec![HttpMatchSpec::prefix("/api")], 2)],
        ),
    ]);
    assert_eq!(get(&t, "/"), Some(1));
    assert_eq!(get(&t, "/api/x"), Some(2));
}

#[test]
fn regex_paths_rank_between_exact_and_prefix() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(vec![HttpMatchSpec::prefix("/users")], 1),
            http_rule(vec![HttpMatchSpec::regex("/users/[0-9]+")], 2),
            http_rule(vec![HttpMatchSpec::exact("/users/0")], 3),
        ],
    )]);
    assert_eq!(get(&t, "/users/42"), Some(2));
    assert_eq!(get(&t, "/users/0"), Some(3));
    assert_eq!(get(&t, "/users/bob"), Some(1));
    assert_eq!(
        get(&t, "/users/42/x"),
        Some(1),
        "regex must match the whole path"
    );
}

#[test]
fn header_names_are_case_insensitive_and_values_exact() {
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_header(ValueMatchSpec::exact("X-Tenant", "Acme")),
                ],
                1,
            ),
            http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_header(ValueMatchSpec::regex("x-version", "v[2-9]")),
                ],
                2,
            ),
        ],
    )]);
    assert_eq!(cluster_of(&t, "GET", "/", &[("x-tenant", "Acme")]), Some(1));
    assert_eq!(cluster_of(&t, "GET", "/", &[("X-TENANT", "Acme")]), Some(1));
    assert_eq!(cluster_of(&t, "GET", "/", &[("x-tenant", "acme")]), None);
    assert_eq!(cluster_of(&t, "GET", "/", &[("X-Version", "v3")]), Some(2));
    assert_eq!(cluster_of(&t, "GET", "/", &[("x-version", "v3.1")]), None);
}

#[test]
fn only_the_first_of_equivalent_header_names_counts() {
    // The second "x-a" entry is ignored: the match has one header, and "x-a: 2" is not required.
    let t = http_table(vec![
        HttpRouteSpec::new(
            meta("ns", "dup", 1),
            vec![http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_header(ValueMatchSpec::exact("x-a", "1"))
                        .with_header(ValueMatchSpec::exact("X-A", "2")),
                ],
                1,
            )],
        ),
        HttpRouteSpec::new(
            meta("ns", "two", 2),
            vec![http_rule(
                vec![
                    HttpMatchSpec::prefix("/")
                        .with_header(ValueMatchSpec::exact("x-a", "1"))
                        .with_header(ValueMatchSpec::exact("x-b", "1")),
                ],
                2,
            )],
        ),
    ]);
    assert_eq!(cluster_of(&t, "GET", "/", &[("x-a", "1")]), Some(1));
    assert_eq!(
        cluster_of(&t, "GET", "/", &[("x-a", "1"), ("x-b", "1")]),
        Some(2)
    );
}

#[test]
fn invalid_regex_is_a_build_error_with_location() {
    let err = RouteTable::build(&TableSpec {
        listeners: vec![listener(None)],
        http_routes: vec![HttpRouteSpec::new(
            meta("shop", "bad", 1),
            vec![
                http_rule(vec![HttpMatchSpec::prefix("/")], 1),
                http_rule(
                    vec![
                        HttpMatchSpec::prefix("/"),
                        HttpMatchSpec::regex("/(unclosed"),
                    ],
                    1,
                ),
            ],
        )],
        grpc_routes: vec![],
    })
    .err()
    .expect("must fail");
    let text = err.to_string();
    assert!(
        text.starts_with("HTTPRoute shop/bad: rules[1].matches[1]: "),
        "{text}"
    );
}

// ---------------------------------------------------------------- hostnames and listeners

#[test]
fn listener_with_most_specific_hostname_is_selected() {
    let t = table(
        vec![
            ListenerSpec::new(GW, "any", 443, None),
            ListenerSpec::new(GW, "wild", 443, Some("*.example.com")),
            ListenerSpec::new(GW, "deep", 443, Some("*.eu.example.com")),
            ListenerSpec::new(GW, "exact", 443, Some("api.example.com")),
            ListenerSpec::new(GW, "plain", 80, Some("api.example.com")),
        ],
        vec![],
        vec![],
    );
    assert_eq!(t.select_listener(Some(443), b"api.example.com"), Some(3));
    assert_eq!(t.select_listener(Some(443), b"API.Example.COM"), Some(3));
    assert_eq!(t.select_listener(Some(443), b"www.example.com"), Some(1));
    assert_eq!(t.select_listener(Some(443), b"www.eu.example.com"), Some(2));
    assert_eq!(t.select_listener(Some(443), b"example.com"), Some(0));
    assert_eq!(t.select_listener(Some(80), b"api.example.com"), Some(4));
    assert_eq!(t.select_listener(Some(80), b"www.example.com"), None);
    assert_eq!(t.select_listener(Some(8443), b"api.example.com"), None);
}

#[test]
fn no_listener_means_404() {
    let t = table(vec![listener(Some("*.example.com"))], vec![], vec![]);
    let req = Request::new(b"example.org", b"/", b"GET", &NoHeaders).with_port(443);
    let err = t.route(&req, 0).unwrap_err();
    assert_eq!(err, NoRoute::NoListener);
    assert_eq!(
        (err.status().http_status, err.status().grpc_status),
        (404, 12)
    );
}

#[test]
fn route_hostnames_intersect_with_listener_hostname() {
    let t = table(
        vec![listener(Some("*.example.com"))],
        vec![
            HttpRouteSpec::new(
                meta("ns", "mixed", 1)
                    .hostname("test.example.com")
                    .hostname("test.example.net"),
                vec![http_rule(vec![], 1)],
            ),
            HttpRouteSpec::new(
                meta("ns", "outside", 1).hostname("example.com"),
                vec![http_rule(vec![], 2)],
            ),
            HttpRouteSpec::new(meta("ns", "inherit", 3), vec![http_rule(vec![], 3)]),
        ],
        vec![],
    );
    let on = |host: &str| {
        let req = Request::new(host.as_bytes(), b"/", b"GET", &NoHeaders);
        t.route(&req, 0).ok().map(|m| m.cluster.0)
    };
    assert_eq!(on("test.example.com"), Some(1));
    assert_eq!(on("test.example.com:443"), Some(1), "port ignored");
    assert_eq!(on("other.example.com"), Some(3));
    assert_eq!(
        on("a.b.example.com"),
        Some(3),
        "wildcard spans several labels"
    );
}

#[test]
fn exact_hostname_route_beats_wildcard_route_even_with_weaker_rule() {
    let t = table(
        vec![listener(None)],
        vec![
            HttpRouteSpec::new(
                meta("ns", "wild", 1).hostname("*.example.com"),
                vec![http_rule(vec![HttpMatchSpec::exact("/x")], 1)],
            ),
            HttpRouteSpec::new(
                meta("ns", "exact", 2).hostname("foo.example.com"),
                vec![http_rule(vec![HttpMatchSpec::prefix("/x")], 2)],
            ),
        ],
        vec![],
    );
    let on = |host: &str, path: &str| {
        let req = Request::new(host.as_bytes(), path.as_bytes(), b"GET", &NoHeaders);
        t.route(&req, 0).ok().map(|m| m.cluster.0)
    };
    assert_eq!(on("foo.example.com", "/x"), Some(2));
    assert_eq!(on("bar.example.com", "/x"), Some(1));
    // Falls back to the less specific hostname when the specific one has no matching rule.
    assert_eq!(on("foo.example.com", "/y"), None);
    assert_eq!(on("bar.example.com", "/x/y"), None);
}

#[test]
fn less_specific_hostname_is_a_fallback() {
    let t = table(
        vec![listener(None)],
        vec![
            HttpRouteSpec::new(
                meta("ns", "wild", 1).hostname("*.example.com"),
                vec![http_rule(vec![HttpMatchSpec::prefix("/y")], 1)],
            ),
            HttpRouteSpec::new(
                meta("ns", "exact", 2).hostname("foo.example.com"),
                vec![http_rule(vec![HttpMatchSpec::prefix("/x")], 2)],
            ),
            HttpRouteSpec::new(
                meta("ns", "any", 3),
                vec![http_rule(vec![HttpMatchSpec::prefix("/z")], 3)],
            ),
        ],
        vec![],
    );
    let on = |path: &str| {
        let req = Request::new(b"foo.example.com", path.as_bytes(), b"GET", &NoHeaders);
        t.route(&req, 0).ok().map(|m| m.cluster.0)
    };
    assert_eq!(on("/x"), Some(2));
    assert_eq!(on("/y"), Some(1));
    assert_eq!(on("/z"), Some(3));
}

#[test]
fn longer_wildcard_hostname_wins() {
    let t = table(
        vec![listener(None)],
        vec![
            HttpRouteSpec::new(
                meta("ns", "short", 1).hostname("*.example.com"),
                vec![http_rule(vec![], 1)],
            ),
            HttpRouteSpec::new(
                meta("ns", "long", 2).hostname("*.eu.example.com"),
                vec![http_rule(vec![], 2)],
            ),
        ],
        vec![],
    );
    let on = |host: &str| {
        let req = Request::new(host.as_bytes(), b"/", b"GET", &NoHeaders);
        t.route(&req, 0).ok().map(|m| m.cluster.0)
    };
    assert_eq!(on("a.eu.example.com"), Some(2));
    assert_eq!(on("a.us.example.com"), Some(1));
    assert_eq!(on("eu.example.com"), Some(1));
}

#[test]
fn original_route_hostname_breaks_identical_intersections() {
    // Both intersect to foo.example.com on this listener; the route that named it exactly wins
    // although it is newer (GatewayRouteHostnameIntersectionPrecedence).
    let t = table(
        vec![listener(Some("foo.example.com"))],
        vec![
            HttpRouteSpec::new(
                meta("ns", "wild", 1).hostname("*.example.com"),
                vec![http_rule(vec![], 1)],
            ),
            HttpRouteSpec::new(
                meta("ns", "exact", 2).hostname("foo.example.com"),
                vec![http_rule(vec![], 2)],
            ),
        ],
        vec![],
    );
    let req = Request::new(b"foo.example.com", b"/", b"GET", &NoHeaders);
    assert_eq!(t.route(&req, 0).unwrap().cluster.0, 2);
}

#[test]
fn parent_refs_select_listeners_by_section_and_port() {
    let mut by_section = RouteMeta::new("ns", "grpc-only", 1);
    by_section.parents.push(ParentRef {
        gateway: GW.into(),
        section_name: Some("grpc".into()),
        port: None,
    });
    let mut by_port = RouteMeta::new("ns", "port-80", 1);
    by_port.parents.push(ParentRef {
        gateway: GW.into(),
        section_name: None,
        port: Some(80),
    });
    let other_gw = RouteMeta::new("ns", "elsewhere", 0).parent("other/gw");
    let t = table(
        vec![
            ListenerSpec::new(GW, "grpc", 443, Some("grpc.example.com")),
            ListenerSpec::new(GW, "web", 443, Some("www.example.com")),
            ListenerSpec::new(GW, "plain", 80, None),
        ],
        vec![
            HttpRouteSpec::new(by_section, vec![http_rule(vec![], 1)]),
            HttpRouteSpec::new(by_port, vec![http_rule(vec![], 2)]),
            HttpRouteSpec::new(other_gw, vec![http_rule(vec![], 3)]),
        ],
        vec![],
    );
    let on = |host: &str, port: u16| {
        let req = Request::new(host.as_bytes(), b"/", b"GET", &NoHeaders).with_port(port);
        t.route(&req, 0).ok().map(|m| m.cluster.0)
    };
    assert_eq!(on("grpc.example.com", 443), Some(1));
    assert_eq!(on("www.example.com", 443), None);
    assert_eq!(on("www.example.com", 80), Some(2));
}

// ---------------------------------------------------------------- GRPCRoute

fn grpc_table(routes: Vec<GrpcRouteSpec>) -> RouteTable {
    table(vec![listener(None)], vec![], routes)
}

fn svc(s: &str) -> GrpcMatchSpec {
    GrpcMatchSpec::exact(Some(s), None)
}

fn svc_method(s: &str, m: &str) -> GrpcMatchSpec {
    GrpcMatchSpec::exact(Some(s), Some(m))
}

fn grpc_cluster(t: &RouteTable, path: &str, h: &[(&str, &str)]) -> Option<u32> {
    grpc_call(t, "example.com", path, h)
        .ok()
        .map(|m| m.cluster.0)
}

#[test]
fn grpc_service_and_method_beat_service_only() {
    let t = grpc_table(vec![
        GrpcRouteSpec::new(
            meta("ns", "svc", 1),
            vec![grpc_rule(vec![svc("product.ProductService")], 1)],
        ),
        GrpcRouteSpec::new(
            meta("ns", "method", 2),
            vec![grpc_rule(
                vec![svc_method("product.ProductService", "Get")],
                2,
            )],
        ),
    ]);
    assert_eq!(
        grpc_cluster(&t, "/product.ProductService/Get", &[]),
        Some(2)
    );
    assert_eq!(
        grpc_cluster(&t, "/product.ProductService/List", &[]),
        Some(1)
    );
    assert_eq!(grpc_cluster(&t, "/product.Other/Get", &[]), None);
}

#[test]
fn grpc_longer_service_wins_then_longer_method() {
    let t = grpc_table(vec![GrpcRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            grpc_rule(vec![GrpcMatchSpec::exact(None, Some("Get"))], 1),
            grpc_rule(vec![GrpcMatchSpec::regex(Some("product\\..*"), None)], 2),
            grpc_rule(
                vec![GrpcMatchSpec::regex(
                    Some("product\\.ProductService"),
                    Some("G.*"),
                )],
                3,
            ),
            grpc_rule(
                vec![GrpcMatchSpec::regex(
                    Some("product\\.ProductService"),
                    Some("Get|GetAll"),
                )],
                4,
            ),
        ],
    )]);
    // Rules 3 and 4 have the same service length; rule 4's method has more characters.
    assert_eq!(
        grpc_cluster(&t, "/product.ProductService/Get", &[]),
        Some(4)
    );
    assert_eq!(
        grpc_cluster(&t, "/product.ProductService/Gone", &[]),
        Some(3)
    );
    assert_eq!(
        grpc_cluster(&t, "/product.ProductService/List", &[]),
        Some(2)
    );
    assert_eq!(grpc_cluster(&t, "/other.Svc/Get", &[]), Some(1));
}

#[test]
fn grpc_method_only_match_and_header_count() {
    let t = grpc_table(vec![GrpcRouteSpec::new(
        meta("ns", "r", 1),
        vec![
            grpc_rule(vec![svc("a.S")], 1),
            grpc_rule(
                vec![svc("a.S").with_header(ValueMatchSpec::exact("x-canary", "1"))],
                2,
            ),
            grpc_rule(
                vec![
                    svc("a.S")
                        .with_header(ValueMatchSpec::exact("x-canary", "1"))
                        .with_header(ValueMatchSpec::exact("x-region", "eu")),
                ],
                3,
            ),
        ],
    )]);
    assert_eq!(
        grpc_cluster(&t, "/a.S/M", &[("x-canary", "1"), ("x-region", "eu")]),
        Some(3)
    );
    assert_eq!(grpc_cluster(&t, "/a.S/M", &[("x-canary", "1")]), Some(2));
    assert_eq!(grpc_cluster(&t, "/a.S/M", &[]), Some(1));
}

#[test]
fn grpc_ties_creation_then_name_then_rule_order() {
    let t = grpc_table(vec![
        GrpcRouteSpec::new(meta("ns", "b", 5), vec![grpc_rule(vec![svc("a.S")], 1)]),
        GrpcRouteSpec::new(
            meta("ns", "c", 3),
            vec![
                grpc_rule(vec![svc("a.S")], 2),
                grpc_rule(vec![svc("a.S")], 3),
            ],
        ),
        GrpcRouteSpec::new(
            meta("ns", "a", 3),
            vec![
                grpc_rule(vec![svc("x.S")], 4),
                grpc_rule(vec![svc("x.S")], 5),
            ],
        ),
    ]);
    assert_eq!(
        grpc_cluster(&t, "/a.S/M", &[]),
        Some(2),
        "older route c beats b"
    );
    assert_eq!(
        grpc_cluster(&t, "/x.S/M", &[]),
        Some(4),
        "first rule of route a"
    );
    let t = grpc_table(vec![
        GrpcRouteSpec::new(meta("ns", "b", 3), vec![grpc_rule(vec![svc("a.S")], 1)]),
        GrpcRouteSpec::new(meta("ns", "a", 3), vec![grpc_rule(vec![svc("a.S")], 2)]),
    ]);
    assert_eq!(
        grpc_cluster(&t, "/a.S/M", &[]),
        Some(2),
        "same age: ns/a before ns/b"
    );
}

#[test]
fn grpc_hostname_precedence() {
    let t = table(
        vec![listener(None)],
        vec![],
        vec![
            GrpcRouteSpec::new(
                meta("ns", "wild", 1).hostname("*.example.com"),
                vec![grpc_rule(vec![svc_method("a.S", "M")], 1)],
            ),
            GrpcRouteSpec::new(
                meta("ns", "exact", 2).hostname("grpc.example.com"),
                vec![grpc_rule(vec![], 2)],
            ),
            GrpcRouteSpec::new(
                meta("ns", "longwild", 3).hostname("*.eu.example.com"),
                vec![grpc_rule(vec![], 3)],
            ),
        ],
    );
    let on = |host: &str| grpc_call(&t, host, "/a.S/M", &[]).ok().map(|m| m.cluster.0);
    // Hostname criteria come before service/method characters.
    assert_eq!(on("grpc.example.com"), Some(2));
    assert_eq!(on("x.eu.example.com"), Some(3));
    assert_eq!(on("x.example.com"), Some(1));
}

#[test]
fn grpc_rule_without_matches_takes_every_grpc_request_only() {
    let t = table(
        vec![listener(None)],
        vec![HttpRouteSpec::new(
            meta("ns", "web", 1),
            vec![http_rule(vec![], 1)],
        )],
        vec![GrpcRouteSpec::new(
            meta("ns", "all", 2),
            vec![grpc_rule(vec![], 2)],
        )],
    );
    assert_eq!(grpc_cluster(&t, "/any.Svc/Any", &[]), Some(2));
    let m = grpc_call(&t, "example.com", "/not-grpc", &[]).unwrap();
    assert_eq!((m.kind, m.cluster.0), (RouteKind::Grpc, 2));
    assert_eq!(
        get(&t, "/any.Svc/Any"),
        Some(1),
        "plain HTTP never takes a GRPCRoute"
    );
}

#[test]
fn grpc_request_falls_back_to_httproute() {
    let t = table(
        vec![listener(None)],
        vec![HttpRouteSpec::new(
            meta("ns", "web", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/legacy.Svc")], 1)],
        )],
        vec![GrpcRouteSpec::new(
            meta("ns", "g", 1),
            vec![grpc_rule(vec![svc("product.ProductService")], 2)],
        )],
    );
    let m = grpc_call(&t, "example.com", "/legacy.Svc/Call", &[]).unwrap();
    assert_eq!((m.kind, m.cluster.0), (RouteKind::Http, 1));
    let err = grpc_call(&t, "example.com", "/unknown.Svc/Call", &[]).unwrap_err();
    assert!(matches!(err, NoRoute::NoMatch { .. }));
    assert_eq!(err.status().grpc_status, 12);
    assert_eq!(err.status().http_status, 404);
}

#[test]
fn grpc_exact_service_is_not_a_prefix() {
    let t = grpc_table(vec![GrpcRouteSpec::new(
        meta("ns", "r", 1),
        vec![grpc_rule(vec![svc("a.S")], 1)],
    )]);
    assert_eq!(grpc_cluster(&t, "/a.Sx/M", &[]), None);
    assert_eq!(grpc_cluster(&t, "/a.S/M/extra", &[]), None);
    assert_eq!(grpc_cluster(&t, "/a.S/", &[]), None);
    assert_eq!(grpc_cluster(&t, "/a.S/M?x=1", &[]), Some(1));
}

// ---------------------------------------------------------------- weighted split

fn split_table(weights: &[u32]) -> RouteTable {
    let backends = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("b{i}"), ClusterId(i as u32), w))
        .collect();
    http_table(vec![HttpRouteSpec::new(
        meta("ns", "split", 1),
        vec![HttpRuleSpec::new(vec![], backends)],
    )])
}

#[test]
fn weighted_split_is_deterministic_in_the_random_number() {
    let t = split_table(&[1, 0, 3]);
    let req = Request::new(b"example.com", b"/", b"GET", &NoHeaders);
    assert_eq!(t.route(&req, 0).unwrap().cluster.0, 0);
    assert_eq!(t.route(&req, u64::MAX).unwrap().cluster.0, 2);
    assert_eq!(t.route(&req, u64::MAX / 4 - 1).unwrap().cluster.0, 0);
    assert_eq!(t.route(&req, u64::MAX / 4 + 1).unwrap().cluster.0, 2);
    for i in 0..10_000u64 {
        let m = t
            .route(&req, i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .unwrap();
        assert_ne!(m.cluster.0, 1, "weight 0 is never picked");
        assert_eq!(m.backend, m.cluster.0 as usize);
    }
}

#[test]
fn weighted_split_within_statistical_bounds() {
    let weights = [90u32, 10, 0, 25];
    let total: u32 = weights.iter().sum();
    let t = split_table(&weights);
    let req = Request::new(b"example.com", b"/", b"GET", &NoHeaders);
    for seed in [1u64, 2, 3] {
        let mut rng = Rng::new(balance::worker_seed(seed));
        let n = 200_000;
        let mut counts = [0u64; 4];
        for _ in 0..n {
            counts[t.route(&req, rng.next_u64()).unwrap().cluster.0 as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        // Chi-square over the 3 non-zero cells (2 degrees of freedom): 99.9% quantile 13.8.
        let chi2: f64 = weights
            .iter()
            .zip(counts)
            .filter(|(w, _)| **w > 0)
            .map(|(&w, c)| {
                let e = n as f64 * f64::from(w) / f64::from(total);
                (c as f64 - e).powi(2) / e
            })
            .sum();
        assert!(chi2 < 13.8, "seed {seed}: chi2 {chi2} counts {counts:?}");
    }
}

#[test]
fn all_zero_weights_answer_500_or_unavailable() {
    let t = split_table(&[0, 0]);
    let req = Request::new(b"example.com", b"/", b"GET", &NoHeaders);
    let err = t.route(&req, 7).unwrap_err();
    assert!(matches!(err, NoRoute::NoBackend { rule: 0, .. }));
    assert_eq!(
        (err.status().http_status, err.status().grpc_status),
        (500, 14)
    );
    let no_backends = http_table(vec![HttpRouteSpec::new(
        meta("ns", "empty", 1),
        vec![HttpRuleSpec::new(vec![], vec![])],
    )]);
    assert!(matches!(
        no_backends.route(&req, 0),
        Err(NoRoute::NoBackend { .. })
    ));
}

#[test]
fn tables_and_clusters_are_shareable_and_closures_work_as_headers() {
    fn shareable<T: Send + Sync>() {}
    shareable::<RouteTable>();
    shareable::<Tables>();
    fn sendable<T: Send>() {}
    sendable::<balance::Balancer>();
    let t = http_table(vec![HttpRouteSpec::new(
        meta("ns", "r", 1),
        vec![http_rule(
            vec![HttpMatchSpec::prefix("/").with_header(ValueMatchSpec::exact("x-a", "1"))],
            1,
        )],
    )]);
    let stored: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"x-a".to_vec(), b"1".to_vec())];
    let lookup = HeaderFn::new(|name: &[u8]| {
        stored
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    });
    let req = Request::new(b"example.com", b"/", b"GET", &lookup);
    assert_eq!(t.route(&req, 0).unwrap().cluster.0, 1);
}

#[test]
fn is_grpc_decides_the_local_answer() {
    let grpc = [("content-type", "application/grpc+proto")];
    let web = [("content-type", "text/html")];
    assert!(Request::new(b"h", b"/", b"POST", &grpc).is_grpc());
    assert!(!Request::new(b"h", b"/", b"POST", &web).is_grpc());
    assert!(!Request::new(b"h", b"/", b"POST", &NoHeaders).is_grpc());
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_reports_listener_rule_reasons_cluster_and_hash_endpoint() {
    let t = table(
        vec![ListenerSpec::new(GW, "https", 443, Some("*.example.com"))],
        vec![HttpRouteSpec::new(
            meta("shop", "web", 1),
            vec![http_rule(vec![], 1)],
        )],
        vec![GrpcRouteSpec::new(
            meta("shop", "products", 2).hostname("grpc.example.com"),
            vec![GrpcRuleSpec {
                name: Some("get".into()),
                matches: vec![
                    svc_method("product.ProductService", "Get")
                        .with_header(ValueMatchSpec::exact("x-canary", "1")),
                ],
                backends: vec![
                    BackendSpec::new("products:50051", ClusterId(0), 90),
                    BackendSpec::new("products-canary:50051", ClusterId(1), 10),
                ],
            }],
        )],
    );
    let endpoints: Vec<EndpointSpec> = (0..4)
        .map(|i| EndpointSpec::new(format!("10.0.0.{i}:50051"), 1))
        .collect();
    let hashed = Arc::new(
        Tables::build(
            &ClusterSpec::new(
                "products",
                PolicySpec::ConsistentHash {
                    key: HashKeySpec::Header("x-user".into()),
                    algorithm: HashAlgorithm::maglev(),
                },
                endpoints.clone(),
            ),
            &Site::default(),
        )
        .unwrap(),
    );
    let rr = Arc::new(
        Tables::build(
            &ClusterSpec::new("canary", PolicySpec::RoundRobin, endpoints),
            &Site::default(),
        )
        .unwrap(),
    );
    let clusters = [hashed.clone(), rr];
    let h = [
        ("content-type", "application/grpc"),
        ("x-canary", "1"),
        ("x-user", "alice"),
    ];
    let req = Request::new(
        b"grpc.example.com:443",
        b"/product.ProductService/Get",
        b"POST",
        &h[..],
    )
    .with_source_ip("192.0.2.7".parse().unwrap());
    let ex = explain(
        &t,
        |c: ClusterId| clusters.get(c.0 as usize).map(|a| &**a),
        &req,
    );
    let m = ex.matched.as_ref().expect("matched");
    assert_eq!(
        (m.kind, m.route.as_str(), m.rule),
        (RouteKind::Grpc, "shop/products", 0)
    );
    assert!(
        m.why
            .iter()
            .any(|w| w == "service Exact product.ProductService"),
        "{:?}",
        m.why
    );
    assert!(m.why.iter().any(|w| w.contains("x-canary")));
    assert!(ex.listener.as_deref().unwrap().contains("edge/gw/https"));
    assert_eq!(
        ex.also_matched.len(),
        1,
        "the HTTPRoute catch-all also matched"
    );
    assert_eq!(ex.backends.len(), 2);
    assert!((ex.backends[0].share - 90.0).abs() < 1e-9);
    let hash = ex.backends[0].hash.as_ref().expect("hash policy");
    let (index, id) = hash.endpoint.clone().expect("key present");
    // The same key on a worker balancer lands on the same endpoint.
    let mut worker = balance::Balancer::new(hashed, 42);
    assert_eq!(worker.pick(&req).unwrap().endpoint, index);
    let text = ex.to_string();
    for needle in [
        "listener  edge/gw/https",
        "GRPCRoute shop/products rules[0] (get)",
        "x-user",
        &id,
        "ROUND_ROBIN",
        "maglev",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn explain_without_a_match_lists_attached_routes_and_the_answer() {
    let t = table(
        vec![listener(None)],
        vec![HttpRouteSpec::new(
            meta("ns", "api", 1),
            vec![http_rule(vec![HttpMatchSpec::prefix("/api")], 0)],
        )],
        vec![],
    );
    let req = Request::new(b"example.com", b"/nope", b"GET", &NoHeaders);
    let ex = explain(&t, |_| None, &req);
    assert!(ex.matched.is_none());
    assert_eq!(ex.attached.len(), 1);
    let text = ex.to_string();
    assert!(text.contains("no rule matches"), "{text}");
    assert!(text.contains("HTTP 404 / grpc-status 12"), "{text}");
}
