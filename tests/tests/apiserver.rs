//! Integration tests of `kube-apiserver` (DESIGN.md §2, §4, §5, §12).
//!
//! Every test starts its own etcd and apiserver on free loopback ports (see
//! [`tinykube_tests::ControlPlane`]), writes a kubeconfig for them and drives the real kubectl
//! (`/usr/bin/kubectl`), kube-rs (typed reads, watches), raw HTTP (requests kubectl does not make)
//! and etcd-client (to look at what is stored). The assertions are upstream Kubernetes'
//! behaviour: paths, status codes, `Status` bodies, kubectl's output.
//!
//! The scenarios, one cluster each:
//!
//! 1. discovery (`kubectl api-resources`, `api-versions`, `version`, `get all`) and health;
//! 2. the storage contract: etcd keys, resourceVersion = mod_revision, AlreadyExists, Conflict;
//! 3. label and field selectors, paging with limit/continue;
//! 4. server-side printing: upstream's table columns;
//! 5. writes: apply, scale, label, annotate, set image, patch (3 types), delete, Service IPs;
//! 6. watches: order, resume, selectors, `kubectl get -w`, 410 Expired after compaction;
//! 7. subresources: status, binding, graceful deletion;
//! 8. bad input: clear 4xx (400, 404, 405, 413, 415, 422), no crash, nothing lost;
//! 9. kubectl's imperative `create` generators (typed clients, protobuf bodies).
//!
//! Needs the binaries built first: `cargo build --workspace --bins`.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, WatchParams};
use kube::core::WatchEvent;
use serde_json::{json, Value};
use tinykube_tests::apiserver::{
    describe_output, kubectl_fails, kubectl_ok, run_kubectl, start_control_plane,
};
use tinykube_tests::{eventually, http_get, ControlPlane, HttpResponse, Launch, KUBECTL};

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// How long to wait for one watch event (or one line of `kubectl get -w`).
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// `kubectl get ... -o json` parsed.
async fn kubectl_json(cp: &ControlPlane, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = kubectl_ok(cp, &all).await;
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("`kubectl {}` printed no JSON ({e}):\n{out}", all.join(" ")))
}

/// The set of `kind/name` lines that `kubectl get ... -o name` printed.
async fn kubectl_names(cp: &ControlPlane, args: &[&str]) -> BTreeSet<String> {
    let mut all = args.to_vec();
    all.extend(["-o", "name"]);
    kubectl_ok(cp, &all)
        .await
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Percent-encodes a query parameter value.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// kubectl's table output as rows of whitespace-separated cells (header included).
fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn row<'a>(rows: &'a [Vec<String>], first: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in {rows:?}"))
}

/// One raw request; panics (with the exchange) if there is no HTTP answer at all.
async fn call(
    cp: &ControlPlane,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> HttpResponse {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| vec![("Content-Type", ct)])
        .unwrap_or_default();
    cp.request(method, path, &headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: no HTTP response: {e}"))
}

async fn call_json(cp: &ControlPlane, method: &str, path: &str, body: &Value) -> HttpResponse {
    call(
        cp,
        method,
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
    .await
}

/// `METHOD path -> code: body` for messages (body cut to 2000 characters).
fn exchange(method: &str, path: &str, resp: &HttpResponse) -> String {
    let body: String = resp.body.chars().take(2000).collect();
    format!("{method} {path} -> {}: {body}", resp.status)
}

/// The response body as JSON; panics with the exchange if it is not JSON.
fn body_json(method: &str, path: &str, resp: &HttpResponse) -> Value {
    serde_json::from_str(&resp.body).unwrap_or_else(|e| {
        panic!(
            "response is not JSON ({e}): {}",
            exchange(method, path, resp)
        )
    })
}

/// Asserts the response is a `Status` failure with `code` and `reason`; returns the Status.
fn expect_status(method: &str, path: &str, resp: &HttpResponse, code: u16, reason: &str) -> Value {
    assert_eq!(
        resp.status,
        code,
        "expected HTTP {code} {reason}: {}",
        exchange(method, path, resp)
    );
    let status = body_json(method, path, resp);
    assert_eq!(
        status["kind"],
        "Status",
        "error body must be a Status: {}",
        exchange(method, path, resp)
    );
    assert_eq!(
        status["apiVersion"],
        "v1",
        "{}",
        exchange(method, path, resp)
    );
    assert_eq!(
        status["status"],
        "Failure",
        "{}",
        exchange(method, path, resp)
    );
    assert_eq!(
        status["code"],
        code,
        "Status.code: {}",
        exchange(method, path, resp)
    );
    assert_eq!(
        status["reason"],
        reason,
        "Status.reason: {}",
        exchange(method, path, resp)
    );
    status
}

/// GET `path` and return the JSON (asserting 200).
async fn get_json(cp: &ControlPlane, path: &str) -> Value {
    let resp = call(cp, "GET", path, None, b"").await;
    assert_eq!(resp.status, 200, "{}", exchange("GET", path, &resp));
    body_json("GET", path, &resp)
}

fn rv_of(object: &Value) -> String {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("object has no metadata.resourceVersion: {object}"))
        .to_string()
}

/// A kube-rs client for the control plane (plain HTTP, no auth).
fn client(cp: &ControlPlane) -> kube::Client {
    let config = kube::Config::new(cp.url().parse().expect("apiserver url"));
    kube::Client::try_from(config).expect("kube client")
}

async fn etcd(cp: &ControlPlane) -> etcd_client::Client {
    etcd_client::Client::connect([cp.etcd().client_url()], None)
        .await
        .expect("connect to etcd")
}

/// The JSON stored under `key` and the key's mod_revision, read from etcd directly.
async fn etcd_get(cp: &ControlPlane, key: &str) -> Option<(Value, i64)> {
    let mut client = etcd(cp).await;
    let resp = client.get(key, None).await.expect("etcd get");
    let kv = resp.kvs().first()?;
    let value: Value = serde_json::from_slice(kv.value()).unwrap_or_else(|e| {
        panic!(
            "etcd value under {key} is not JSON ({e}): {:?}",
            kv.value_str()
        )
    });
    Some((value, kv.mod_revision()))
}

/// Every key under `prefix` in etcd.
async fn etcd_keys(cp: &ControlPlane, prefix: &str) -> BTreeSet<String> {
    let mut client = etcd(cp).await;
    let resp = client
        .get(
            prefix,
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_keys_only(),
            ),
        )
        .await
        .expect("etcd get prefix");
    resp.kvs()
        .iter()
        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
        .collect()
}

/// A pod that never needs a node to be valid: one busybox container.
fn pod_yaml(name: &str, labels: &[(&str, &str)]) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n");
    if !labels.is_empty() {
        yaml.push_str("  labels:\n");
        for (k, v) in labels {
            yaml.push_str(&format!("    {k}: \"{v}\"\n"));
        }
    }
    yaml.push_str(
        "spec:\n  containers:\n  - name: app\n    image: busybox:1.36\n    command: [\"sleep\", \"3600\"]\n",
    );
    yaml
}

fn pod_json(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36", "command": ["sleep", "3600"]}]},
    })
}

/// Creates a pod with kubectl from a manifest file.
async fn create_pod(cp: &ControlPlane, name: &str, labels: &[(&str, &str)]) {
    let path = cp
        .write_file(&format!("pod-{name}.yaml"), &pod_yaml(name, labels))
        .expect("write manifest");
    let out = kubectl_ok(cp, &["create", "-f", path.to_str().unwrap()]).await;
    assert!(
        out.contains(&format!("pod/{name} created")),
        "kubectl create printed {out:?}"
    );
}

/// A Service selecting `app: <name>`, port 80 -> 8080.
fn service_yaml(name: &str, type_: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  type: {type_}\n  selector:\n    app: {name}\n  ports:\n  - port: 80\n    targetPort: 8080\n    protocol: TCP\n"
    )
}

/// `kubectl create -f` of `contents` written to `file`; asserts kubectl reported it created.
async fn create_from(cp: &ControlPlane, file: &str, contents: &str) -> String {
    let path = cp.write_file(file, contents).expect("write manifest");
    let out = kubectl_ok(cp, &["create", "-f", path.to_str().unwrap()]).await;
    assert!(
        out.contains(" created"),
        "kubectl create -f {file} printed {out:?}"
    );
    out
}

const PODS: &str = "/api/v1/namespaces/default/pods";

/// The next non-bookmark watch event, bounded by [`EVENT_TIMEOUT`].
async fn next_event<S>(stream: &mut S, waiting_for: &str) -> WatchEvent<Pod>
where
    S: Stream<Item = kube::Result<WatchEvent<Pod>>> + Unpin,
{
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
            Err(_) => {
                panic!("no watch event within {EVENT_TIMEOUT:?} while waiting for {waiting_for}")
            }
            Ok(None) => panic!("the watch ended while waiting for {waiting_for}"),
            Ok(Some(Err(e))) => panic!("watch error while waiting for {waiting_for}: {e}"),
            Ok(Some(Ok(WatchEvent::Bookmark(_)))) => continue,
            Ok(Some(Ok(event))) => return event,
        }
    }
}

