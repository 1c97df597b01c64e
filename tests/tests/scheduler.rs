//! Integration tests of `kube-scheduler` (DESIGN.md §6, issue #6) against a real apiserver and
//! etcd: Node objects are created through the API (Ready condition, allocatable, labels,
//! taints), pods are created with kube-rs, and our `kube-scheduler` binary binds them.
//!
//! Scenarios, one control plane each:
//!
//! 1. pods are bound to fitting nodes, with `Scheduled` events and `PodScheduled=True`;
//! 2. a node that fits three pods gets exactly three when ten are created at once (assumed
//!    pods are honoured); the rest report upstream's message and are bound once a node is
//!    added;
//! 3. an unschedulable pod gets `PodScheduled=False/Unschedulable` with upstream's message and a
//!    `FailedScheduling` event, then is scheduled when a fitting node is added;
//! 4. nodeSelector, required affinity (In, NotIn, Exists, DoesNotExist, Gt, Lt), taints and
//!    tolerations, not-ready and cordoned nodes, host ports;
//! 5. a ReplicaSet's pods spread across nodes where lone pods would pile onto the emptiest;
//! 6. two schedulers with leader election: only the leader binds; killing it hands over within
//!    20 s;
//! 7. odd pods (other scheduler, preset node, deleted or bound behind its back) never crash it.
//!
//! Needs the binaries built first: `cargo build -p tinykube-scheduler -p tinykube-apiserver --bins`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{json, Value};
use tinykube_tests::apiserver::start_control_plane;
use tinykube_tests::{
    eventually, free_port, http_get, wait_for_healthz, ControlPlane, Launch, Process,
};

/// Bound on every wait for the scheduler to act.
const WAIT: Duration = Duration::from_secs(30);

fn client(cp: &ControlPlane) -> kube::Client {
    let config = kube::Config::new(cp.url().parse().expect("apiserver url"));
    kube::Client::try_from(config).expect("kube client")
}

/// Starts our kube-scheduler against `cp`; returns once its /healthz answers.
async fn start_scheduler(cp: &ControlPlane, extra: &[&str]) -> (Process, u16) {
    let port = free_port().expect("free port");
    let kubeconfig = cp.kubeconfig();
    let process = Launch::binary("kube-scheduler")
        .expect("kube-scheduler is built")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--bind-address", "127.0.0.1"])
        .args(["--secure-port", &port.to_string()])
        .args(extra)
        .env("RUST_LOG", "info,tinykube_scheduler=debug")
        .spawn()
        .expect("start kube-scheduler");
    wait_for_healthz(&format!("http://127.0.0.1:{port}/healthz"), WAIT)
        .await
        .unwrap_or_else(|e| panic!("kube-scheduler /healthz: {e}\n{}", process.log()));
    (process, port)
}

struct NodeSpec<'a> {
    name: &'a str,
    cpu: &'a str,
    memory: &'a str,
    pods: &'a str,
    labels: Value,
    taints: Value,
    ready: &'a str,
    unschedulable: bool,
}

impl<'a> NodeSpec<'a> {
    fn new(name: &'a str) -> NodeSpec<'a> {
        NodeSpec {
            name,
            cpu: "4",
            memory: "16Gi",
            pods: "110",
            labels: json!({}),
            taints: json!([]),
            ready: "True",
            unschedulable: false,
        }
    }
}

async fn create_node(client: &kube::Client, spec: NodeSpec<'_>) -> Node {
    let mut labels = spec.labels.clone();
    labels["kubernetes.io/hostname"] = json!(spec.name);
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {"taints": spec.taints, "unschedulable": spec.unschedulable},
        "status": {
            "capacity": {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods},
            "allocatable": {"cpu": spec.cpu, "memory": spec.memory, "pods": spec.pods},
            "conditions": [{"type": "Ready", "status": spec.ready, "reason": "KubeletReady",
                             "message": "kubelet is posting ready status"}],
        },
    }))
    .expect("node json");
    Api::<Node>::all(client.clone())
        .create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("create node {}: {e}", spec.name))
}

