use super::*;
use serde_json::json;

fn patch(
    resource: &str,
    original: &Value,
    patch_type: PatchType,
    body: &Value,
) -> Result<Value, PatchError> {
    apply_patch(resource, original, patch_type, body.to_string().as_bytes())
}

fn smp(resource: &str, original: &Value, body: Value) -> Value {
    patch(resource, original, PatchType::StrategicMergePatch, &body)
        .unwrap_or_else(|e| panic!("patch {body} failed: {e}"))
}

fn smp_err(resource: &str, original: &Value, body: &[u8]) -> PatchError {
    match apply_patch(resource, original, PatchType::StrategicMergePatch, body) {
        Ok(v) => panic!(
            "patch {} should fail, gave {v}",
            String::from_utf8_lossy(body)
        ),
        Err(e) => e,
    }
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v[key]
                .as_str()
                .map_or_else(|| v[key].to_string(), str::to_string)
        })
        .collect()
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["example.com/a", "example.com/b"]
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [
                        {"name": "A", "value": "1"},
                        {"name": "B", "value": "2"},
                        {"name": "C", "value": "3"}
                    ]
                },
                {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "3600"]}
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        }
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "6f3c2b8e-0000-4000-8000-000000000001",
            "resourceVersion": "1042",
            "generation": 1,
            "labels": {"app": "web"},
            "annotations": {
                "deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":80}]}]}}}}\n"
            }
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx:1.25",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "IfNotPresent"
                    }],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler"
                }
            }
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 2,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    })
}

// ---- content types ----------------------------------------------------------------------

#[test]
fn content_types() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::JsonPatch)),
        ("application/merge-patch+json", Some(PatchType::MergePatch)),
        (
            "application/strategic-merge-patch+json",
            Some(PatchType::StrategicMergePatch),
        ),
        ("application/apply-patch+yaml", Some(PatchType::ApplyPatch)),
        (
            "application/strategic-merge-patch+json; charset=utf-8",
            Some(PatchType::StrategicMergePatch),
        ),
        (
            " Application/Merge-Patch+JSON ;charset=UTF-8",
            Some(PatchType::MergePatch),
        ),
        ("application/json", None),
        ("application/apply-patch+cbor", None),
        ("", None),
        (";", None),
    ];
    for (ct, want) in cases {
        assert_eq!(PatchType::from_content_type(ct), want, "{ct:?}");
    }
    for t in [
        PatchType::JsonPatch,
        PatchType::MergePatch,
        PatchType::StrategicMergePatch,
        PatchType::ApplyPatch,
    ] {
        assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
    }
}

#[test]
fn apply_patch_is_unsupported() {
    let err = apply_patch(
        "pods",
        &pod(),
        PatchType::ApplyPatch,
        b"apiVersion: v1\nkind: Pod\n",
    )
    .unwrap_err();
    assert_eq!(err.http_code(), 415);
    assert_eq!(err.reason(), "UnsupportedMediaType");
    assert!(err
        .to_string()
        .contains("application/strategic-merge-patch+json"));
}

// ---- strategic merge patch: table -------------------------------------------------------

/// (name, resource, original, patch, expected result)
type SmpCase = (&'static str, &'static str, Value, Value, Value);

