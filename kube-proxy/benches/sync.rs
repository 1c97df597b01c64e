//! `make bench`: how long kube-proxy takes to render and apply its rules for 1,000 and 10,000
//! Services with 2 endpoints each, inside a network namespace this benchmark creates (and
//! removes, also on failure). Needs root; prints one line per measurement.
//!
//! - render: `build_model` + `render_model` only (pure).
//! - full sync: the first sync of an empty namespace (jumps, `iptables-save`, one restore).
//! - add one service: one more Service on top, the next sync (a partial one: the fixed chains
//!   and the new service's chains).
//! - unchanged: a sync with nothing changed (no restore at all).
//! - forced resync: the periodic full sync over the existing rules (everything rewritten).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use tinykube_kube_proxy::render::{build_model, render_model};
use tinykube_kube_proxy::{Iptables, NodeContext, Proxier, SyncOutcome};

fn objects(i: usize) -> (Service, EndpointSlice) {
    let ip = format!("10.{}.{}.{}", 96 + (i >> 16), (i >> 8) & 255, i & 255);
    let svc = serde_json::from_value(json!({
        "metadata": {"namespace": "bench", "name": format!("svc-{i}")},
        "spec": {"clusterIP": ip, "type": "NodePort", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30000 + (i % 2768)}]},
    }))
    .expect("service");
    let slice = serde_json::from_value(json!({
        "metadata": {"namespace": "bench", "name": format!("svc-{i}-x"), "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [format!("10.244.{}.{}", (i >> 6) & 255, (i & 63) * 2 + 1)]},
            {"addresses": [format!("10.244.{}.{}", (i >> 6) & 255, (i & 63) * 2 + 2)]},
        ],
    }))
    .expect("slice");
    (svc, slice)
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !nix_is_root() {
        eprintln!("kube-proxy bench: needs root (network namespaces, iptables)");
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let node = NodeContext {
        node_name: "bench".into(),
        cluster_cidr: Some("10.244.0.0/16".into()),
        ..Default::default()
    };
    for n in [1_000usize, 10_000] {
        let name = format!("tkbench-{}-{n}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let ns = Netns(name.clone());
        let (mut services, mut slices): (Vec<Service>, Vec<EndpointSlice>) =
            (0..n).map(objects).unzip();

        let started = Instant::now();
        let ruleset = render_model(&build_model(&services, &slices), &node);
        let render = started.elapsed();
        let rules = ruleset.rule_count();

        let mut proxier = Proxier::new(Iptables::in_netns(&ns.0), node.clone());
        let started = Instant::now();
        let outcome = runtime
            .block_on(proxier.sync(&services, &slices, true))
            .expect("full sync");
        assert_eq!(outcome, SyncOutcome::Full, "full sync");
        let full = started.elapsed();

        let (svc, slice) = objects(n);
        services.push(svc);
        slices.push(slice);
        let started = Instant::now();
        let outcome = runtime
            .block_on(proxier.sync(&services, &slices, false))
            .expect("sync with one added service");
        assert_eq!(outcome, SyncOutcome::Partial, "sync with one added service");
        let add_one = started.elapsed();

        let started = Instant::now();
        let outcome = runtime
            .block_on(proxier.sync(&services, &slices, false))
            .expect("unchanged sync");
        assert_eq!(outcome, SyncOutcome::Unchanged, "unchanged sync");
        let unchanged = started.elapsed();

        let started = Instant::now();
        let outcome = runtime
            .block_on(proxier.sync(&services, &slices, true))
            .expect("forced resync");
        assert_eq!(outcome, SyncOutcome::Full, "forced resync");
        let resync = started.elapsed();

        println!(
            "kube-proxy/{n} services x 2 endpoints ({rules} rules): render {}, full sync {}, add one service {}, unchanged {}, forced resync {}",
            ms(render),
            ms(full),
            ms(add_one),
            ms(unchanged),
            ms(resync)
        );
        drop(ns);
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