/// A pod with one container requesting `cpu`/`memory` (when given), plus `extra` merged into
/// its spec.
fn pod(name: &str, cpu: Option<&str>, memory: Option<&str>, extra: Value) -> Pod {
    let mut requests = serde_json::Map::new();
    if let Some(cpu) = cpu {
        requests.insert("cpu".into(), json!(cpu));
    }
    if let Some(memory) = memory {
        requests.insert("memory".into(), json!(memory));
    }
    let mut value = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": requests}}]},
    });
    if let Value::Object(fields) = extra {
        for (k, v) in fields {
            if k == "metadata" {
                if let Value::Object(meta) = v {
                    for (mk, mv) in meta {
                        value["metadata"][mk] = mv;
                    }
                }
            } else if k == "container" {
                if let Value::Object(c) = v {
                    for (ck, cv) in c {
                        value["spec"]["containers"][0][ck] = cv;
                    }
                }
            } else {
                value["spec"][k] = v;
            }
        }
    }
    serde_json::from_value(value).expect("pod json")
}

async fn create_pod(pods: &Api<Pod>, pod: &Pod) {
    pods.create(&PostParams::default(), pod)
        .await
        .unwrap_or_else(|e| panic!("create pod {:?}: {e}", pod.metadata.name));
}

fn node_of(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .filter(|n| !n.is_empty())
}

/// Waits until pod `name` is bound; returns its node.
async fn wait_bound(pods: &Api<Pod>, name: &str, scheduler: &Process) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let current = pods.get(name).await.expect("get pod");
        if let Some(node) = node_of(&current) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} not bound after {WAIT:?}: {:?}\nscheduler log:\n{}",
            current.status,
            scheduler.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The PodScheduled condition of pod `name` as (status, reason, message).
async fn scheduled_condition(pods: &Api<Pod>, name: &str) -> Option<(String, String, String)> {
    let pod = pods.get(name).await.ok()?;
    pod.status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| {
            (
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default(),
            )
        })
}

/// Waits until pod `name` is reported unschedulable; returns the message.
async fn wait_unschedulable(pods: &Api<Pod>, name: &str, scheduler: &Process) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((status, reason, message)) = scheduled_condition(pods, name).await {
            if status == "False" {
                assert_eq!(reason, "Unschedulable");
                return message;
            }
        }
        assert!(
            Instant::now() < deadline,
            "pod {name} not marked unschedulable after {WAIT:?}\nscheduler log:\n{}",
            scheduler.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events about pod `name` with `reason`.
async fn events_for(client: &kube::Client, name: &str, reason: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let list = events
        .list(&ListParams::default())
        .await
        .expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

async fn wait_event(client: &kube::Client, name: &str, reason: &str) -> Event {
    eventually(&format!("a {reason} event for {name}"), WAIT, || async {
        events_for(client, name, reason).await.into_iter().next()
    })
    .await
}

/// Every pod's node, by pod name.
async fn placements(pods: &Api<Pod>) -> BTreeMap<String, Option<String>> {
    pods.list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), node_of(&p)))
        .collect()
}