fn smp_cases() -> Vec<SmpCase> {
    vec![
        (
            "containers merge by name: one image changes, the rest stays",
            "pods",
            json!({"spec": {"containers": [
                {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "busybox"}
            ]}}),
            json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}),
            json!({"spec": {"containers": [
                {"name": "app", "image": "nginx:1.26", "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "busybox"}
            ]}}),
        ),
        (
            "a new container goes first (patch items before server-only ones)",
            "pods",
            json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}),
            json!({"spec": {"containers": [{"name": "b", "image": "y"}]}}),
            json!({"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x"}]}}),
        ),
        (
            "env merges by name and $patch: delete removes one variable",
            "pods",
            json!({"spec": {"containers": [{"name": "app", "env": [
                {"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}
            ]}]}}),
            json!({"spec": {"containers": [{"name": "app", "env": [
                {"name": "B", "$patch": "delete"}, {"name": "C", "value": "30"}
            ]}]}}),
            json!({"spec": {"containers": [{"name": "app", "env": [
                {"name": "A", "value": "1"}, {"name": "C", "value": "30"}
            ]}]}}),
        ),
        (
            "$setElementOrder reorders a merged list",
            "pods",
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
            json!({"spec": {"containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
        ),
        (
            "$setElementOrder with a change: a server-only item goes before the patch items that \
             follow it in the live list",
            "pods",
            json!({"spec": {"containers": [{"name": "a"}, {"name": "server"}, {"name": "b"}]}}),
            json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "new"}]
            }}),
            json!({"spec": {"containers": [{"name": "server"}, {"name": "b"}, {"name": "a", "image": "new"}]}}),
        ),
        (
            "$retainKeys drops rollingUpdate when the strategy becomes Recreate",
            "deployments.apps",
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        ),
        (
            "$retainKeys with an explicit null, as kubectl apply sends it",
            "deployments.apps",
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        ),
        (
            "$retainKeys on a volume switches its source",
            "pods",
            json!({"spec": {"volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]}}),
            json!({"spec": {
                "$setElementOrder/volumes": [{"name": "data"}, {"name": "cfg"}],
                "volumes": [{"$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/data"}, "name": "data"}]
            }}),
            json!({"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/data"}}, {"name": "cfg", "configMap": {"name": "c"}}]}}),
        ),
        (
            "finalizers are a set: union keeps order, adds new ones first",
            "configmaps",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        ),
        (
            "$deleteFromPrimitiveList/finalizers removes some",
            "pods",
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
            json!({"metadata": {"finalizers": ["a", "c"]}}),
        ),
        (
            "$deleteFromPrimitiveList with $setElementOrder, as kubectl apply sends it",
            "pods",
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "$setElementOrder/finalizers": ["c", "a"]
            }}),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
        ),
        (
            "$patch: replace in a list replaces it",
            "pods",
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}),
            json!({"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}}),
            json!({"spec": {"containers": [{"name": "c", "image": "z"}]}}),
        ),
        (
            "$patch: replace in a map replaces it",
            "pods",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            json!({"metadata": {"labels": {"c": "3"}}}),
        ),
        (
            "$patch: delete in a map empties it",
            "pods",
            json!({"metadata": {"labels": {"a": "1"}, "name": "p"}}),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
            json!({"metadata": {"labels": {}, "name": "p"}}),
        ),
        (
            "null removes a label",
            "pods",
            json!({"metadata": {"labels": {"app": "web", "tier": "frontend"}}}),
            json!({"metadata": {"labels": {"tier": null}}}),
            json!({"metadata": {"labels": {"app": "web"}}}),
        ),
        (
            "nulls nested in new values are dropped",
            "pods",
            json!({"metadata": {"name": "p"}}),
            json!({"metadata": {"labels": {"a": "1", "b": null}, "annotations": {"x": {"y": null}}}}),
            json!({"metadata": {"name": "p", "labels": {"a": "1"}, "annotations": {"x": {}}}}),
        ),
        (
            "lists without a strategy are replaced (tolerations)",
            "pods",
            json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
            json!({"spec": {"tolerations": [{"key": "c"}]}}),
            json!({"spec": {"tolerations": [{"key": "c"}]}}),
        ),
        (
            "service ports merge by port",
            "services",
            json!({"spec": {"ports": [{"port": 80, "name": "http", "targetPort": 8080}, {"port": 443, "name": "https"}]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            json!({"spec": {"ports": [{"port": 80, "name": "http", "targetPort": 9090}, {"port": 443, "name": "https"}]}}),
        ),
        (
            "node conditions merge by type (kubelet status patch)",
            "nodes",
            json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "False"}]}}),
            json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2025-01-01T00:00:00Z"}]}}),
            json!({"status": {"conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2025-01-01T00:00:00Z"},
                {"type": "MemoryPressure", "status": "False"}
            ]}}),
        ),
        (
            "node taints have no strategy: replaced",
            "nodes",
            json!({"spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}),
            json!({"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}),
            json!({"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}]}}),
        ),
        (
            "ownerReferences merge by uid",
            "replicasets.apps",
            json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]}}),
        ),
        (
            "unknown resources: maps merge, lists replace",
            "widgets.example.com",
            json!({"data": {"a": "1"}, "items": [{"name": "a"}]}),
            json!({"data": {"b": "2"}, "items": [{"name": "b"}]}),
            json!({"data": {"a": "1", "b": "2"}, "items": [{"name": "b"}]}),
        ),
        (
            "pod template in a deployment merges containers by name",
            "deployments.apps",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y2"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y2"}]}}}}),
        ),
        (
            "a null patch changes nothing",
            "pods",
            json!({"metadata": {"name": "p"}}),
            Value::Null,
            json!({"metadata": {"name": "p"}}),
        ),
        (
            "directives left in a replaced map are not stored",
            "pods",
            json!({"spec": {"nodeSelector": {"a": "1"}}}),
            json!({"spec": {"nodeSelector": {"$patch": "replace", "$retainKeys": ["b"], "b": "2"}}}),
            json!({"spec": {"nodeSelector": {"b": "2"}}}),
        ),
    ]
}