/// (type, name, resourceVersion) of a watch event, for comparisons and messages.
fn summary(event: &WatchEvent<Pod>) -> (String, String, String) {
    let (kind, pod) = match event {
        WatchEvent::Added(p) => ("ADDED", p),
        WatchEvent::Modified(p) => ("MODIFIED", p),
        WatchEvent::Deleted(p) => ("DELETED", p),
        WatchEvent::Bookmark(b) => {
            return (
                "BOOKMARK".into(),
                String::new(),
                b.metadata.resource_version.clone(),
            )
        }
        WatchEvent::Error(s) => {
            return (
                "ERROR".into(),
                format!("{} {} {}", s.code, s.reason, s.message),
                String::new(),
            )
        }
    };
    (
        kind.to_string(),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.metadata.resource_version.clone().unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// 1. Discovery, version, health, `kubectl get all`
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_version_health_and_get_all() {
    let cp = start_control_plane().await;

    for path in ["/healthz", "/livez", "/readyz"] {
        let url = format!("{}{path}", cp.url());
        let resp = http_get(&url, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status, 200, "GET {path}: {}", resp.body);
        assert_eq!(resp.body.trim(), "ok", "GET {path} body");
    }

    // `kubectl api-resources`: NAME SHORTNAMES APIVERSION NAMESPACED KIND.
    let out = kubectl_ok(&cp, &["api-resources"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"],
        "api-resources header:\n{out}"
    );
    let expected: &[(&str, Option<&str>, &str, &str, &str)] = &[
        ("pods", Some("po"), "v1", "true", "Pod"),
        (
            "deployments",
            Some("deploy"),
            "apps/v1",
            "true",
            "Deployment",
        ),
        ("services", Some("svc"), "v1", "true", "Service"),
        ("replicasets", Some("rs"), "apps/v1", "true", "ReplicaSet"),
        ("namespaces", Some("ns"), "v1", "false", "Namespace"),
        ("nodes", Some("no"), "v1", "false", "Node"),
        ("endpoints", Some("ep"), "v1", "true", "Endpoints"),
        ("configmaps", Some("cm"), "v1", "true", "ConfigMap"),
        ("events", Some("ev"), "v1", "true", "Event"),
        ("leases", None, "coordination.k8s.io/v1", "true", "Lease"),
        (
            "endpointslices",
            None,
            "discovery.k8s.io/v1",
            "true",
            "EndpointSlice",
        ),
    ];
    for (name, short, api_version, namespaced, kind) in expected {
        let found = rows
            .iter()
            .find(|r| r[0] == *name && r.iter().any(|c| c == api_version))
            .unwrap_or_else(|| {
                panic!("`kubectl api-resources` does not list {name} ({api_version}):\n{out}")
            });
        let mut want: Vec<String> = vec![name.to_string()];
        want.extend(short.iter().map(|s| s.to_string()));
        want.extend([api_version, namespaced, kind].map(|s| s.to_string()));
        assert_eq!(
            found, &want,
            "`kubectl api-resources` row of {name}:\n{out}"
        );
    }

    let versions = kubectl_ok(&cp, &["api-versions"]).await;
    let versions: BTreeSet<&str> = versions.lines().map(str::trim).collect();
    for gv in [
        "v1",
        "apps/v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
    ] {
        assert!(
            versions.contains(gv),
            "`kubectl api-versions` lacks {gv}: {versions:?}"
        );
    }

    // `kubectl version` reports the server.
    let out = kubectl_ok(&cp, &["version"]).await;
    assert!(
        out.contains("Server Version: v1.33"),
        "`kubectl version` should show the server:\n{out}"
    );
    let version = kubectl_json(&cp, &["version"]).await;
    assert_eq!(version["serverVersion"]["major"], "1", "{version}");
    assert_eq!(version["serverVersion"]["minor"], "33", "{version}");

    // The bootstrap objects: namespaces and the `kubernetes` Service.
    let out = kubectl_ok(&cp, &["get", "namespaces"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "AGE"],
        "get namespaces header:\n{out}"
    );
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert_eq!(row(&rows, ns)[1], "Active", "namespace {ns}:\n{out}");
    }

    // `kubectl get all` expands the `all` category from discovery.
    let out = kubectl_ok(&cp, &["get", "all"]).await;
    let rows = table(&out);
    let svc = row(&rows, "service/kubernetes");
    assert_eq!(
        svc[1..5],
        ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        "`kubectl get all` row of service/kubernetes:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Storage contract: keys, resourceVersion = mod_revision, AlreadyExists, Conflict
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_contract_keys_revisions_and_conflicts() {
    let cp = start_control_plane().await;
    create_pod(&cp, "store-me", &[("app", "store")]).await;

    // The object in etcd: JSON at /registry/pods/default/<name>, without resourceVersion.
    let key = "/registry/pods/default/store-me";
    let (stored, mod_revision) = etcd_get(&cp, key)
        .await
        .unwrap_or_else(|| panic!("etcd has no key {key}"));
    assert!(
        stored.pointer("/metadata/resourceVersion").is_none(),
        "etcd value must not carry metadata.resourceVersion (it is the key's mod_revision): {stored}"
    );
    assert_eq!(stored["metadata"]["name"], "store-me", "{stored}");
    assert_eq!(stored["metadata"]["namespace"], "default", "{stored}");
    assert!(
        stored["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty()),
        "no uid: {stored}"
    );

    let api = kubectl_json(&cp, &["get", "pod", "store-me"]).await;
    assert_eq!(
        rv_of(&api),
        mod_revision.to_string(),
        "resourceVersion served must equal the etcd key's mod_revision"
    );
    assert_eq!(api["metadata"]["uid"], stored["metadata"]["uid"]);
    assert_eq!(
        api["status"]["phase"], "Pending",
        "a new pod is Pending: {api}"
    );
    let typed: Pod = Api::<Pod>::default_namespaced(client(&cp))
        .get("store-me")
        .await
        .expect("kube-rs get pod");
    assert_eq!(
        typed.metadata.resource_version.as_deref(),
        Some(mod_revision.to_string().as_str())
    );

    // Creating again: AlreadyExists, through kubectl and raw.
    let manifest = cp.dir().join("pod-store-me.yaml");
    let stderr = kubectl_fails(&cp, &["create", "-f", manifest.to_str().unwrap()]).await;
    assert!(
        stderr.contains("Error from server (AlreadyExists)") && stderr.contains("pods \"store-me\" already exists"),
        "second create should print `Error from server (AlreadyExists): ... pods \"store-me\" already exists`, got:\n{stderr}"
    );
    let resp = call_json(&cp, "POST", PODS, &pod_json("store-me")).await;
    let status = expect_status("POST", PODS, &resp, 409, "AlreadyExists");
    assert_eq!(status["message"], "pods \"store-me\" already exists");
    assert_eq!(status["details"]["name"], "store-me");
    assert_eq!(status["details"]["kind"], "pods");

    // A replace of an old copy (stale resourceVersion) is a Conflict and changes nothing.
    let mut old_copy = api.clone();
    old_copy["metadata"]["labels"]["stale"] = json!("yes");
    let old_path = cp
        .write_file("old-store-me.json", &old_copy.to_string())
        .unwrap();
    let out = kubectl_ok(&cp, &["label", "pod", "store-me", "fresh=yes"]).await;
    assert!(out.contains("pod/store-me labeled"), "{out}");
    let stderr = kubectl_fails(&cp, &["replace", "-f", old_path.to_str().unwrap()]).await;
    assert!(
        stderr.contains("Error from server (Conflict)")
            && stderr.contains("Operation cannot be fulfilled on pods \"store-me\"")
            && stderr.contains("the object has been modified"),
        "kubectl replace of a stale copy should print a Conflict, got:\n{stderr}"
    );
    let now = get_json(&cp, &format!("{PODS}/store-me")).await;
    assert_eq!(now["metadata"]["labels"]["fresh"], "yes", "{now}");
    assert!(
        now["metadata"]["labels"].get("stale").is_none(),
        "stale write landed: {now}"
    );

    // Raw PUT with the stale resourceVersion: 409 Conflict.
    let path = format!("{PODS}/store-me");
    let resp = call_json(&cp, "PUT", &path, &old_copy).await;
    let status = expect_status("PUT", &path, &resp, 409, "Conflict");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("the object has been modified"),
        "{}",
        exchange("PUT", &path, &resp)
    );

    // PUT with the current resourceVersion succeeds; the new RV is the key's new mod_revision.
    let mut current = now.clone();
    current["metadata"]["labels"]["second"] = json!("put");
    let resp = call_json(&cp, "PUT", &path, &current).await;
    assert_eq!(resp.status, 200, "{}", exchange("PUT", &path, &resp));
    let updated = body_json("PUT", &path, &resp);
    let (stored, new_revision) = etcd_get(&cp, key).await.expect("key still there");
    assert_eq!(
        rv_of(&updated),
        new_revision.to_string(),
        "PUT response RV vs etcd mod_revision"
    );
    assert!(new_revision > mod_revision);
    assert_eq!(stored["metadata"]["labels"]["second"], "put", "{stored}");
    assert!(
        stored.pointer("/metadata/resourceVersion").is_none(),
        "{stored}"
    );

    // PUT without resourceVersion is an unconditional update (as upstream).
    let mut unconditional = updated.clone();
    unconditional["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    unconditional["metadata"]["labels"]["third"] = json!("unconditional");
    let resp = call_json(&cp, "PUT", &path, &unconditional).await;
    assert_eq!(
        resp.status,
        200,
        "unconditional PUT: {}",
        exchange("PUT", &path, &resp)
    );

    // Services live under /registry/services/specs/, Deployments under /registry/deployments/.
    create_from(
        &cp,
        "stored-svc.yaml",
        &service_yaml("stored-svc", "ClusterIP"),
    )
    .await;
    assert!(
        etcd_get(&cp, "/registry/services/specs/default/stored-svc")
            .await
            .is_some(),
        "Service not under /registry/services/specs/default/stored-svc; keys: {:?}",
        etcd_keys(&cp, "/registry/services").await
    );
    assert!(etcd_get(&cp, "/registry/services/default/stored-svc")
        .await
        .is_none());
    create_from(
        &cp,
        "stored-deploy.yaml",
        &deployment_yaml("stored-deploy", "busybox:1.36", 1),
    )
    .await;
    assert!(
        etcd_get(&cp, "/registry/deployments/default/stored-deploy")
            .await
            .is_some(),
        "Deployment key missing; keys: {:?}",
        etcd_keys(&cp, "/registry/deployments").await
    );

    // No stored object anywhere carries a resourceVersion.
    let mut client = etcd(&cp).await;
    let all = client
        .get(
            "/registry/",
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("etcd list /registry/");
    assert!(
        all.kvs().len() >= 8,
        "expected bootstrap objects and ours in etcd, got {}",
        all.kvs().len()
    );
    for kv in all.kvs() {
        let key = String::from_utf8_lossy(kv.key());
        let value: Value =
            serde_json::from_slice(kv.value()).unwrap_or_else(|e| panic!("{key} is not JSON: {e}"));
        assert!(
            value.pointer("/metadata/resourceVersion").is_none(),
            "{key} stores a resourceVersion: {value}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Label and field selectors, paging
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_and_paging() {
    let cp = start_control_plane().await;
    let pods: &[(&str, &[(&str, &str)])] = &[
        ("sel-a", &[("app", "web"), ("tier", "a")]),
        (
            "sel-b",
            &[("app", "web"), ("tier", "b"), ("canary", "true")],
        ),
        ("sel-c", &[("app", "db"), ("tier", "c")]),
        ("sel-d", &[("app", "web"), ("tier", "a")]),
        ("sel-e", &[]),
    ];
    let manifest: Vec<String> = pods.iter().map(|(n, l)| pod_yaml(n, l)).collect();
    let path = cp.write_file("pods.yaml", &manifest.join("---\n")).unwrap();
    let out = kubectl_ok(&cp, &["create", "-f", path.to_str().unwrap()]).await;
    for (name, _) in pods {
        assert!(out.contains(&format!("pod/{name} created")), "{out}");
    }
    let all = set(&[
        "pod/sel-a",
        "pod/sel-b",
        "pod/sel-c",
        "pod/sel-d",
        "pod/sel-e",
    ]);

    let cases: &[(&[&str], &[&str])] = &[
        (&["-l", "app=web"], &["pod/sel-a", "pod/sel-b", "pod/sel-d"]),
        (&["-l", "app!=web"], &["pod/sel-c", "pod/sel-e"]),
        (
            &["-l", "tier in (a,b)"],
            &["pod/sel-a", "pod/sel-b", "pod/sel-d"],
        ),
        (
            &["-l", "tier notin (a)"],
            &["pod/sel-b", "pod/sel-c", "pod/sel-e"],
        ),
        (
            &["-l", "!canary"],
            &["pod/sel-a", "pod/sel-c", "pod/sel-d", "pod/sel-e"],
        ),
        (&["-l", "canary"], &["pod/sel-b"]),
        (&["-l", "app=web,tier=a"], &["pod/sel-a", "pod/sel-d"]),
        (&["--field-selector", "metadata.name=sel-c"], &["pod/sel-c"]),
        (
            &["--field-selector", "metadata.name!=sel-c"],
            &["pod/sel-a", "pod/sel-b", "pod/sel-d", "pod/sel-e"],
        ),
        (
            &["--field-selector", "status.phase=Pending"],
            &[
                "pod/sel-a",
                "pod/sel-b",
                "pod/sel-c",
                "pod/sel-d",
                "pod/sel-e",
            ],
        ),
        (&["--field-selector", "status.phase=Running"], &[]),
        (
            &["--field-selector", "spec.nodeName="],
            &[
                "pod/sel-a",
                "pod/sel-b",
                "pod/sel-c",
                "pod/sel-d",
                "pod/sel-e",
            ],
        ),
        (
            &["-l", "app=web", "--field-selector", "metadata.name=sel-b"],
            &["pod/sel-b"],
        ),
    ];
    for (selector, expected) in cases {
        let mut args = vec!["get", "pods"];
        args.extend(selector.iter());
        let got = kubectl_names(&cp, &args).await;
        assert_eq!(got, set(expected), "`kubectl {}`", args.join(" "));
    }

    // An empty result is not an error.
    let out = run_kubectl(
        &cp,
        &["get", "pods", "--field-selector", "status.phase=Running"],
    )
    .await;
    assert!(out.success(), "{}", describe_output(&out));
    assert!(
        out.stderr
            .contains("No resources found in default namespace."),
        "{}",
        describe_output(&out)
    );

    // Unsupported field: an error naming the field.
    let stderr = kubectl_fails(&cp, &["get", "pods", "--field-selector", "spec.bogus=x"]).await;
    assert!(
        stderr.contains("Error from server (BadRequest)")
            && stderr.contains("field label not supported: spec.bogus"),
        "unsupported field selector should be a BadRequest naming `spec.bogus`, got:\n{stderr}"
    );
    let path = format!("{PODS}?fieldSelector=spec.bogus%3Dx");
    let resp = call(&cp, "GET", &path, None, b"").await;
    let status = expect_status("GET", &path, &resp, 400, "BadRequest");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("spec.bogus"),
        "{}",
        exchange("GET", &path, &resp)
    );
    // A malformed label selector: 400 too.
    let path = format!("{PODS}?labelSelector=tier%20in%20(a");
    let resp = call(&cp, "GET", &path, None, b"").await;
    expect_status("GET", &path, &resp, 400, "BadRequest");

    // kubectl pages with limit/continue: all pods, and the requests show the paging.
    let out = run_kubectl(
        &cp,
        &["get", "pods", "--chunk-size=2", "-o", "name", "-v=6"],
    )
    .await;
    assert!(out.success(), "{}", describe_output(&out));
    let names: BTreeSet<String> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(names, all, "--chunk-size=2 must return every pod");
    assert!(
        out.stderr.contains("limit=2") && out.stderr.contains("continue="),
        "kubectl should have paged with limit=2 and continue=..., its requests:\n{}",
        out.stderr
    );

    // Raw paging: limit=2 gives a continue token; following it yields every pod once, in order.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut list_rv = None;
    for page in 0.. {
        assert!(
            page < 10,
            "paging did not end after 10 pages; seen {seen:?}"
        );
        let path = match &token {
            None => format!("{PODS}?limit=2"),
            Some(t) => format!("{PODS}?limit=2&continue={}", query_escape(t)),
        };
        let list = get_json(&cp, &path).await;
        assert_eq!(list["kind"], "PodList", "{list}");
        let items = list["items"].as_array().expect("items");
        assert!(items.len() <= 2, "page larger than limit=2: {list}");
        seen.extend(
            items
                .iter()
                .map(|p| p["metadata"]["name"].as_str().unwrap().to_string()),
        );
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .expect("list RV")
            .to_string();
        // Every page of one list is read at the same revision (upstream's continue semantics).
        assert_eq!(
            list_rv.get_or_insert(rv.clone()),
            &rv,
            "pages were read at different revisions"
        );
        match list["metadata"]["continue"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            Some(t) => {
                assert_eq!(
                    items.len(),
                    2,
                    "a page with a continue token must be full: {list}"
                );
                token = Some(t.to_string());
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["sel-a", "sel-b", "sel-c", "sel-d", "sel-e"],
        "raw paging order/content"
    );
    assert!(
        token.is_some(),
        "limit=2 over 5 pods never returned a continue token"
    );

    // A garbage continue token is a 400, not a 500.
    let path = format!("{PODS}?limit=2&continue=garbage");
    let resp = call(&cp, "GET", &path, None, b"").await;
    expect_status("GET", &path, &resp, 400, "BadRequest");
}

// ---------------------------------------------------------------------------------------------
// 4. Server-side printing (the Table kubectl asks for)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_printing_uses_upstream_columns() {
    let cp = start_control_plane().await;
    create_pod(&cp, "print-me", &[("app", "print")]).await;

    let out = kubectl_ok(&cp, &["get", "pods"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "`kubectl get pods` header:\n{out}"
    );
    assert_eq!(
        row(&rows, "print-me")[1..4],
        ["0/1", "Pending", "0"],
        "`kubectl get pods` row:\n{out}"
    );

    let out = kubectl_ok(&cp, &["get", "pods", "-o", "wide"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ],
        "`kubectl get pods -o wide` header:\n{out}"
    );
    let r = row(&rows, "print-me");
    assert_eq!(r[1..4], ["0/1", "Pending", "0"], "{out}");
    assert_eq!(
        r[5..],
        ["<none>", "<none>", "<none>", "<none>"],
        "wide columns of an unscheduled pod:\n{out}"
    );

    // --show-labels is printed by kubectl from the object the Table includes (includeObject).
    let out = kubectl_ok(&cp, &["get", "pods", "--show-labels"]).await;
    let rows = table(&out);
    assert_eq!(rows[0].last().map(String::as_str), Some("LABELS"), "{out}");
    assert_eq!(
        row(&rows, "print-me").last().map(String::as_str),
        Some("app=print"),
        "{out}"
    );

    create_from(
        &cp,
        "print-deploy.yaml",
        &deployment_yaml("print-deploy", "busybox:1.36", 2),
    )
    .await;
    let out = kubectl_ok(&cp, &["get", "deploy"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "`kubectl get deploy` header:\n{out}"
    );
    assert_eq!(
        row(&rows, "print-deploy")[1..4],
        ["0/2", "0", "0"],
        "`kubectl get deploy` row:\n{out}"
    );
    let out = kubectl_ok(&cp, &["get", "deploy", "-o", "wide"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "`kubectl get deploy -o wide` header:\n{out}"
    );
    assert_eq!(
        row(&rows, "print-deploy")[5..],
        ["nginx", "busybox:1.36", "app=print-deploy"],
        "{out}"
    );

    let out = kubectl_ok(&cp, &["get", "svc"]).await;
    let rows = table(&out);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "`kubectl get svc` header:\n{out}"
    );
    assert_eq!(
        row(&rows, "kubernetes")[1..5],
        ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        "{out}"
    );

    // The same through the API: a meta.k8s.io/v1 Table with upstream's column definitions.
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let resp = cp
        .request("GET", PODS, &[("Accept", accept)], b"")
        .await
        .expect("GET table");
    assert_eq!(resp.status, 200, "{}", exchange("GET", PODS, &resp));
    let t = body_json("GET", PODS, &resp);
    assert_eq!(
        (t["kind"].as_str(), t["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1")),
        "{t}"
    );
    let columns: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .expect("columnDefinitions")
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        columns,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ],
        "{t}"
    );
    assert_eq!(t["rows"].as_array().map(Vec::len), Some(1), "{t}");
    assert_eq!(t["rows"][0]["cells"][0], "print-me", "{t}");
}

// ---------------------------------------------------------------------------------------------
// 5. Writes: apply, scale, label, annotate, set image, patch, delete, Service allocation
// ---------------------------------------------------------------------------------------------

fn deployment_yaml(name: &str, image: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: nginx
        image: {image}
        ports:
        - containerPort: 80
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_apply_scale_label_patch_delete_and_service_allocation() {
    let cp = start_control_plane().await;
    let deployments: Api<Deployment> = Api::default_namespaced(client(&cp));
    let manifest = cp
        .write_file("web.yaml", &deployment_yaml("web", "nginx:1.25", 2))
        .unwrap();
    let manifest = manifest.to_str().unwrap().to_string();

    let out = kubectl_ok(&cp, &["apply", "-f", &manifest]).await;
    assert_eq!(out.trim(), "deployment.apps/web created", "first apply");
    let d = deployments.get("web").await.expect("get deployment");
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "a new Deployment has generation 1"
    );
    assert!(
        d.metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubectl.kubernetes.io/last-applied-configuration")),
        "apply must store the last-applied annotation: {:?}",
        d.metadata.annotations
    );
    let rv1 = d.metadata.resource_version.clone();

    let out = kubectl_ok(&cp, &["apply", "-f", &manifest]).await;
    assert_eq!(
        out.trim(),
        "deployment.apps/web unchanged",
        "second apply of the same manifest"
    );
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.metadata.resource_version, rv1,
        "an unchanged apply must not write"
    );

    std::fs::write(&manifest, deployment_yaml("web", "nginx:1.26", 3)).unwrap();
    let out = kubectl_ok(&cp, &["apply", "-f", &manifest]).await;
    assert_eq!(
        out.trim(),
        "deployment.apps/web configured",
        "apply with a new image and replicas"
    );
    let d = deployments.get("web").await.unwrap();
    let spec = d.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(3), "replicas after apply");
    let containers = &spec.template.spec.as_ref().unwrap().containers;
    assert_eq!(
        containers[0].image.as_deref(),
        Some("nginx:1.26"),
        "image after apply"
    );
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );

    // scale subresource.
    let out = kubectl_ok(&cp, &["scale", "deploy", "web", "--replicas=5"]).await;
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    let scale = get_json(
        &cp,
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    )
    .await;
    assert_eq!(
        (scale["kind"].as_str(), scale["apiVersion"].as_str()),
        (Some("Scale"), Some("autoscaling/v1")),
        "{scale}"
    );
    assert_eq!(scale["spec"]["replicas"], 5, "{scale}");
    assert_eq!(scale["status"]["selector"], "app=web", "{scale}");
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(d.metadata.generation, Some(3));

    let out = kubectl_ok(&cp, &["label", "deploy", "web", "team=blue"]).await;
    assert_eq!(out.trim(), "deployment.apps/web labeled");
    let out = kubectl_ok(&cp, &["annotate", "deploy", "web", "note=hello world"]).await;
    assert_eq!(out.trim(), "deployment.apps/web annotated");
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.metadata
            .labels
            .as_ref()
            .unwrap()
            .get("team")
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        d.metadata
            .annotations
            .as_ref()
            .unwrap()
            .get("note")
            .map(String::as_str),
        Some("hello world")
    );
    assert_eq!(
        d.metadata.generation,
        Some(3),
        "metadata changes do not bump generation"
    );

    let out = kubectl_ok(&cp, &["set", "image", "deploy/web", "nginx=nginx:1.27"]).await;
    assert_eq!(out.trim(), "deployment.apps/web image updated");
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .as_deref(),
        Some("nginx:1.27")
    );

    // Patches of every type.
    let out = kubectl_ok(
        &cp,
        &[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"minReadySeconds":7}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let out = kubectl_ok(
        &cp,
        &[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/replicas","value":1}]"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), "deployment.apps/web patched");
    // Strategic merge: containers merge by name (a merge patch would replace the list).
    let out = kubectl_ok(
        &cp,
        &["patch", "deploy", "web", "--type=strategic", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#],
    )
    .await;
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let d = deployments.get("web").await.unwrap();
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.min_ready_seconds, Some(7), "merge patch");
    assert_eq!(spec.replicas, Some(1), "json patch");
    let containers: Vec<(String, Option<String>)> = spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers
        .iter()
        .map(|c| (c.name.clone(), c.image.clone()))
        .collect();
    assert_eq!(
        containers,
        [
            ("sidecar".to_string(), Some("busybox:1.36".to_string())),
            ("nginx".to_string(), Some("nginx:1.27".to_string()))
        ],
        "strategic merge patch must merge containers by name (upstream puts new patch items \
         before the server-only ones, as in the `kubectl patch` docs' patch-demo example)"
    );
    // A patch that changes nothing is a no-op (same resourceVersion).
    let before = d.metadata.resource_version.clone();
    let out = kubectl_ok(
        &cp,
        &[
            "patch",
            "deploy",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"minReadySeconds":7}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), "deployment.apps/web patched (no change)");
    assert_eq!(
        deployments
            .get("web")
            .await
            .unwrap()
            .metadata
            .resource_version,
        before
    );

    let out = kubectl_ok(&cp, &["delete", "deploy", "web"]).await;
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    let stderr = kubectl_fails(&cp, &["get", "deploy", "web"]).await;
    assert!(
        stderr.contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{stderr}"
    );
    assert!(
        etcd_get(&cp, "/registry/deployments/default/web")
            .await
            .is_none(),
        "etcd key left after delete"
    );

    // Services: a ClusterIP from 10.96.0.0/12, a nodePort from 30000-32767.
    for (name, type_) in [
        ("alloc-a", "ClusterIP"),
        ("alloc-b", "ClusterIP"),
        ("alloc-np", "NodePort"),
    ] {
        create_from(&cp, &format!("{name}.yaml"), &service_yaml(name, type_)).await;
    }
    let services: Api<Service> = Api::default_namespaced(client(&cp));
    let service_range =
        |ip: Ipv4Addr| (u32::from(ip) & 0xfff0_0000) == u32::from(Ipv4Addr::new(10, 96, 0, 0));
    let mut ips = BTreeSet::new();
    for name in ["alloc-a", "alloc-b", "alloc-np"] {
        let svc = services.get(name).await.expect("get service");
        let spec = svc.spec.unwrap();
        let ip: Ipv4Addr = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .unwrap_or_else(|| panic!("{name} has no IPv4 clusterIP: {:?}", spec.cluster_ip));
        assert!(
            service_range(ip),
            "{name}: clusterIP {ip} not in 10.96.0.0/12"
        );
        assert_ne!(
            ip,
            Ipv4Addr::new(10, 96, 0, 1),
            "{name} got the kubernetes Service's address"
        );
        assert_eq!(
            spec.cluster_ips,
            Some(vec![ip.to_string()]),
            "{name}: clusterIPs"
        );
        assert!(ips.insert(ip), "{name}: clusterIP {ip} allocated twice");
        let port = &spec.ports.as_ref().unwrap()[0];
        if name == "alloc-np" {
            assert_eq!(spec.type_.as_deref(), Some("NodePort"));
            let node_port = port
                .node_port
                .unwrap_or_else(|| panic!("NodePort Service without nodePort: {port:?}"));
            assert!(
                (30000..=32767).contains(&node_port),
                "nodePort {node_port} outside 30000-32767"
            );
        } else {
            assert_eq!(port.node_port, None, "a ClusterIP Service gets no nodePort");
        }
    }
    let out = kubectl_ok(&cp, &["get", "svc", "alloc-np"]).await;
    let rows = table(&out);
    assert_eq!(row(&rows, "alloc-np")[1], "NodePort", "{out}");
    assert!(
        row(&rows, "alloc-np")[4].starts_with("80:3"),
        "PORT(S) should read 80:<nodePort>/TCP:\n{out}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Watch
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_in_order_resume_and_kubectl_watch() {
    let cp = start_control_plane().await;
    let pods: Api<Pod> = Api::default_namespaced(client(&cp));

    // List, then watch from the list's resourceVersion: writes made afterwards, in order.
    let list = pods.list(&ListParams::default()).await.expect("list pods");
    let list_rv = list.metadata.resource_version.clone().expect("list RV");
    let mut stream = pods
        .watch(&WatchParams::default().timeout(60), &list_rv)
        .await
        .expect("watch pods")
        .boxed();
    create_pod(&cp, "w1", &[("app", "w")]).await;
    kubectl_ok(&cp, &["label", "pod", "w1", "step=two"]).await;
    let out = kubectl_ok(&cp, &["delete", "pod", "w1"]).await;
    assert!(out.contains("pod \"w1\" deleted"), "{out}");
    let mut events = Vec::new();
    for what in ["ADDED w1", "MODIFIED w1", "DELETED w1"] {
        events.push(summary(&next_event(&mut stream, what).await));
    }
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|(k, n, _)| (k.as_str(), n.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")],
        "events: {events:?}"
    );
    let rvs: Vec<i64> = events
        .iter()
        .map(|(_, _, rv)| rv.parse().expect("numeric RV"))
        .collect();
    assert!(
        rvs.windows(2).all(|w| w[0] < w[1]),
        "resourceVersions must increase: {events:?}"
    );
    assert!(
        rvs[0] > list_rv.parse::<i64>().unwrap(),
        "events must come after the list's RV {list_rv}: {events:?}"
    );
    drop(stream);

    // Resuming from an older resourceVersion replays what happened since.
    let mut replay = pods
        .watch(&WatchParams::default().timeout(30), &list_rv)
        .await
        .expect("watch")
        .boxed();
    let mut replayed = Vec::new();
    for what in ["replayed ADDED", "replayed MODIFIED", "replayed DELETED"] {
        replayed.push(summary(&next_event(&mut replay, what).await));
    }
    assert_eq!(
        replayed, events,
        "a watch from {list_rv} must replay the same events"
    );
    drop(replay);
    let mut replay = pods
        .watch(&WatchParams::default().timeout(30), &events[0].2)
        .await
        .expect("watch")
        .boxed();
    let mut replayed = Vec::new();
    for what in ["replayed MODIFIED", "replayed DELETED"] {
        replayed.push(summary(&next_event(&mut replay, what).await));
    }
    assert_eq!(
        replayed,
        events[1..],
        "a watch from the ADDED's RV replays only what followed it"
    );
    drop(replay);

    create_pod(&cp, "s1", &[("app", "web")]).await;

    // `kubectl get pods -w` prints the existing pods, then new ones.
    let mut watcher = Launch::program(KUBECTL)
        .label("kubectl-get-pods-w")
        .args(cp.kubectl_base_args())
        .args(["get", "pods", "-w"])
        .spawn()
        .expect("start kubectl get pods -w");
    let log = eventually("kubectl get pods -w to list s1", EVENT_TIMEOUT, || {
        let log = watcher.log();
        async move { log.lines().any(|l| l.starts_with("s1 ")).then_some(log) }
    })
    .await;
    assert!(
        log.lines().next().is_some_and(|l| l
            .split_whitespace()
            .eq(["NAME", "READY", "STATUS", "RESTARTS", "AGE"])),
        "{log}"
    );
    create_pod(&cp, "w-new", &[]).await;
    let line = eventually("kubectl get pods -w to print w-new", EVENT_TIMEOUT, || {
        let log = watcher.log();
        async move {
            log.lines()
                .find(|l| l.starts_with("w-new "))
                .map(str::to_string)
        }
    })
    .await;
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[1..4],
        ["0/1", "Pending", "0"],
        "{line}"
    );
    assert!(
        watcher.is_running(),
        "kubectl get -w exited early:\n{}",
        watcher.log()
    );
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_with_label_selector_follows_selection_changes() {
    let cp = start_control_plane().await;
    let pods: Api<Pod> = Api::default_namespaced(client(&cp));
    // A labelSelector watch: MODIFIED while matching, DELETED when the label stops matching
    // (with the last matching state and the change's revision, as upstream's cacher sends),
    // ADDED when it matches again; pods that never match are never seen.
    create_pod(&cp, "s1", &[("app", "web")]).await;
    let s1_rv = pods
        .get("s1")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut selected = pods
        .watch(
            &WatchParams::default().labels("app=web").timeout(60),
            &s1_rv,
        )
        .await
        .expect("selector watch")
        .boxed();
    kubectl_ok(&cp, &["label", "pod", "s1", "extra=1"]).await;
    let ev = next_event(&mut selected, "MODIFIED s1 (still app=web)").await;
    assert_eq!(summary(&ev).0, "MODIFIED", "{:?}", summary(&ev));
    kubectl_ok(&cp, &["label", "pod", "s1", "app=db", "--overwrite"]).await;
    let deleted = next_event(&mut selected, "DELETED s1 (app=db no longer matches)").await;
    let (kind, name, rv) = summary(&deleted);
    assert_eq!(
        (kind.as_str(), name.as_str()),
        ("DELETED", "s1"),
        "a label no longer matching must be a DELETED"
    );
    let stored_rv = pods
        .get("s1")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    assert_eq!(
        rv, stored_rv,
        "the DELETED event carries the revision of the change"
    );
    kubectl_ok(&cp, &["label", "pod", "s1", "app=web", "--overwrite"]).await;
    let ev = next_event(&mut selected, "ADDED s1 (matches again)").await;
    assert_eq!(summary(&ev).0, "ADDED", "{:?}", summary(&ev));
    create_pod(&cp, "other", &[("app", "db")]).await;
    kubectl_ok(&cp, &["label", "pod", "s1", "extra=2", "--overwrite"]).await;
    let ev = next_event(
        &mut selected,
        "MODIFIED s1 after creating a non-matching pod",
    )
    .await;
    let (kind, name, _) = summary(&ev);
    assert_eq!(
        (kind.as_str(), name.as_str()),
        ("MODIFIED", "s1"),
        "the non-matching pod `other` must not be seen"
    );
    drop(selected);

    // A fieldSelector watch as the kubelet makes it: spec.nodeName=node-1 sees a pod once it
    // is bound there (ADDED), and its deletion.
    let list = pods
        .list(&ListParams::default().fields("spec.nodeName=node-1"))
        .await
        .unwrap();
    assert!(list.items.is_empty(), "no pod is on node-1 yet");
    let mut on_node = pods
        .watch(
            &WatchParams::default()
                .fields("spec.nodeName=node-1")
                .timeout(60),
            list.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .expect("fieldSelector watch")
        .boxed();
    let path = format!("{PODS}/other/binding");
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "other"},
                         "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}});
    let resp = call_json(&cp, "POST", &path, &binding).await;
    assert_eq!(resp.status, 201, "{}", exchange("POST", &path, &resp));
    let ev = next_event(&mut on_node, "ADDED other (bound to node-1)").await;
    let (kind, name, _) = summary(&ev);
    assert_eq!(
        (kind.as_str(), name.as_str()),
        ("ADDED", "other"),
        "binding seen by a nodeName watch"
    );
    let out = kubectl_ok(
        &cp,
        &["delete", "pod", "other", "--grace-period=0", "--force"],
    )
    .await;
    assert!(out.contains("pod \"other\" force deleted"), "{out}");
    let ev = next_event(&mut on_node, "DELETED other").await;
    let (kind, name, _) = summary(&ev);
    assert_eq!((kind.as_str(), name.as_str()), ("DELETED", "other"));
    drop(on_node);

    // Checked last so that the checks above run even when this one fails.
    if let WatchEvent::Deleted(pod) = &deleted {
        assert_eq!(
            pod.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .map(String::as_str),
            Some("web"),
            "a DELETED sent because the object stopped matching must carry the previous object \
             (which matched app=web), as upstream's cacher (convertToWatchEvent) does"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_a_compacted_revision_is_410_expired() {
    let mut cp = start_control_plane().await;
    let pods: Api<Pod> = Api::default_namespaced(client(&cp));
    create_pod(&cp, "old-1", &[]).await;
    let old_rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    create_pod(&cp, "old-2", &[]).await;
    kubectl_ok(&cp, &["label", "pod", "old-1", "x=y"]).await;

    // Compact etcd up to now: old_rv is gone from etcd's history.
    let mut etcd = etcd(&cp).await;
    let revision = etcd
        .get("/", Some(etcd_client::GetOptions::new().with_count_only()))
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    etcd.compact(revision, None).await.expect("compact etcd");
    let old: i64 = old_rv.parse().unwrap();
    let read_old = etcd
        .get(
            "/registry/pods/",
            Some(
                etcd_client::GetOptions::new()
                    .with_prefix()
                    .with_revision(old),
            ),
        )
        .await;
    assert!(
        read_old.is_err(),
        "etcd should refuse reads at compacted revision {old}"
    );

    // A fresh apiserver's watch cache starts after the compaction.
    cp.restart_apiserver().await.expect("restart apiserver");
    let pods: Api<Pod> = Api::default_namespaced(client(&cp));
    for rv in [old_rv.as_str(), "1"] {
        match pods.watch(&WatchParams::default().timeout(10), rv).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(
                    (status.code, status.reason.as_str()),
                    (410, "Expired"),
                    "watch from rv={rv}: {status:?}"
                );
            }
            Err(other) => {
                panic!("watch from compacted rv={rv}: expected 410 Expired, got error {other}")
            }
            Ok(stream) => {
                let mut stream = stream.boxed();
                match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
                    Ok(Some(Ok(WatchEvent::Error(status)))) => {
                        assert_eq!(status.code, 410, "watch from rv={rv}: ERROR event {status:?}");
                        assert_eq!(status.reason, "Expired", "watch from rv={rv}: ERROR event {status:?}");
                        assert!(
                            status.message.contains("too old resource version"),
                            "watch from rv={rv}: ERROR message {status:?}"
                        );
                    }
                    other => panic!(
                        "watch from compacted rv={rv} must start with an ERROR event (410 Expired), got {:?}",
                        other.map(|o| o.map(|r| r.map(|e| summary(&e))))
                    ),
                }
            }
        }
    }

    // The client's way out: relist, then watch from the new list's resourceVersion.
    let list = pods.list(&ListParams::default()).await.unwrap();
    let names: BTreeSet<String> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, set(&["old-1", "old-2"]), "relist after restart");
    let mut stream = pods
        .watch(
            &WatchParams::default().timeout(30),
            list.metadata.resource_version.as_deref().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    create_pod(&cp, "after-compaction", &[]).await;
    let ev = next_event(&mut stream, "ADDED after-compaction").await;
    assert_eq!(summary(&ev).0, "ADDED");
    assert_eq!(summary(&ev).1, "after-compaction");
}

// ---------------------------------------------------------------------------------------------
// 7. Subresources: status, binding, graceful deletion
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subresources_status_binding_and_graceful_deletion() {
    let cp = start_control_plane().await;
    create_pod(&cp, "sub", &[("app", "sub")]).await;
    create_pod(&cp, "free", &[]).await;
    let pod_path = format!("{PODS}/sub");

    // Binding assigns the node and sets PodScheduled, once.
    let binding = |node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "sub"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let path = format!("{pod_path}/binding");
    let resp = call_json(&cp, "POST", &path, &binding("node-1")).await;
    assert_eq!(
        resp.status,
        201,
        "first binding: {}",
        exchange("POST", &path, &resp)
    );
    let status = body_json("POST", &path, &resp);
    assert_eq!(
        (status["kind"].as_str(), status["status"].as_str()),
        (Some("Status"), Some("Success")),
        "{status}"
    );
    let pod = get_json(&cp, &pod_path).await;
    assert_eq!(
        pod["spec"]["nodeName"], "node-1",
        "binding must set spec.nodeName: {pod}"
    );
    let scheduled = pod["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"))
        .unwrap_or_else(|| panic!("no PodScheduled condition after binding: {pod}"));
    assert_eq!(scheduled["status"], "True", "{pod}");
    let resp = call_json(&cp, "POST", &path, &binding("node-2")).await;
    expect_status("POST", &path, &resp, 409, "Conflict");
    assert_eq!(
        get_json(&cp, &pod_path).await["spec"]["nodeName"],
        "node-1",
        "a second binding must not move the pod"
    );

    // PUT pods/sub/status changes the status only.
    let mut pod = get_json(&cp, &pod_path).await;
    pod["status"]["phase"] = json!("Running");
    pod["status"]["podIP"] = json!("10.244.1.7");
    pod["status"]["podIPs"] = json!([{"ip": "10.244.1.7"}]);
    pod["spec"]["activeDeadlineSeconds"] = json!(77);
    let path = format!("{pod_path}/status");
    let resp = call_json(&cp, "PUT", &path, &pod).await;
    assert_eq!(
        resp.status,
        200,
        "status PUT: {}",
        exchange("PUT", &path, &resp)
    );
    let after = get_json(&cp, &pod_path).await;
    assert_eq!(after["status"]["phase"], "Running", "{after}");
    assert_eq!(after["status"]["podIP"], "10.244.1.7", "{after}");
    assert!(
        after["spec"].get("activeDeadlineSeconds").is_none(),
        "a status write must not change spec: {after}"
    );
    assert_eq!(after["spec"]["nodeName"], "node-1", "{after}");

    // PATCH pods/sub/status (kubectl --subresource=status) likewise.
    let out = kubectl_ok(
        &cp,
        &[
            "patch",
            "pod",
            "sub",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"message":"from kubectl"},"spec":{"activeDeadlineSeconds":5}}"#,
        ],
    )
    .await;
    assert_eq!(out.trim(), "pod/sub patched");
    let after = get_json(&cp, &pod_path).await;
    assert_eq!(after["status"]["message"], "from kubectl", "{after}");
    assert!(
        after["spec"].get("activeDeadlineSeconds").is_none(),
        "a status patch must not change spec: {after}"
    );

    // The main resource cannot change status.
    let out = kubectl_ok(
        &cp,
        &["patch", "pod", "sub", "--type=merge", "-p", r#"{"metadata":{"labels":{"patched":"yes"}},"status":{"phase":"Failed","message":"main"}}"#],
    )
    .await;
    assert_eq!(out.trim(), "pod/sub patched");
    let after = get_json(&cp, &pod_path).await;
    assert_eq!(after["metadata"]["labels"]["patched"], "yes", "{after}");
    assert_eq!(
        after["status"]["phase"], "Running",
        "a main-resource patch must not change status: {after}"
    );
    assert_eq!(after["status"]["message"], "from kubectl", "{after}");
    let mut whole = after.clone();
    whole["status"]["phase"] = json!("Succeeded");
    let resp = call_json(&cp, "PUT", &pod_path, &whole).await;
    assert_eq!(resp.status, 200, "{}", exchange("PUT", &pod_path, &resp));
    assert_eq!(
        get_json(&cp, &pod_path).await["status"]["phase"],
        "Running",
        "a main-resource PUT must not change status"
    );

    // GET of the status subresource returns the whole pod.
    let status_view = get_json(&cp, &format!("{pod_path}/status")).await;
    assert_eq!(status_view["kind"], "Pod", "{status_view}");
    assert_eq!(status_view["status"]["phase"], "Running");

    // A scheduled pod is deleted gracefully: it stays, marked, until a zero-grace delete.
    let out = kubectl_ok(&cp, &["delete", "pod", "sub", "--wait=false"]).await;
    assert!(out.contains("pod \"sub\" deleted"), "{out}");
    let marked = get_json(&cp, &pod_path).await;
    assert!(
        marked["metadata"]["deletionTimestamp"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "a scheduled pod must get a deletionTimestamp and stay: {marked}"
    );
    assert_eq!(
        marked["metadata"]["deletionGracePeriodSeconds"], 30,
        "default grace period: {marked}"
    );
    let out = kubectl_ok(&cp, &["get", "pod", "sub"]).await;
    assert_eq!(
        row(&table(&out), "sub")[2],
        "Terminating",
        "kubectl shows a pod being deleted as Terminating:\n{out}"
    );
    let out = run_kubectl(
        &cp,
        &["delete", "pod", "sub", "--grace-period=0", "--force"],
    )
    .await;
    assert!(out.success(), "{}", describe_output(&out));
    assert!(
        out.stdout.contains("pod \"sub\" force deleted"),
        "{}",
        describe_output(&out)
    );
    let resp = call(&cp, "GET", &pod_path, None, b"").await;
    let status = expect_status("GET", &pod_path, &resp, 404, "NotFound");
    assert_eq!(status["message"], "pods \"sub\" not found");
    assert!(
        etcd_get(&cp, "/registry/pods/default/sub").await.is_none(),
        "force-deleted pod left in etcd"
    );

    // An unscheduled pod goes at once.
    let out = kubectl_ok(&cp, &["delete", "pod", "free", "--wait=false"]).await;
    assert!(out.contains("pod \"free\" deleted"), "{out}");
    let resp = call(&cp, "GET", &format!("{PODS}/free"), None, b"").await;
    expect_status("GET", &format!("{PODS}/free"), &resp, 404, "NotFound");
    assert!(etcd_get(&cp, "/registry/pods/default/free").await.is_none());

    // Binding a pod that does not exist: 404.
    let path = format!("{PODS}/ghost/binding");
    let resp = call_json(&cp, "POST", &path, &binding("node-1")).await;
    expect_status("POST", &path, &resp, 404, "NotFound");
}

// ---------------------------------------------------------------------------------------------
// 8. Bad input: clear 4xx, no crash, nothing lost
// ---------------------------------------------------------------------------------------------

/// A control plane with one pod, `survivor`, whose stored state the bad requests must not touch.
async fn start_with_survivor() -> (ControlPlane, Value) {
    let cp = start_control_plane().await;
    create_pod(&cp, "survivor", &[("keep", "me")]).await;
    let survivor = get_json(&cp, &format!("{PODS}/survivor")).await;
    (cp, survivor)
}

/// After bad requests: the apiserver still runs and answers /healthz, `survivor` is exactly as
/// it was, and etcd holds no pod, ConfigMap or Deployment besides it.
async fn assert_nothing_lost(cp: &mut ControlPlane, survivor: &Value) {
    assert!(
        cp.apiserver().is_running(),
        "kube-apiserver died:\n{}",
        cp.apiserver().log_tail()
    );
    let health = http_get(&format!("{}/healthz", cp.url()), Duration::from_secs(10))
        .await
        .expect("GET /healthz after bad requests");
    assert_eq!(
        (health.status, health.body.trim()),
        (200, "ok"),
        "/healthz after bad requests"
    );
    let now = get_json(cp, &format!("{PODS}/survivor")).await;
    assert_eq!(&now, survivor, "the survivor pod changed");
    assert_eq!(
        kubectl_names(cp, &["get", "pods"]).await,
        set(&["pod/survivor"]),
        "only the survivor pod should exist"
    );
    assert_eq!(
        etcd_keys(cp, "/registry/pods/").await,
        set(&["/registry/pods/default/survivor"]),
        "etcd should hold only the survivor pod"
    );
    assert!(
        etcd_keys(cp, "/registry/configmaps/").await.is_empty(),
        "no ConfigMap should have been stored"
    );
    assert!(
        etcd_keys(cp, "/registry/deployments/").await.is_empty(),
        "no Deployment should have been stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_400_with_the_parser_message() {
    let (mut cp, survivor) = start_with_survivor().await;

    // Malformed JSON: 400 with the parser's message.
    let body = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"broken""#;
    let resp = call(&cp, "POST", PODS, Some("application/json"), body).await;
    let status = expect_status("POST", PODS, &resp, 400, "BadRequest");
    let message = status["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("json") && (message.contains("eof") || message.contains("unexpected end")),
        "the 400 should carry the JSON parser's message: {}",
        exchange("POST", PODS, &resp)
    );
    // Malformed YAML, a body that is not an object, an empty body.
    let resp = call(
        &cp,
        "POST",
        PODS,
        Some("application/yaml"),
        b"metadata: [unclosed\n",
    )
    .await;
    expect_status("POST", PODS, &resp, 400, "BadRequest");
    let resp = call(&cp, "POST", PODS, Some("application/json"), b"[1,2,3]").await;
    expect_status("POST", PODS, &resp, 400, "BadRequest");
    let resp = call(&cp, "POST", PODS, Some("application/json"), b"").await;
    expect_status("POST", PODS, &resp, 400, "BadRequest");
    // A kind that does not belong to the URL.
    let wrong_kind = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wrong"}});
    let resp = call_json(&cp, "POST", PODS, &wrong_kind).await;
    expect_status("POST", PODS, &resp, 400, "BadRequest");
    // A field of the wrong type.
    let mut wrong_type = pod_json("wrong-type");
    wrong_type["spec"]["containers"] = json!("not-a-list");
    let resp = call_json(&cp, "POST", PODS, &wrong_type).await;
    assert!(
        resp.status == 400 || resp.status == 422,
        "a field of the wrong type must be a 400 or 422: {}",
        exchange("POST", PODS, &resp)
    );
    // An unsupported media type.
    let resp = call(&cp, "POST", PODS, Some("text/plain"), b"hello").await;
    expect_status("POST", PODS, &resp, 415, "UnsupportedMediaType");
    // A PUT whose name differs from the URL's.
    let survivor_path = format!("{PODS}/survivor");
    let resp = call_json(&cp, "PUT", &survivor_path, &pod_json("someone-else")).await;
    expect_status("PUT", &survivor_path, &resp, 400, "BadRequest");
    // Malformed patches of every type.
    for patch_type in [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ] {
        let resp = call(&cp, "PATCH", &survivor_path, Some(patch_type), b"{not json").await;
        let status = expect_status("PATCH", &survivor_path, &resp, 400, "BadRequest");
        assert!(
            !status["message"].as_str().unwrap_or_default().is_empty(),
            "{patch_type}: {}",
            exchange("PATCH", &survivor_path, &resp)
        );
    }
    // A JSON patch testing a value that is not there fails and changes nothing.
    let resp = call(
        &cp,
        "PATCH",
        &survivor_path,
        Some("application/json-patch+json"),
        br#"[{"op":"test","path":"/metadata/labels/keep","value":"not-me"},{"op":"replace","path":"/metadata/labels/keep","value":"changed"}]"#,
    )
    .await;
    assert!(
        (400..500).contains(&resp.status),
        "a failed JSON patch test must be a 4xx: {}",
        exchange("PATCH", &survivor_path, &resp)
    );
    // kubectl reports a malformed manifest without crashing anything.
    let bad = cp
        .write_file(
            "bad.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
        )
        .unwrap();
    kubectl_fails(&cp, &["create", "-f", bad.to_str().unwrap()]).await;

    assert_nothing_lost(&mut cp, &survivor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_get_422_and_unknown_fields_are_named() {
    let (mut cp, survivor) = start_with_survivor().await;

    // Invalid name: 422 Invalid naming metadata.name.
    let resp = call_json(&cp, "POST", PODS, &pod_json("Foo_Bar")).await;
    let status = expect_status("POST", PODS, &resp, 422, "Invalid");
    let causes = status["details"]["causes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        causes
            .iter()
            .any(|c| c["field"] == "metadata.name" && c["reason"] == "FieldValueInvalid"),
        "causes must name metadata.name: {}",
        exchange("POST", PODS, &resp)
    );
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Pod \"Foo_Bar\" is invalid")
            && message.contains("metadata.name: Invalid value: \"Foo_Bar\""),
        "{}",
        exchange("POST", PODS, &resp)
    );
    assert_eq!(
        status["details"]["name"],
        "Foo_Bar",
        "{}",
        exchange("POST", PODS, &resp)
    );
    assert_eq!(
        status["details"]["kind"],
        "Pod",
        "{}",
        exchange("POST", PODS, &resp)
    );
    let bad_name = cp
        .write_file("bad-name.yaml", &pod_yaml("Foo_Bar", &[]))
        .unwrap();
    let stderr = kubectl_fails(&cp, &["create", "-f", bad_name.to_str().unwrap()]).await;
    assert!(
        stderr.contains("The Pod \"Foo_Bar\" is invalid")
            && stderr.contains("metadata.name: Invalid value: \"Foo_Bar\""),
        "kubectl should print the Invalid error naming metadata.name:\n{stderr}"
    );

    // A Deployment with negative replicas: 422 naming spec.replicas.
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    let negative = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "negative"},
        "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "n"}},
                 "template": {"metadata": {"labels": {"app": "n"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}});
    let resp = call_json(&cp, "POST", deployments, &negative).await;
    let status = expect_status("POST", deployments, &resp, 422, "Invalid");
    assert!(
        status["details"]["causes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["field"] == "spec.replicas")),
        "{}",
        exchange("POST", deployments, &resp)
    );

    // Unknown field: kubectl apply (server-side Strict validation) names it and creates nothing.
    let typo = pod_yaml("typo", &[]).replace(
        "    image: busybox:1.36\n",
        "    image: busybox:1.36\n    imagee: busybox:1.36\n",
    );
    let typo_path = cp.write_file("typo.yaml", &typo).unwrap();
    let stderr = kubectl_fails(&cp, &["apply", "-f", typo_path.to_str().unwrap()]).await;
    assert!(
        stderr.contains("unknown field \"spec.containers[0].imagee\""),
        "kubectl apply should fail naming the unknown field spec.containers[0].imagee:\n{stderr}"
    );
    let resp = call(&cp, "GET", &format!("{PODS}/typo"), None, b"").await;
    expect_status("GET", &format!("{PODS}/typo"), &resp, 404, "NotFound");
    let mut typo_json = pod_json("typo-raw");
    typo_json["spec"]["containers"][0]["imagee"] = json!("x");
    let strict = format!("{PODS}?fieldValidation=Strict");
    let resp = call_json(&cp, "POST", &strict, &typo_json).await;
    let status = expect_status("POST", &strict, &resp, 400, "BadRequest");
    assert!(
        status["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown field \"spec.containers[0].imagee\""),
        "{}",
        exchange("POST", &strict, &resp)
    );
    // Without fieldValidation the default is Warn: created, with a Warning header.
    let resp = call_json(&cp, "POST", PODS, &typo_json).await;
    assert_eq!(resp.status, 201, "{}", exchange("POST", PODS, &resp));
    let warnings: Vec<&str> = resp
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("warning"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("unknown field \\\"spec.containers[0].imagee\\\"")
            || w.contains("unknown field \"spec.containers[0].imagee\"")),
        "default fieldValidation=Warn should answer with a Warning header naming the field, headers: {:?}",
        resp.headers
    );
    let out = kubectl_ok(&cp, &["delete", "pod", "typo-raw"]).await;
    assert!(out.contains("pod \"typo-raw\" deleted"), "{out}");

    assert_nothing_lost(&mut cp, &survivor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_over_3mib_get_413() {
    let (mut cp, survivor) = start_with_survivor().await;
    let configmaps = "/api/v1/namespaces/default/configmaps";
    let configmap = |name: &str, bytes: usize| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
               "data": {"blob": "x".repeat(bytes)}})
    };

    // Over 3 MiB: 413 with a Status body.
    let resp = call_json(
        &cp,
        "POST",
        configmaps,
        &configmap("huge", 3 * 1024 * 1024 + 512 * 1024),
    )
    .await;
    let status = expect_status("POST", configmaps, &resp, 413, "RequestEntityTooLarge");
    assert!(
        !status["message"].as_str().unwrap_or_default().is_empty(),
        "{}",
        exchange("POST", configmaps, &resp)
    );
    // The same for an update.
    let survivor_path = format!("{PODS}/survivor");
    let mut big_pod = survivor.clone();
    big_pod["metadata"]["annotations"] = json!({"blob": "x".repeat(3 * 1024 * 1024 + 512 * 1024)});
    let resp = call_json(&cp, "PUT", &survivor_path, &big_pod).await;
    expect_status("PUT", &survivor_path, &resp, 413, "RequestEntityTooLarge");

    // 2.5 MiB is under the request limit, so not a 413 — but more data than a ConfigMap may
    // hold (1 MiB): 422 Invalid, as upstream's validation says.
    let resp = call_json(
        &cp,
        "POST",
        configmaps,
        &configmap("big", 2 * 1024 * 1024 + 512 * 1024),
    )
    .await;
    assert_ne!(
        resp.status,
        413,
        "a 2.5 MiB body is under the 3 MiB request limit: {}",
        exchange("POST", configmaps, &resp)
    );
    expect_status("POST", configmaps, &resp, 422, "Invalid");

    assert_nothing_lost(&mut cp, &survivor).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_namespaces_unknown_paths_and_wrong_methods() {
    let (mut cp, survivor) = start_with_survivor().await;

    // A namespace that does not exist: 404 naming it.
    let path = "/api/v1/namespaces/nope/pods";
    let resp = call_json(&cp, "POST", path, &pod_json("lost")).await;
    let status = expect_status("POST", path, &resp, 404, "NotFound");
    assert_eq!(
        status["message"],
        "namespaces \"nope\" not found",
        "{}",
        exchange("POST", path, &resp)
    );
    let lost = cp.write_file("lost.yaml", &pod_yaml("lost", &[])).unwrap();
    let stderr = kubectl_fails(&cp, &["create", "-n", "nope", "-f", lost.to_str().unwrap()]).await;
    assert!(
        stderr.contains("Error from server (NotFound)")
            && stderr.contains("namespaces \"nope\" not found"),
        "{stderr}"
    );

    // Unknown resources and objects: 404.
    let resp = call(&cp, "GET", "/api/v1/widgets", None, b"").await;
    expect_status("GET", "/api/v1/widgets", &resp, 404, "NotFound");
    let resp = call(&cp, "GET", &format!("{PODS}/ghost"), None, b"").await;
    let status = expect_status("GET", &format!("{PODS}/ghost"), &resp, 404, "NotFound");
    assert_eq!(status["message"], "pods \"ghost\" not found");
    let stderr = kubectl_fails(&cp, &["get", "widgets"]).await;
    assert!(
        stderr.contains("the server doesn't have a resource type \"widgets\""),
        "{stderr}"
    );
    // A method the resource does not support: 405 with a Status.
    let survivor_path = format!("{PODS}/survivor");
    let resp = call_json(&cp, "POST", &survivor_path, &pod_json("survivor")).await;
    expect_status("POST", &survivor_path, &resp, 405, "MethodNotAllowed");
    // Deleting what is not there: 404, and kubectl says so.
    let stderr = kubectl_fails(&cp, &["delete", "pod", "ghost"]).await;
    assert!(
        stderr.contains("Error from server (NotFound): pods \"ghost\" not found"),
        "{stderr}"
    );
    // A watch with a resourceVersion that is not a number: 400, not a hang or a 500.
    let path = format!("{PODS}?watch=true&resourceVersion=abc&timeoutSeconds=1");
    let resp = call(&cp, "GET", &path, None, b"").await;
    assert_eq!(resp.status, 400, "{}", exchange("GET", &path, &resp));

    assert_nothing_lost(&mut cp, &survivor).await;
}

/// The example manifests shipped in `manifests/examples` stay valid: each applies cleanly and a
/// second apply changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_manifests_apply_cleanly() {
    let cp = start_control_plane().await;
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/examples");
    let mut applied = 0;
    for entry in std::fs::read_dir(&examples).expect("manifests/examples is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let file = path.to_str().expect("utf-8 path");
        let first = kubectl_ok(&cp, &["apply", "-f", file]).await;
        assert!(first.contains("created"), "{file}: {first}");
        let second = kubectl_ok(&cp, &["apply", "-f", file]).await;
        assert!(
            second.lines().all(|line| line.ends_with("unchanged")),
            "{file}: second apply changed something: {second}"
        );
        applied += 1;
    }
    assert!(
        applied > 0,
        "no example manifests found in {}",
        examples.display()
    );
}

/// Patches that name no resourceVersion apply to whatever is current: concurrent ones all
/// succeed (the server retries on its own conflicts), while a patch that names a stale
/// resourceVersion gets 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_without_resource_version_all_apply() {
    let cp = start_control_plane().await;
    create_pod(&cp, "busy", &[("app", "busy")]).await;
    let path = format!("{PODS}/busy");
    let patches = (0..16).map(|i| {
        let cp = &cp;
        let path = path.clone();
        async move {
            let body = json!({"metadata": {"labels": {format!("writer-{i}"): "yes"}}});
            let resp = call(
                cp,
                "PATCH",
                &path,
                Some("application/merge-patch+json"),
                body.to_string().as_bytes(),
            )
            .await;
            assert_eq!(resp.status, 200, "{}", exchange("PATCH", &path, &resp));
        }
    });
    futures::future::join_all(patches).await;
    let pod = get_json(&cp, &path).await;
    let labels = pod["metadata"]["labels"].as_object().expect("labels");
    for i in 0..16 {
        assert!(
            labels.contains_key(&format!("writer-{i}")),
            "lost a patch: {pod}"
        );
    }
    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"late": "yes"}}});
    let resp = call(
        &cp,
        "PATCH",
        &path,
        Some("application/merge-patch+json"),
        stale.to_string().as_bytes(),
    )
    .await;
    expect_status("PATCH", &path, &resp, 409, "Conflict");
}