#[tokio::test]
async fn pods_are_bound_to_fitting_nodes_with_events() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(
        &client,
        NodeSpec {
            cpu: "500m",
            ..NodeSpec::new("small")
        },
    )
    .await;
    create_node(&client, NodeSpec::new("big")).await;
    let (scheduler, port) = start_scheduler(&cp, &[]).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pod(
        &pods,
        &pod("needs-two-cpus", Some("2"), Some("1Gi"), json!({})),
    )
    .await;
    create_pod(&pods, &pod("tiny", Some("10m"), None, json!({}))).await;
    create_pod(&pods, &pod("no-requests", None, None, json!({}))).await;

    assert_eq!(wait_bound(&pods, "needs-two-cpus", &scheduler).await, "big");
    for name in ["tiny", "no-requests"] {
        let node = wait_bound(&pods, name, &scheduler).await;
        assert!(node == "big" || node == "small", "{name} on {node}");
    }
    // The apiserver sets PodScheduled=True on binding; the scheduler says so in an event.
    let (status, _, _) = scheduled_condition(&pods, "needs-two-cpus").await.unwrap();
    assert_eq!(status, "True");
    let event = wait_event(&client, "needs-two-cpus", "Scheduled").await;
    assert_eq!(
        event.message.as_deref(),
        Some("Successfully assigned default/needs-two-cpus to big")
    );
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(
        event.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );

    // Health and metrics are served.
    let health = http_get(
        &format!("http://127.0.0.1:{port}/readyz"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(health.status, 200, "{}", health.body);
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let scheduled =
        "scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 3";
    let metrics = eventually("three scheduled attempts in /metrics", WAIT, || async {
        let metrics = http_get(&metrics_url, Duration::from_secs(5)).await.ok()?;
        metrics.body.contains(scheduled).then_some(metrics)
    })
    .await;
    assert!(metrics
        .body
        .contains("leader_election_master_status{name=\"kube-system/kube-scheduler\"} 1"));
}

#[tokio::test]
async fn a_node_gets_no_more_pods_than_fit_and_the_rest_wait_for_room() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    // 1 cpu: three pods of 300m fit, a fourth does not.
    create_node(
        &client,
        NodeSpec {
            cpu: "1",
            ..NodeSpec::new("one-cpu")
        },
    )
    .await;
    let (scheduler, _) = start_scheduler(&cp, &[]).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let creates = (0..10).map(|i| {
        let pods = pods.clone();
        async move { create_pod(&pods, &pod(&format!("p{i}"), Some("300m"), None, json!({}))).await }
    });
    futures::future::join_all(creates).await;

    // Wait until every pod is either bound or reported unschedulable.
    let expected = "0/1 nodes are available: 1 Insufficient cpu.";
    eventually("all ten pods decided", WAIT, || async {
        let mut decided = 0;
        for i in 0..10 {
            let name = format!("p{i}");
            let pod = pods.get(&name).await.ok()?;
            let unschedulable = scheduled_condition(&pods, &name)
                .await
                .is_some_and(|(status, _, message)| status == "False" && message == expected);
            if node_of(&pod).is_some() || unschedulable {
                decided += 1;
            }
        }
        (decided == 10).then_some(())
    })
    .await;
    // Give any stray (wrong) binding a moment to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bound: Vec<String> = placements(&pods)
        .await
        .into_iter()
        .filter_map(|(name, node)| node.map(|_| name))
        .collect();
    assert_eq!(
        bound.len(),
        3,
        "exactly three fit on one cpu: {bound:?}\n{}",
        scheduler.log_tail()
    );
    let waiting = (0..10)
        .map(|i| format!("p{i}"))
        .find(|n| !bound.contains(n))
        .unwrap();
    wait_event(&client, &waiting, "FailedScheduling").await;

    // A bigger node appears: the seven others are bound there.
    create_node(
        &client,
        NodeSpec {
            cpu: "4",
            ..NodeSpec::new("four-cpus")
        },
    )
    .await;
    for i in 0..10 {
        wait_bound(&pods, &format!("p{i}"), &scheduler).await;
    }
    let counts = placements(&pods).await.into_values().flatten().fold(
        BTreeMap::<String, usize>::new(),
        |mut counts, node| {
            *counts.entry(node).or_default() += 1;
            counts
        },
    );
    assert_eq!(counts.get("one-cpu"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("four-cpus"), Some(&7), "{counts:?}");
}

#[tokio::test]
async fn unschedulable_pods_get_upstream_condition_and_event_then_schedule() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(
        &client,
        NodeSpec {
            cpu: "500m",
            ..NodeSpec::new("n1")
        },
    )
    .await;
    for name in ["n2", "n3"] {
        create_node(
            &client,
            NodeSpec {
                taints: json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
                ..NodeSpec::new(name)
            },
        )
        .await;
    }
    let (scheduler, _) = start_scheduler(&cp, &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pod(&pods, &pod("big", Some("1"), None, json!({}))).await;

    let message = wait_unschedulable(&pods, "big", &scheduler).await;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: db}."
    );
    let event = wait_event(&client, "big", "FailedScheduling").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.message.as_deref(), Some(message.as_str()));
    assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(
        event.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );
    // kubectl describe shows it the upstream way.
    let describe = cp.kubectl(&["describe", "pod", "big"]).await.unwrap();
    assert!(
        describe.stdout.contains("FailedScheduling"),
        "{}",
        describe.stdout
    );

    // A node that fits is added: the pod is scheduled there.
    create_node(&client, NodeSpec::new("n4")).await;
    assert_eq!(wait_bound(&pods, "big", &scheduler).await, "n4");
    wait_event(&client, "big", "Scheduled").await;
    let (status, _, _) = scheduled_condition(&pods, "big").await.unwrap();
    assert_eq!(status, "True");
}