#[test]
fn strategic_merge_patch_table() {
    for (name, resource, original, body, want) in smp_cases() {
        let got = patch(resource, &original, PatchType::StrategicMergePatch, &body)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn merge_patch_replaces_lists_where_strategic_merges_them() {
    let original = pod();
    let body = json!({"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}});

    let merged = patch("pods", &original, PatchType::MergePatch, &body).unwrap();
    assert_eq!(
        merged["spec"]["containers"],
        json!([{"name": "app", "image": "nginx:1.26"}])
    );

    let strategic = patch("pods", &original, PatchType::StrategicMergePatch, &body).unwrap();
    let containers = &strategic["spec"]["containers"];
    assert_eq!(names(containers, "name"), ["app", "sidecar"]);
    assert_eq!(containers[0]["image"], "nginx:1.26");
    assert_eq!(
        containers[0]["env"],
        original["spec"]["containers"][0]["env"]
    );
}

// ---- what kubectl sends -----------------------------------------------------------------

/// `kubectl apply -f deploy.yaml` after changing the image and the replicas: kubectl 1.32
/// computes a three-way strategic patch (last-applied, new config, live object) and sends the
/// new last-applied annotation with the changes. The body is the one kubectl v1.32.4 sent.
#[test]
fn kubectl_apply_deployment_image_and_replicas() {
    let live = deployment();
    let last_applied = "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"image\":\"nginx:1.26\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":80}]}]}}}}\n";
    let body = format!(
        r#"{{"metadata":{{"annotations":{{"kubectl.kubernetes.io/last-applied-configuration":{}}}}},"spec":{{"replicas":3,"template":{{"spec":{{"$setElementOrder/containers":[{{"name":"nginx"}}],"containers":[{{"image":"nginx:1.26","name":"nginx"}}]}}}}}}}}"#,
        Value::String(last_applied.into())
    );
    let got = apply_patch(
        "deployments.apps",
        &live,
        PatchType::StrategicMergePatch,
        body.as_bytes(),
    )
    .unwrap();

    let mut want = live.clone();
    want["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] =
        json!(last_applied);
    want["spec"]["replicas"] = json!(3);
    want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.26");
    assert_eq!(got, want);
}

/// `kubectl apply` after replacing container `old` by `new` and adding a port: the deletion
/// goes as a `$patch: delete` element, the order as `$setElementOrder`.
#[test]
fn kubectl_apply_replaces_a_container_and_adds_a_port() {
    let live = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "old", "image": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
        {"name": "web", "image": "b", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
    ]}}}});
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "new"}],
        "containers": [
            {"name": "web", "$setElementOrder/ports": [{"containerPort": 8080}, {"containerPort": 9090}], "ports": [{"containerPort": 9090}]},
            {"name": "new", "image": "c"},
            {"name": "old", "$patch": "delete"}
        ]
    }}}});
    let got = smp("deployments.apps", &live, body);
    assert_eq!(
        got,
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "b", "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 9090}]},
            {"name": "new", "image": "c"}
        ]}}}})
    );
}

/// `kubectl set image deployment/web nginx=nginx:1.27` (a two-way strategic patch).
#[test]
fn kubectl_set_image() {
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"image": "nginx:1.27", "name": "nginx"}]
    }}}});
    let got = smp("deployments.apps", &deployment(), body);
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        got["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80, "protocol": "TCP"}])
    );
}