/// An unpaged list larger than gRPC's default 4 MiB message still answers whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_larger_than_four_mib_answer() {
    let cp = start_control_plane().await;
    let value = "x".repeat(900 * 1024);
    for i in 0..6 {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": format!("big-{i}")}, "data": {"v": value}});
        let path = "/api/v1/namespaces/default/configmaps";
        let resp = call_json(&cp, "POST", path, &body).await;
        assert_eq!(resp.status, 201, "{}", exchange("POST", path, &resp));
    }
    let list = get_json(&cp, "/api/v1/namespaces/default/configmaps").await;
    let items = list["items"].as_array().map_or(0, Vec::len);
    assert_eq!(items, 6, "an unpaged list of 5.4 MiB must hold every item");
}

/// `--etcd-prefix` moves every key: objects land under the given root, nothing under
/// `/registry`, and the API reads them back (also after a restart, through the watch cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_prefix_moves_every_key() {
    let etcd = tinykube_tests::Etcd::start().await.expect("etcd starts");
    let mut cp = ControlPlane::start_with_args(etcd, &["--etcd-prefix", "/clusters/one"])
        .await
        .expect("apiserver starts");
    create_pod(&cp, "prefixed", &[("app", "p")]).await;
    assert!(
        etcd_get(&cp, "/clusters/one/pods/default/prefixed")
            .await
            .is_some(),
        "the pod is under the prefix"
    );
    assert!(
        etcd_keys(&cp, "/registry/").await.is_empty(),
        "nothing may be written under /registry with another prefix"
    );
    cp.restart_apiserver().await.expect("apiserver restarts");
    let names = kubectl_names(&cp, &["get", "pods"]).await;
    assert_eq!(names, set(&["pod/prefixed"]));
    let namespaces = kubectl_names(&cp, &["get", "namespaces"]).await;
    assert!(
        namespaces.contains("namespace/kube-system"),
        "{namespaces:?}"
    );
}

