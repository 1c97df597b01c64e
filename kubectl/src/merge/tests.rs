//! The expected patches of the deployment cases were recorded from the real kubectl v1.32
//! (`kubectl apply -v=9`) applying the same files to the same live objects.

use super::*;
use serde_json::json;
use tinykube_apimachinery::patch_meta;

fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn deployment(template_spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": template_spec},
        },
    })
}

/// Adds what the server fills in (defaults, status) to a deployment, as a live object has.
fn live(mut value: Value) -> Value {
    value["metadata"]["uid"] = json!("1234");
    value["metadata"]["resourceVersion"] = json!("7");
    value["spec"]["replicas"] = json!(1);
    value["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    value["status"] = json!({"replicas": 1});
    value
}

struct Case {
    name: &'static str,
    original: Option<Value>,
    modified: Value,
    current: Value,
    want: Value,
}

fn deploy_schema() -> &'static TypeDef {
    patch_meta::for_kind("apps", "Deployment")
}

#[test]
fn three_way_patches_match_upstream() {
    let s1_original = deployment(json!({"containers": [
        {"name": "main", "image": "a", "ports": [{"containerPort": 80}, {"containerPort": 81}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "side", "image": "b"},
    ]}));
    let mut s1_current = live(s1_original.clone());
    s1_current["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "injected", "image": "z"}));
    let cases = vec![
        Case {
            name: "nothing changed, server fields ignored",
            original: Some(deployment(json!({"containers": [{"name": "main", "image": "a"}]}))),
            modified: deployment(json!({"containers": [{"name": "main", "image": "a"}]})),
            current: live(deployment(
                json!({"containers": [{"name": "main", "image": "a", "imagePullPolicy": "IfNotPresent"}]}),
            )),
            want: json!({}),
        },
        Case {
            name: "containers, ports and env patched by merge key (recorded)",
            original: Some(s1_original),
            modified: deployment(json!({"containers": [
                {"name": "side", "image": "b2"},
                {"name": "main", "image": "a", "ports": [{"containerPort": 81}, {"containerPort": 82, "protocol": "UDP"}],
                 "env": [{"name": "B", "value": "3"}]},
                {"name": "third", "image": "c"},
            ]})),
            current: s1_current,
            want: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}, {"name": "third"}],
                "containers": [
                    {"image": "b2", "name": "side"},
                    {"$setElementOrder/env": [{"name": "B"}],
                     "$setElementOrder/ports": [{"containerPort": 81}, {"containerPort": 82}],
                     "env": [{"name": "B", "value": "3"}, {"$patch": "delete", "name": "A"}],
                     "name": "main",
                     "ports": [{"containerPort": 82, "protocol": "UDP"}, {"$patch": "delete", "containerPort": 80}]},
                    {"image": "c", "name": "third"},
                ],
            }}}}),
        },
        Case {
            name: "retainKeys on strategy and volumes (recorded)",
            original: Some({
                let mut d = deployment(json!({"volumes": [{"name": "v", "emptyDir": {}}],
                                              "containers": [{"name": "main", "image": "a"}]}));
                d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2}});
                d
            }),
            modified: {
                let mut d = deployment(json!({"volumes": [{"name": "v", "hostPath": {"path": "/tmp"}}],
                                              "containers": [{"name": "main", "image": "a"}]}));
                d["spec"]["strategy"] = json!({"type": "Recreate"});
                d
            },
            current: {
                let mut d = live(deployment(json!({"volumes": [{"name": "v", "emptyDir": {}}],
                                                   "containers": [{"name": "main", "image": "a"}]})));
                d["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": "25%"}});
                d
            },
            want: json!({"spec": {
                "strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"},
                "template": {"spec": {
                    "$setElementOrder/volumes": [{"name": "v"}],
                    "volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": null,
                                 "hostPath": {"path": "/tmp"}, "name": "v"}],
                }},
            }}),
        },
        Case {
            name: "finalizers as a set, labels and a replaced list (recorded)",
            original: Some({
                let mut d = deployment(json!({"containers": [{"name": "main", "image": "a", "args": ["x1", "y1"]}]}));
                d["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
                d["metadata"]["labels"] = json!({"a": "1", "b": "2"});
                d
            }),
            modified: {
                let mut d = deployment(json!({"containers": [{"name": "main", "image": "a", "args": ["y1"]}]}));
                d["metadata"]["finalizers"] = json!(["example.com/b", "example.com/c"]);
                d["metadata"]["labels"] = json!({"a": "1"});
                d
            },
            current: {
                let mut d = live(deployment(json!({"containers": [{"name": "main", "image": "a", "args": ["x1", "y1"]}]})));
                d["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
                d["metadata"]["labels"] = json!({"a": "1", "b": "2"});
                d
            },
            want: json!({
                "metadata": {
                    "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
                    "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
                    "finalizers": ["example.com/c"],
                    "labels": {"b": null},
                },
                "spec": {"template": {"spec": {
                    "$setElementOrder/containers": [{"name": "main"}],
                    "containers": [{"args": ["y1"], "name": "main"}],
                }}},
            }),
        },
        Case {
            name: "a reorder alone sends only the order",
            original: Some(deployment(json!({"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}))),
            modified: deployment(json!({"containers": [{"name": "b", "image": "b"}, {"name": "a", "image": "a"}]})),
            current: live(deployment(json!({"containers": [{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]}))),
            want: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            }}}}),
        },
        Case {
            name: "a field changed on the server but absent from the file survives; a type change replaces",
            original: Some(json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {}})),
            modified: json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": 5}),
            current: json!({"kind": "ConfigMap", "metadata": {"name": "c", "labels": {"x": "y"}}, "data": {"a": "1", "b": "2"}, "binaryData": {}}),
            want: json!({"binaryData": 5}),
        },
        Case {
            name: "never applied before: no deletions, only additions",
            original: None,
            modified: json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2"}}),
            current: json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}),
            want: json!({"data": {"a": "2"}}),
        },
    ];
    for case in cases {
        let original = case.original.map(object);
        let got = three_way(
            original.as_ref(),
            &object(case.modified),
            &object(case.current),
            deploy_schema(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(Value::Object(got), case.want, "{}", case.name);
    }
}

#[test]
fn two_way_patches_set_and_delete() {
    let original = object(deployment(json!({"containers": [
        {"name": "main", "image": "a", "env": [{"name": "A", "value": "1"}]},
    ]})));
    let modified = object(deployment(json!({"containers": [
        {"name": "main", "image": "b"},
    ]})));
    let patch = two_way(&original, &modified, deploy_schema()).unwrap();
    assert_eq!(
        Value::Object(patch),
        json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "main"}],
            "containers": [{"env": null, "image": "b", "name": "main"}],
        }}}})
    );
    assert!(two_way(&original, &original, deploy_schema())
        .unwrap()
        .is_empty());
}