/// `kubectl rollout restart deployment/web` (strategic patch of a template annotation).
#[test]
fn kubectl_rollout_restart() {
    let body = json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"
    }}}}});
    let got = smp("deployments.apps", &deployment(), body);
    assert_eq!(
        got["spec"]["template"]["metadata"],
        json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}})
    );
}

/// `kubectl label pod web env=prod tier-` and `kubectl scale --replicas=5` send merge patches.
#[test]
fn kubectl_label_and_scale() {
    let got = patch(
        "pods",
        &pod(),
        PatchType::MergePatch,
        &json!({"metadata": {"labels": {"env": "prod", "tier": null}}}),
    )
    .unwrap();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );

    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 2}, "status": {"replicas": 2}});
    let got = patch(
        "deployments.apps",
        &scale,
        PatchType::MergePatch,
        &json!({"spec": {"replicas": 5}}),
    )
    .unwrap();
    assert_eq!(got["spec"]["replicas"], 5);
}

// ---- bodies captured from kubectl 1.32 against a recording server ------------------------

/// `kubectl apply` of a Deployment whose config drops env var B, adds port 443, replaces
/// container `sidecar` by `logger`, switches volume `data` from emptyDir to hostPath and drops
/// label `tier`. The body is what kubectl v1.32.4 sent, byte for byte.
#[test]
fn kubectl_apply_captured_container_swap() {
    let live = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "(old)"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.25",
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "imagePullPolicy": "IfNotPresent"},
                        {"name": "sidecar", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}]
                }
            }
        }
    });
    let body = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"annotations\":{},\"labels\":{\"app\":\"web\"},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"env\":[{\"name\":\"A\",\"value\":\"1\"}],\"image\":\"nginx:1.25\",\"name\":\"nginx\",\"ports\":[{\"containerPort\":80},{\"containerPort\":443}]},{\"image\":\"fluent-bit:3\",\"name\":\"logger\"}],\"volumes\":[{\"hostPath\":{\"path\":\"/srv\"},\"name\":\"data\"}]}}}}\n"},"labels":{"tier":null}},"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"logger"}],"$setElementOrder/volumes":[{"name":"data"}],"containers":[{"$setElementOrder/env":[{"name":"A"}],"$setElementOrder/ports":[{"containerPort":80},{"containerPort":443}],"env":[{"$patch":"delete","name":"B"}],"name":"nginx","ports":[{"containerPort":443}]},{"image":"fluent-bit:3","name":"logger"},{"$patch":"delete","name":"sidecar"}],"volumes":[{"$retainKeys":["hostPath","name"],"emptyDir":null,"hostPath":{"path":"/srv"},"name":"data"}]}}}}"#;
    let got = apply_patch(
        "deployments.apps",
        &live,
        PatchType::StrategicMergePatch,
        body.as_bytes(),
    )
    .unwrap();

    let sent: Value = serde_json::from_str(body).unwrap();
    let mut want = live.clone();
    want["metadata"]["labels"] = json!({"app": "web"});
    want["metadata"]["annotations"] = sent["metadata"]["annotations"].clone();
    want["spec"]["template"]["spec"] = json!({
        "containers": [
            {"name": "nginx", "image": "nginx:1.25",
             "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}],
             "imagePullPolicy": "IfNotPresent"},
            {"name": "logger", "image": "fluent-bit:3"}
        ],
        "volumes": [{"name": "data", "hostPath": {"path": "/srv"}}]
    });
    assert_eq!(got, want);
}

/// `kubectl apply` of a Service whose config renames nothing but adds port 443 first, changes
/// port 80's target and drops port 9090 (captured from kubectl v1.32.4).
#[test]
fn kubectl_apply_captured_service_ports() {
    let live = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "9"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090}
            ],
            "clusterIP": "10.96.0.10", "type": "ClusterIP"
        }
    });
    let body = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{},\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"name\":\"https\",\"port\":443,\"targetPort\":8443},{\"name\":\"http\",\"port\":80,\"targetPort\":8081}],\"selector\":{\"app\":\"web\"}}}\n"}},"spec":{"$setElementOrder/ports":[{"port":443},{"port":80}],"ports":[{"name":"https","port":443,"targetPort":8443},{"port":80,"targetPort":8081},{"$patch":"delete","port":9090}]}}"#;
    let got = apply_patch(
        "services",
        &live,
        PatchType::StrategicMergePatch,
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        got["spec"]["ports"],
        json!([
            {"name": "https", "port": 443, "targetPort": 8443},
            {"name": "http", "port": 80, "targetPort": 8081, "protocol": "TCP"}
        ])
    );
    assert_eq!(got["spec"]["clusterIP"], "10.96.0.10");
}