/// A kube-rs watcher (the reflector every controller uses) keeps a complete view across an
/// apiserver restart and an etcd compaction: it relists on 410 and loses no object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_watcher_survives_restart_and_compaction() {
    use kube::runtime::{watcher, WatchStreamExt};
    let mut cp = start_control_plane().await;
    let pods: Api<Pod> = Api::namespaced(client(&cp), "default");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let recorder = seen.clone();
    let watch = tokio::spawn(async move {
        let mut stream = watcher(pods, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(item) = stream.next().await {
            if let Ok(pod) = item {
                let name = pod.metadata.name.unwrap_or_default();
                recorder
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name);
            }
        }
    });
    fn names(prefix: &'static str) -> impl Iterator<Item = String> {
        (0..3).map(move |i| format!("{prefix}-{i}"))
    }
    for name in names("before") {
        create_pod(&cp, &name, &[("app", "w")]).await;
    }
    cp.restart_apiserver().await.expect("apiserver restarts");
    for name in names("between") {
        create_pod(&cp, &name, &[("app", "w")]).await;
    }
    // Compact everything so far: a watch resuming from an old resourceVersion gets 410.
    let mut etcd = etcd(&cp).await;
    let revision = etcd
        .get("/", None)
        .await
        .expect("etcd answers")
        .header()
        .map(|h| h.revision())
        .expect("a header");
    etcd.compact(revision, None).await.expect("compaction");
    cp.restart_apiserver()
        .await
        .expect("apiserver restarts again");
    for name in names("after") {
        create_pod(&cp, &name, &[("app", "w")]).await;
    }
    let expected: BTreeSet<String> = names("before")
        .chain(names("between"))
        .chain(names("after"))
        .collect();
    eventually("the watcher to see every pod", EVENT_TIMEOUT * 3, || {
        let seen = seen.clone();
        let expected = expected.clone();
        async move {
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
            expected.is_subset(&seen).then_some(())
        }
    })
    .await;
    watch.abort();
}