#[test]
fn bad_lists_are_refused_with_upstream_messages() {
    let original = object(deployment(
        json!({"containers": [{"name": "main", "image": "a"}]}),
    ));
    let modified = object(deployment(json!({"containers": [{"image": "b"}]})));
    let error = three_way(Some(&original), &modified, &original, deploy_schema()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "map: map[image:b] does not contain declared merge key: name"
    );
    let mixed = object(deployment(json!({"containers": [{"name": "main"}, "x"]})));
    assert!(matches!(
        three_way(Some(&original), &mixed, &original, deploy_schema()),
        Err(MergeError::MixedList(_))
    ));
}

#[test]
fn scalars_sort_and_deduplicate_like_go() {
    assert_eq!(go_format(&json!(80)), "80");
    assert_eq!(go_format(&json!(0.5)), "0.5");
    assert_eq!(go_format(&json!(1e6)), "1e+06");
    assert_eq!(go_format(&json!(null)), "<nil>");
    assert_eq!(
        deduplicate_scalars(vec![json!("a"), json!("b"), json!("a"), json!("c")]),
        vec![json!("a"), json!("b"), json!("c")]
    );
    let (add, del) = diff_lists_of_scalars(
        &[json!("b"), json!("a"), json!("a")],
        &[json!("c"), json!("b")],
        DiffOptions::default(),
    );
    assert_eq!((add, del), (vec![json!("c")], vec![json!("a")]));
}