/// `kubectl cordon`, `kubectl taint nodes node1 k=v:NoSchedule`, `kubectl taint nodes node1
/// old-` (captured from kubectl v1.32.4): taints have no patch strategy, so the list is sent
/// whole, or as null when the last one goes.
#[test]
fn kubectl_cordon_and_taint_captured() {
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node1"},
        "spec": {"podCIDR": "10.244.0.0/24", "taints": [{"key": "old", "value": "x", "effect": "NoExecute"}]}
    });
    let node = smp("nodes", &node, json!({"spec": {"unschedulable": true}}));
    assert_eq!(node["spec"]["unschedulable"], true);
    let node = apply_patch(
        "nodes",
        &node,
        PatchType::StrategicMergePatch,
        br#"{"spec":{"taints":[{"effect":"NoSchedule","key":"k","value":"v"},{"effect":"NoExecute","key":"old","value":"x"}]}}"#,
    )
    .unwrap();
    assert_eq!(names(&node["spec"]["taints"], "key"), ["k", "old"]);
    let node = apply_patch(
        "nodes",
        &node,
        PatchType::StrategicMergePatch,
        br#"{"spec":{"taints":null}}"#,
    )
    .unwrap();
    assert_eq!(
        node["spec"],
        json!({"podCIDR": "10.244.0.0/24", "unschedulable": true})
    );
}

/// Upstream merges lists in place, and `$setElementOrder` then reads the live order from the
/// Go array the merge wrote into: after `$patch: delete` of the last container, the added one
/// lands in its slot. With a server-only container (an injected sidecar) this decides where
/// it ends up; this is the order kube-apiserver gives.
#[test]
fn set_element_order_reads_the_live_list_as_merged_in_place() {
    let live = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "nginx"}, {"name": "injected"}, {"name": "sidecar"}
    ]}}}});
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "logger"}],
        "containers": [{"name": "logger", "image": "fluent-bit:3"}, {"$patch": "delete", "name": "sidecar"}]
    }}}});
    let got = smp("deployments.apps", &live, body);
    assert_eq!(
        names(&got["spec"]["template"]["spec"]["containers"], "name"),
        ["nginx", "injected", "logger"]
    );

    // The same without the deletion: the live order has no slot for `logger`.
    let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx"}, {"name": "injected"}]}}}});
    let body = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "logger"}],
        "containers": [{"name": "logger", "image": "fluent-bit:3"}]
    }}}});
    let got = smp("deployments.apps", &live, body);
    assert_eq!(
        names(&got["spec"]["template"]["spec"]["containers"], "name"),
        ["nginx", "logger", "injected"]
    );
}

// ---- JSON merge patch ---------------------------------------------------------------------

#[test]
fn merge_patch_semantics() {
    let original = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "n": null, "s": "x"});
    let cases = [
        (
            json!({"a": {"b": null}}),
            json!({"a": {"c": 2}, "l": [1, 2], "n": null, "s": "x"}),
        ),
        (
            json!({"s": {"x": null, "y": 1}}),
            json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "n": null, "s": {"y": 1}}),
        ),
        (
            json!({"n": {"x": null, "y": [{"z": null}]}}),
            json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "n": {"y": [{}]}, "s": "x"}),
        ),
        (
            json!({"a": [null, {"k": null}]}),
            json!({"a": [null, {"k": null}], "l": [1, 2], "n": null, "s": "x"}),
        ),
        (
            json!({"l": {"k": 1}}),
            json!({"a": {"b": 1, "c": 2}, "l": {"k": 1}, "n": null, "s": "x"}),
        ),
        (json!({}), original.clone()),
    ];
    for (body, want) in cases {
        assert_eq!(
            patch("configmaps", &original, PatchType::MergePatch, &body).unwrap(),
            want,
            "{body}"
        );
    }
}