// ---------------------------------------------------------------------------------------------
// 9. kubectl's imperative generators (typed client-go clients)
// ---------------------------------------------------------------------------------------------

/// `kubectl create <generator>` builds objects with client-go's typed clientset, which sends
/// request bodies as `application/vnd.kubernetes.protobuf`; upstream accepts them as it accepts
/// JSON, and so must we. Each command's object must arrive whole (spot-checked fields).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_imperative_create_commands_work() {
    let cp = start_control_plane().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["create", "namespace", "imp-ns"],
            "namespace/imp-ns created",
        ),
        (
            &["create", "configmap", "imp-cm", "--from-literal=a=b"],
            "configmap/imp-cm created",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "imp-secret",
                "--from-literal=password=s3cret",
            ],
            "secret/imp-secret created",
        ),
        (
            &["create", "serviceaccount", "imp-sa"],
            "serviceaccount/imp-sa created",
        ),
        (
            &[
                "create",
                "deployment",
                "imp-deploy",
                "--image=busybox:1.36",
                "--replicas=2",
                "--port=80",
            ],
            "deployment.apps/imp-deploy created",
        ),
        (
            &["create", "service", "clusterip", "imp-svc", "--tcp=80:8080"],
            "service/imp-svc created",
        ),
        (
            &["create", "service", "nodeport", "imp-np", "--tcp=80:8080"],
            "service/imp-np created",
        ),
    ];
    for (args, expected) in cases {
        let out = kubectl_ok(&cp, args).await;
        assert!(
            out.contains(expected),
            "`kubectl {}`: {out}",
            args.join(" ")
        );
    }

    let ns = kubectl_json(&cp, &["get", "namespace", "imp-ns"]).await;
    assert_eq!(ns["status"]["phase"], "Active", "{ns}");
    let cm = kubectl_json(&cp, &["get", "configmap", "imp-cm"]).await;
    assert_eq!(cm["data"]["a"], "b", "{cm}");
    let secret = kubectl_json(&cp, &["get", "secret", "imp-secret"]).await;
    assert_eq!(secret["type"], "Opaque", "{secret}");
    assert_eq!(secret["data"]["password"], "czNjcmV0", "{secret}");
    let deploy = kubectl_json(&cp, &["get", "deployment", "imp-deploy"]).await;
    assert_eq!(deploy["spec"]["replicas"], 2, "{deploy}");
    assert_eq!(
        deploy["spec"]["selector"]["matchLabels"]["app"], "imp-deploy",
        "{deploy}"
    );
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "busybox:1.36", "{deploy}");
    assert_eq!(container["ports"][0]["containerPort"], 80, "{deploy}");
    let svc = kubectl_json(&cp, &["get", "service", "imp-svc"]).await;
    assert_eq!(svc["spec"]["ports"][0]["port"], 80, "{svc}");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080, "{svc}");
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.")),
        "{svc}"
    );
    let node_port = kubectl_json(&cp, &["get", "service", "imp-np"]).await;
    let allocated = node_port["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .unwrap_or(0);
    assert!((30000..=32767).contains(&allocated), "{node_port}");

    // Server-side dry run goes through the same decoding and stores nothing.
    let dry = kubectl_ok(&cp, &["create", "namespace", "imp-dry", "--dry-run=server"]).await;
    assert!(
        dry.contains("namespace/imp-dry created (server dry run)"),
        "{dry}"
    );
    let missing = kubectl_fails(&cp, &["get", "namespace", "imp-dry"]).await;
    assert!(missing.contains("NotFound"), "{missing}");
}