#[tokio::test]
async fn node_selectors_affinity_taints_and_ports_are_respected() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(
        &client,
        NodeSpec {
            labels: json!({"disk": "ssd", "zone": "a", "cores": "8"}),
            ..NodeSpec::new("ssd")
        },
    )
    .await;
    create_node(
        &client,
        NodeSpec {
            labels: json!({"disk": "hdd", "zone": "b", "cores": "2"}),
            ..NodeSpec::new("hdd")
        },
    )
    .await;
    create_node(
        &client,
        NodeSpec {
            labels: json!({"disk": "ssd"}),
            taints: json!([{"key": "gpu", "value": "true", "effect": "NoSchedule"}]),
            ..NodeSpec::new("gpu")
        },
    )
    .await;
    create_node(
        &client,
        NodeSpec {
            ready: "False",
            ..NodeSpec::new("not-ready")
        },
    )
    .await;
    create_node(
        &client,
        NodeSpec {
            unschedulable: true,
            ..NodeSpec::new("cordoned")
        },
    )
    .await;
    let (scheduler, _) = start_scheduler(&cp, &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    let required = |expressions: Value| {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}})
    };
    let gpu_toleration =
        json!([{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]);
    // (pod, spec additions, expected node)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "selector-ssd",
            json!({"nodeSelector": {"disk": "ssd"}}),
            "ssd",
        ),
        (
            "in-hdd",
            required(json!([{"key": "disk", "operator": "In", "values": ["hdd"]}])),
            "hdd",
        ),
        (
            "notin-ssd",
            required(json!([{"key": "disk", "operator": "NotIn", "values": ["ssd"]}])),
            "hdd",
        ),
        (
            "gt-4-cores",
            required(json!([{"key": "cores", "operator": "Gt", "values": ["4"]}])),
            "ssd",
        ),
        (
            "lt-4-cores",
            required(json!([{"key": "cores", "operator": "Lt", "values": ["4"]}])),
            "hdd",
        ),
        (
            "exists-zone-b",
            required(
                json!([{"key": "zone", "operator": "Exists"}, {"key": "zone", "operator": "In", "values": ["b"]}]),
            ),
            "hdd",
        ),
        (
            // No zone label: gpu (tolerated), not-ready and cordoned (both excluded).
            "no-zone-tolerating-gpu",
            {
                let mut spec = required(json!([{"key": "zone", "operator": "DoesNotExist"}]));
                spec["tolerations"] = gpu_toleration.clone();
                spec
            },
            "gpu",
        ),
        (
            "prefers-zone-a",
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}}),
            "ssd",
        ),
        (
            "tolerates-not-ready",
            json!({"nodeSelector": {"kubernetes.io/hostname": "not-ready"},
                   "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}]}),
            "not-ready",
        ),
        (
            "tolerates-cordon",
            json!({"nodeSelector": {"kubernetes.io/hostname": "cordoned"},
                   "tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}),
            "cordoned",
        ),
        (
            "port-8080",
            json!({"nodeSelector": {"disk": "hdd"}, "container": {"ports": [{"containerPort": 80, "hostPort": 8080}]}}),
            "hdd",
        ),
    ];
    for (name, extra, _) in &cases {
        create_pod(&pods, &pod(name, Some("100m"), None, extra.clone())).await;
    }
    for (name, _, expected) in &cases {
        assert_eq!(
            &wait_bound(&pods, name, &scheduler).await,
            expected,
            "pod {name}"
        );
    }

    // The same host port again on the same node: every node is out, each for its reason.
    create_pod(
        &pods,
        &pod(
            "port-8080-again",
            Some("100m"),
            None,
            json!({"nodeSelector": {"disk": "hdd"}, "container": {"ports": [{"containerPort": 80, "hostPort": 8080}]}}),
        ),
    )
    .await;
    let message = wait_unschedulable(&pods, "port-8080-again", &scheduler).await;
    assert_eq!(
        message,
        "0/5 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, \
         1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) had untolerated taint {gpu: true}, \
         1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, \
         1 node(s) were unschedulable."
    );
    // Freeing the port (deleting the pod that holds it) lets it in.
    pods.delete("port-8080", &DeleteParams::default().grace_period(0))
        .await
        .expect("delete port-8080");
    assert_eq!(
        wait_bound(&pods, "port-8080-again", &scheduler).await,
        "hdd"
    );
}

#[tokio::test]
async fn replicaset_pods_spread_across_nodes() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    // One big node that least-allocated scoring prefers, and two small ones.
    create_node(
        &client,
        NodeSpec {
            cpu: "64",
            memory: "256Gi",
            ..NodeSpec::new("big")
        },
    )
    .await;
    create_node(&client, NodeSpec::new("small-1")).await;
    create_node(&client, NodeSpec::new("small-2")).await;
    let (scheduler, _) = start_scheduler(&cp, &[]).await;

    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }))
    .unwrap();
    let rs = replicasets
        .create(&PostParams::default(), &rs)
        .await
        .expect("create rs");
    let owner = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                        "uid": rs.metadata.uid.clone().unwrap(), "controller": true}]);

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..6 {
        let extra =
            json!({"metadata": {"labels": {"app": "web"}, "ownerReferences": owner.clone()}});
        create_pod(
            &pods,
            &pod(&format!("web-{i}"), Some("100m"), Some("256Mi"), extra),
        )
        .await;
    }
    // Lone pods (no ReplicaSet) of the same size, for contrast.
    for i in 0..6 {
        create_pod(
            &pods,
            &pod(&format!("lone-{i}"), Some("100m"), Some("256Mi"), json!({})),
        )
        .await;
    }
    let mut web = BTreeMap::<String, usize>::new();
    let mut lone = BTreeMap::<String, usize>::new();
    for i in 0..6 {
        *web.entry(wait_bound(&pods, &format!("web-{i}"), &scheduler).await)
            .or_default() += 1;
        *lone
            .entry(wait_bound(&pods, &format!("lone-{i}"), &scheduler).await)
            .or_default() += 1;
    }
    assert_eq!(
        web,
        BTreeMap::from([
            ("big".into(), 2),
            ("small-1".into(), 2),
            ("small-2".into(), 2)
        ]),
        "a ReplicaSet's pods spread evenly"
    );
    assert_eq!(
        lone,
        BTreeMap::from([("big".into(), 6)]),
        "lone pods go to the least allocated node"
    );
}