#[test]
fn merge_patch_errors() {
    let original = pod();
    for body in [
        &b"null"[..],
        b"\"str\"",
        b"42",
        b"true",
        b"{",
        b"",
        b"<xml/>",
    ] {
        let err = apply_patch("pods", &original, PatchType::MergePatch, body).unwrap_err();
        assert_eq!(err.http_code(), 400, "{}", String::from_utf8_lossy(body));
    }
    let err = apply_patch("pods", &original, PatchType::MergePatch, b"[1, 2]").unwrap_err();
    assert_eq!(err.http_code(), 422);
}

// ---- JSON patch ---------------------------------------------------------------------------

#[test]
fn json_patch_operations() {
    let original = pod();
    let body = json!([
        {"op": "test", "path": "/metadata/name", "value": "web"},
        {"op": "add", "path": "/metadata/labels/env", "value": "prod"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.26"},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/c"},
        {"op": "copy", "from": "/metadata/name", "path": "/metadata/annotations"},
        {"op": "move", "from": "/metadata/annotations", "path": "/metadata/generateName"}
    ]);
    let got = patch("pods", &original, PatchType::JsonPatch, &body).unwrap();
    assert_eq!(
        got["metadata"]["labels"],
        json!({"app": "web", "env": "prod"})
    );
    assert_eq!(got["spec"]["containers"][0]["image"], "nginx:1.26");
    assert_eq!(
        got["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b", "example.com/c"])
    );
    assert_eq!(got["metadata"]["generateName"], "web");
    assert!(got["metadata"].get("annotations").is_none());

    // `null` is an empty patch, as in Go.
    assert_eq!(
        apply_patch("pods", &original, PatchType::JsonPatch, b"null").unwrap(),
        original
    );
}

