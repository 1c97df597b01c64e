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

// ---- strategic merge patch --------------------------------------------------------------

/// The engine (`tinykube_apimachinery::strategic_merge`) has the semantics and their tests;
/// here, what the body must be and how the engine's errors become a Status.
#[test]
fn strategic_patch_bodies_and_errors() {
    let original = pod();
    // Go decodes `null` into a nil map: a patch that changes nothing.
    assert_eq!(
        apply_patch("pods", &original, PatchType::StrategicMergePatch, b"null").unwrap(),
        original
    );
    // (body, code, message)
    let cases: &[(&str, u16, &str)] = &[
        (
            "[]",
            400,
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            "\"a string\"",
            400,
            "json: cannot unmarshal string into Go value of type map[string]interface {}",
        ),
        (
            "42",
            400,
            "json: cannot unmarshal number into Go value of type map[string]interface {}",
        ),
        ("{", 400, "EOF while parsing an object at line 1 column 1"),
        ("", 400, "EOF while parsing a value at line 1 column 0"),
        (
            r#"{"spec": {"containers": [{"image": "no-name"}]}}"#,
            400,
            "map: map[image:no-name] does not contain declared merge key: name",
        ),
        (
            r#"{"metadata": {"labels": {"$patch": "nope"}}}"#,
            400,
            "unknown patch type: nope in map: map[$patch:nope]",
        ),
        (
            r#"{"spec": {"$retainKeys": [], "hostname": "h"}}"#,
            400,
            "invalid patch format of retainKeys",
        ),
    ];
    for (body, code, message) in cases {
        let err = smp_err("pods", &original, body.as_bytes());
        assert_eq!(
            (err.http_code(), err.reason(), err.to_string().as_str()),
            (*code, "BadRequest", *message),
            "{body}"
        );
    }
    // A list of lists is 422 Invalid when a list comes first.
    let empty = json!({"spec": {"containers": []}});
    let err = smp_err("pods", &empty, br#"{"spec": {"containers": [[1]]}}"#);
    assert_eq!(
        (err.http_code(), err.reason(), err.to_string().as_str()),
        (422, "Invalid", "lists of lists are not supported")
    );
    // The object to patch must be an object.
    let err = smp_err("pods", &json!([1]), b"{}");
    assert_eq!(err.http_code(), 400);
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
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A"}]}]}}}}),
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