/// The Lease's holder, if any.
async fn lease_holder(client: &kube::Client) -> Option<(String, i32)> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let lease = leases.get_opt("kube-scheduler").await.ok()??;
    let spec = lease.spec?;
    let holder = spec.holder_identity.filter(|h| !h.is_empty())?;
    Some((holder, spec.lease_transitions.unwrap_or(0)))
}

#[tokio::test]
async fn two_schedulers_elect_one_leader_and_hand_over_when_it_dies() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(&client, NodeSpec::new("n1")).await;
    create_node(&client, NodeSpec::new("n2")).await;

    let (mut first, _) = start_scheduler(&cp, &[]).await;
    let (first_id, transitions) =
        eventually("the first scheduler to hold the lease", WAIT, || async {
            lease_holder(&client).await
        })
        .await;
    assert_eq!(transitions, 0);
    let (second, second_port) = start_scheduler(&cp, &[]).await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..5 {
        create_pod(&pods, &pod(&format!("a{i}"), Some("100m"), None, json!({}))).await;
    }
    for i in 0..5 {
        wait_bound(&pods, &format!("a{i}"), &first).await;
    }
    // Only the leader scheduled; the standby is healthy and waiting.
    let holder = lease_holder(&client).await.map(|(h, _)| h);
    assert_eq!(holder.as_deref(), Some(first_id.as_str()));
    assert!(
        first.log().contains("assumed pod on node"),
        "{}",
        first.log()
    );
    assert!(
        !second.log().contains("assumed pod on node"),
        "standby scheduled:\n{}",
        second.log()
    );
    assert!(
        !second.log().contains("successfully acquired lease"),
        "{}",
        second.log()
    );
    let ready = http_get(
        &format!("http://127.0.0.1:{second_port}/healthz"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(ready.status, 200);

    // The leader dies without releasing the lease; the standby takes over within 20 s.
    let killed_at = Instant::now();
    first.signal("KILL");
    first
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("leader exits");
    create_pod(&pods, &pod("after-failover", Some("100m"), None, json!({}))).await;
    let (new_id, transitions) = eventually(
        "the standby to take the lease",
        Duration::from_secs(25),
        || async { lease_holder(&client).await.filter(|(h, _)| *h != first_id) },
    )
    .await;
    wait_bound(&pods, "after-failover", &second).await;
    let took = killed_at.elapsed();
    assert!(took < Duration::from_secs(20), "takeover took {took:?}");
    assert_eq!(transitions, 1);
    assert!(
        second.log().contains("successfully acquired lease"),
        "{}",
        second.log()
    );
    assert!(second.log().contains(&new_id), "{}", second.log());
}

#[tokio::test]
async fn odd_pods_and_failed_bindings_never_crash_the_scheduler() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(&client, NodeSpec::new("n1")).await;
    create_node(&client, NodeSpec::new("n2")).await;
    // Without leader election: it schedules at once, no Lease involved.
    let (mut scheduler, port) = start_scheduler(&cp, &["--leader-elect=false"]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // Not ours: another scheduler's pod stays pending and untouched.
    create_pod(
        &pods,
        &pod(
            "other",
            None,
            None,
            json!({"schedulerName": "other-scheduler"}),
        ),
    )
    .await;
    // Not ours either: a pod created with its node already set (even an unknown one).
    create_pod(
        &pods,
        &pod("preset", None, None, json!({"nodeName": "nowhere"})),
    )
    .await;
    // Odd but valid: huge requests, exotic tolerations, an extended resource nobody has.
    create_pod(&pods, &pod("huge", Some("1e3"), Some("1Pi"), json!({}))).await;
    create_pod(
        &pods,
        &pod(
            "tolerates-all",
            None,
            None,
            json!({"tolerations": [{"operator": "Exists"}]}),
        ),
    )
    .await;
    create_pod(
        &pods,
        &pod("gpu", None, None, json!({"container": {"resources": {"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "1"}}}})),
    )
    .await;
    // Deleted as soon as created: the binding may find it gone.
    for i in 0..5 {
        let name = format!("gone-{i}");
        create_pod(&pods, &pod(&name, None, None, json!({}))).await;
        let _ = pods
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
    }
    // Bound behind the scheduler's back (a racing binding): it must keep ours.
    for i in 0..5 {
        let name = format!("raced-{i}");
        create_pod(&pods, &pod(&name, None, None, json!({}))).await;
        let binding = json!({"apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name}, "target": {"apiVersion": "v1", "kind": "Node", "name": "n2"}});
        let _ = cp
            .request(
                "POST",
                &format!("/api/v1/namespaces/default/pods/{name}/binding"),
                &[("Content-Type", "application/json")],
                binding.to_string().as_bytes(),
            )
            .await;
    }

    assert!(wait_bound(&pods, "tolerates-all", &scheduler)
        .await
        .starts_with('n'));
    let huge = wait_unschedulable(&pods, "huge", &scheduler).await;
    assert_eq!(
        huge,
        "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory."
    );
    let gpu = wait_unschedulable(&pods, "gpu", &scheduler).await;
    assert_eq!(
        gpu,
        "0/2 nodes are available: 2 Insufficient example.com/gpu."
    );
    for i in 0..5 {
        let name = format!("raced-{i}");
        let node = wait_bound(&pods, &name, &scheduler).await;
        // Whoever bound first won; the other got a conflict and let go.
        assert!(node == "n1" || node == "n2", "{name} on {node}");
    }
    // The other scheduler's pod and the preset one were left alone.
    let other = pods.get("other").await.unwrap();
    assert_eq!(node_of(&other), None);
    assert!(scheduled_condition(&pods, "other").await.is_none());
    assert!(events_for(&client, "other", "FailedScheduling")
        .await
        .is_empty());
    assert_eq!(
        node_of(&pods.get("preset").await.unwrap()).as_deref(),
        Some("nowhere")
    );

    // Deleting an unschedulable pod just drops it; scheduling goes on.
    pods.delete("huge", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    create_pod(&pods, &pod("still-working", Some("100m"), None, json!({}))).await;
    wait_bound(&pods, "still-working", &scheduler).await;
    assert!(scheduler.is_running(), "{}", scheduler.log());
    let health = http_get(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(health.status, 200);
    assert!(!scheduler.log().contains("panicked"), "{}", scheduler.log());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    assert!(leases.get_opt("kube-scheduler").await.unwrap().is_none());
}

#[tokio::test]
async fn a_stopped_leader_releases_the_lease_and_a_robbed_one_stops() {
    let cp = start_control_plane().await;
    let client = client(&cp);
    create_node(&client, NodeSpec::new("n1")).await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");

    // SIGTERM: the leader stops cleanly and releases the lease, so the standby takes over
    // at its next retry instead of after the whole lease duration.
    let (mut first, _) = start_scheduler(&cp, &[]).await;
    let (first_id, _) = eventually("the first scheduler to lead", WAIT, || async {
        lease_holder(&client).await
    })
    .await;
    let (mut second, _) = start_scheduler(&cp, &[]).await;
    let stopped_at = Instant::now();
    first.signal("TERM");
    let status = first
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("leader exits on SIGTERM");
    assert!(status.success(), "{status:?}\n{}", first.log());
    assert!(
        first.log().contains("released the leader lease"),
        "{}",
        first.log()
    );
    let (second_id, transitions) = eventually("the standby to lead", WAIT, || async {
        lease_holder(&client).await.filter(|(h, _)| *h != first_id)
    })
    .await;
    let took = stopped_at.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "handover after release took {took:?}"
    );
    assert_eq!(transitions, 1);

    // Someone else writes the lease as its holder: the leader notices at its next renewal,
    // stops scheduling and exits with an error, as upstream's scheduler does.
    let mut lease = leases.get("kube-scheduler").await.expect("lease");
    let spec = lease.spec.as_mut().expect("lease spec");
    spec.holder_identity = Some("intruder".into());
    spec.renew_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    spec.lease_duration_seconds = Some(60);
    leases
        .replace("kube-scheduler", &PostParams::default(), &lease)
        .await
        .expect("steal the lease");
    let status = second
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("a robbed leader exits");
    assert!(!status.success(), "{status:?}");
    let log = second.log();
    assert!(log.contains("leader election lost"), "{log}");
    assert!(log.contains(&second_id), "{log}");
    // Nobody schedules now.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pod(&pods, &pod("orphan", None, None, json!({}))).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(node_of(&pods.get("orphan").await.unwrap()), None);
}