#[test]
fn json_patch_errors() {
    let original = pod();
    // (body, code, message fragment)
    let cases: &[(&str, u16, &str)] = &[
        (
            r#"[{"op": "test", "path": "/metadata/name", "value": "other"}]"#,
            422,
            "testing value /metadata/name failed: test failed",
        ),
        (
            r#"[{"op": "test", "path": "/metadata/nope", "value": 1}]"#,
            422,
            "testing value",
        ),
        (
            r#"[{"op": "remove", "path": "/metadata/nope"}]"#,
            422,
            "remove operation does not apply: doc is missing path",
        ),
        (
            r#"[{"op": "replace", "path": "/spec/containers/9/image", "value": "x"}]"#,
            422,
            "replace operation does not apply",
        ),
        (
            r#"[{"op": "add", "path": "/no/such/parent", "value": 1}]"#,
            422,
            "add operation does not apply",
        ),
        (
            r#"[{"op": "move", "from": "/nope", "path": "/x"}]"#,
            422,
            "doc is missing from path",
        ),
        (
            r#"[{"op": "frobnicate", "path": "/x"}]"#,
            422,
            "unexpected kind: frobnicate",
        ),
        (r#"[{"path": "/x"}]"#, 422, "unexpected kind: unknown"),
        (r#"[null]"#, 422, "unexpected kind: unknown"),
        (r#"[{"op": "add", "value": 1}]"#, 422, "malformed"),
        (
            r#"[{"op": "replace", "path": "", "value": [1]}]"#,
            422,
            "must be a JSON object",
        ),
        (r#"{"op": "add"}"#, 400, "cannot unmarshal object"),
        (r#"["add"]"#, 400, "cannot unmarshal string"),
        (r#"[{"op": "add",#"#, 400, ""),
        ("", 400, ""),
    ];
    for (body, code, fragment) in cases {
        let err =
            apply_patch("pods", &original, PatchType::JsonPatch, body.as_bytes()).unwrap_err();
        assert_eq!(err.http_code(), *code, "{body}: {err}");
        assert!(err.to_string().contains(fragment), "{body}: {err}");
    }
    let failed_test = apply_patch(
        "pods",
        &original,
        PatchType::JsonPatch,
        cases[0].0.as_bytes(),
    )
    .unwrap_err();
    assert_eq!(failed_test.reason(), "Invalid");

    let many: Vec<Value> = (0..=MAX_JSON_PATCH_OPERATIONS)
        .map(|_| json!({"op": "test", "path": "/kind", "value": "Pod"}))
        .collect();
    let err = patch("pods", &original, PatchType::JsonPatch, &Value::Array(many)).unwrap_err();
    assert_eq!(err.http_code(), 413);
    assert_eq!(err.reason(), "RequestEntityTooLarge");
}

// ---- malformed strategic patches --------------------------------------------------------

#[test]
fn strategic_patch_errors() {
    let original = pod();
    // (body, code)
    let cases: &[(&str, u16)] = &[
        ("[]", 400),
        ("[{\"op\": \"add\"}]", 400),
        ("\"a string\"", 400),
        ("42", 400),
        ("{", 400),
        ("", 400),
        (r#"{"$patch": 5}"#, 400),
        (r#"{"$patch": "merge"}"#, 400),
        (r#"{"metadata": {"labels": {"$patch": "nope"}}}"#, 400),
        (
            r#"{"spec": {"containers": [{"name": "app", "$patch": "merge"}]}}"#,
            400,
        ),
        (r#"{"spec": {"containers": [{"$patch": "delete"}]}}"#, 400),
        (
            r#"{"spec": {"containers": [{"$patch": 1, "name": "app"}]}}"#,
            400,
        ),
        (r#"{"spec": {"containers": [{"image": "no-name"}]}}"#, 400),
        (r#"{"spec": {"containers": ["not-a-map"]}}"#, 400),
        (r#"{"spec": {"containers": [{"name": "x"}, "mixed"]}}"#, 400),
        (r#"{"spec": {"containers": [[1]]}}"#, 400),
        (r#"{"metadata": {"finalizers": [["a"]]}}"#, 400),
        (r#"{"metadata": {"finalizers": [null]}}"#, 400),
        (r#"{"metadata": {"finalizers": [1]}}"#, 400),
        (r#"{"spec": {"$retainKeys": "containers"}}"#, 400),
        (r#"{"spec": {"$retainKeys": [], "hostname": "h"}}"#, 400),
        (r#"{"spec": {"$setElementOrder/containers": "app"}}"#, 400),
        (r#"{"spec": {"$setElementOrder/containers": ["app"]}}"#, 400),
        (
            r#"{"spec": {"$setElementOrder/containers": [{"name": "app"}], "containers": {"name": "app"}}}"#,
            400,
        ),
        (
            r#"{"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}"#,
            400,
        ),
        (r#"{"spec": {"$setElementOrder": [{"name": "app"}]}}"#, 400),
        (r#"{"spec": {"$setElementOrder/tolerations": []}}"#, 400),
        (r#"{"metadata": {"$deleteFromPrimitiveList": ["a"]}}"#, 400),
        (
            r#"{"metadata": {"$deleteFromPrimitiveListX/finalizers": ["a"]}}"#,
            400,
        ),
        (
            r#"{"spec": {"$deleteFromPrimitiveList/containers": [{"image": "x"}]}}"#,
            400,
        ),
        (
            r#"{"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "x"}, {"$patch": "replace"}], "$setElementOrder/env": [{"name": "A"}]}]}}"#,
            400,
        ),
    ];
    for (body, code) in cases {
        let err = smp_err("pods", &original, body.as_bytes());
        assert_eq!(err.http_code(), *code, "{body}: {err}");
        assert!(!err.to_string().is_empty());
    }
    // A list of lists is 422 when a list comes first.
    let empty = json!({"spec": {"containers": []}, "metadata": {"finalizers": []}});
    for body in [
        r#"{"spec": {"containers": [[1]]}}"#,
        r#"{"metadata": {"finalizers": [["a"], "b"]}}"#,
    ] {
        let err = smp_err("pods", &empty, body.as_bytes());
        assert_eq!(err.http_code(), 422, "{body}: {err}");
        assert_eq!(err.to_string(), "lists of lists are not supported");
    }
}

/// Patches that look odd but are fine upstream.
#[test]
fn strategic_patch_oddities() {
    let original = pod();
    // A directive of the wrong type where the original has no value is simply taken.
    let got = smp(
        "pods",
        &original,
        json!({"spec": {"hostname": {"$patch": "delete"}}}),
    );
    assert!(got["spec"].get("hostname").is_none());
    // Deeply nested nulls in a new value are dropped all the way down.
    let got = smp(
        "pods",
        &original,
        json!({"spec": {"affinity": {"a": {"b": {"c": {"d": null, "e": 1}}}}}}),
    );
    assert_eq!(
        got["spec"]["affinity"],
        json!({"a": {"b": {"c": {"e": 1}}}})
    );
    // A scalar replaced by a map, and a map by a scalar.
    let got = smp(
        "pods",
        &original,
        json!({"metadata": {"name": {"x": null, "y": 1}, "labels": "flat"}}),
    );
    assert_eq!(got["metadata"]["name"], json!({"y": 1}));
    assert_eq!(got["metadata"]["labels"], "flat");
    // `$deleteFromPrimitiveList` of a field that is not there does nothing.
    let got = smp(
        "pods",
        &original,
        json!({"metadata": {"$deleteFromPrimitiveList/nothing": ["a"]}}),
    );
    assert!(got["metadata"].get("nothing").is_none());
    // `$setElementOrder` of a list the object lacks, with the list, adds it (directives removed).
    let got = smp(
        "pods",
        &original,
        json!({"spec": {
            "$setElementOrder/initContainers": [{"name": "b"}, {"name": "a"}],
            "initContainers": [{"name": "b", "image": "x"}, {"name": "a"}, {"name": "c", "$patch": "delete"}]
        }}),
    );
    assert_eq!(
        got["spec"]["initContainers"],
        json!([{"name": "b", "image": "x"}, {"name": "a"}])
    );
    // A top-level `$patch: replace` replaces the whole object.
    let got = smp(
        "pods",
        &original,
        json!({"$patch": "replace", "kind": "Pod"}),
    );
    assert_eq!(got, json!({"kind": "Pod"}));
}

// ---- no panics --------------------------------------------------------------------------

/// A small deterministic generator of JSON values biased towards patch directives, the keys of
/// the pod above and the shapes that trip merge code.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn key(&mut self) -> String {
        const KEYS: &[&str] = &[
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$setElementOrder/env",
            "$setElementOrder/finalizers",
            "$deleteFromPrimitiveList/finalizers",
            "$deleteFromPrimitiveList/containers",
            "$setElementOrder/tolerations",
            "$setElementOrder",
            "$deleteFromPrimitiveList/",
            "metadata",
            "spec",
            "containers",
            "env",
            "name",
            "image",
            "finalizers",
            "labels",
            "tolerations",
            "volumes",
            "ports",
            "containerPort",
            "value",
            "a",
        ];
        KEYS[self.next(KEYS.len() as u64) as usize].to_string()
    }

    fn value(&mut self, depth: u32) -> Value {
        let pick = if depth == 0 {
            self.next(6)
        } else {
            self.next(9)
        };
        match pick {
            0 => Value::Null,
            1 => json!(self.next(3) == 0),
            2 => json!(self.next(4)),
            3 => json!(
                [
                    "delete",
                    "replace",
                    "merge",
                    "app",
                    "sidecar",
                    "A",
                    "example.com/a"
                ][self.next(7) as usize]
            ),
            4 => json!(1.5),
            5 => json!(self.key()),
            6 | 7 => {
                let mut map = Map::new();
                for _ in 0..self.next(4) {
                    map.insert(self.key(), self.value(depth - 1));
                }
                Value::Object(map)
            }
            _ => Value::Array((0..self.next(4)).map(|_| self.value(depth - 1)).collect()),
        }
    }
}

#[test]
fn random_patches_never_panic() {
    let originals = [
        pod(),
        deployment(),
        json!({}),
        json!({"spec": {"containers": []}}),
    ];
    let mut gen = Gen(0x9e37_79b9_7f4a_7c15);
    for i in 0..20_000 {
        let body = gen.value(5);
        let original = &originals[i % originals.len()];
        let resource = ["pods", "deployments.apps", "configmaps", "nodes"][i % 4];
        for patch_type in [
            PatchType::StrategicMergePatch,
            PatchType::MergePatch,
            PatchType::JsonPatch,
        ] {
            if let Err(e) = patch(resource, original, patch_type, &body) {
                assert!((400..500).contains(&e.http_code()));
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

#[test]
fn deeply_nested_bodies_are_refused_not_overflowed() {
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    for patch_type in [
        PatchType::StrategicMergePatch,
        PatchType::MergePatch,
        PatchType::JsonPatch,
    ] {
        let err = apply_patch("pods", &pod(), patch_type, deep.as_bytes()).unwrap_err();
        assert_eq!(err.http_code(), 400);
    }
}
