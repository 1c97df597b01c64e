use super::*;
use serde_json::json;

mod fixtures;

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn schema_table_parses_and_covers_every_kind() {
    let schema = schema::schema().unwrap();
    for (_, _, message) in schema::KINDS {
        assert!(schema.message(message).is_some(), "{message}");
    }
    assert!(schema.message(schema::DELETE_OPTIONS).is_some());
    assert!(schema.messages.len() > 150);
}

#[test]
fn kubectl_create_bodies_decode_to_the_json_kubectl_would_send() {
    use fixtures::*;
    for (body, want) in [
        (NAMESPACE, NAMESPACE_JSON),
        (DEPLOYMENT, DEPLOYMENT_JSON),
        (SECRET, SECRET_JSON),
        (CONFIGMAP, CONFIGMAP_JSON),
        (SERVICE, SERVICE_JSON),
        (SERVICE_NODEPORT, SERVICE_NODEPORT_JSON),
        (SERVICE_ACCOUNT, SERVICE_ACCOUNT_JSON),
        (DELETE_OPTIONS, DELETE_OPTIONS_JSON),
        (DEBUG_NODE_POD, DEBUG_NODE_POD_JSON),
        (DEBUG_COPY_POD, DEBUG_COPY_POD_JSON),
    ] {
        assert_eq!(decode_request(body).unwrap(), parse(want));
    }
}

#[test]
fn zero_values_follow_go_json_rules() {
    let deployment = decode_request(fixtures::DEPLOYMENT).unwrap();
    // Non-pointer omitempty zeros (minReadySeconds, paused, hostPort, stdin...) are gone, the
    // always-written empty structs stay, as in the JSON API.
    assert_eq!(deployment["spec"].get("minReadySeconds"), None);
    assert_eq!(deployment["spec"]["strategy"], json!({}));
    assert_eq!(deployment["status"], json!({}));
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"], json!([{"containerPort": 80}]));
    assert_eq!(container.get("stdin"), None);
    // Pointer fields keep their zero: `--share-processes=false`.
    let pod = decode_request(fixtures::DEBUG_COPY_POD).unwrap();
    assert_eq!(pod["spec"]["shareProcessNamespace"], json!(false));
    assert_eq!(pod["spec"]["priority"], json!(0));
}

#[test]
fn kinds_we_do_not_serve_are_415() {
    let err = decode_request(fixtures::JOB).unwrap_err();
    assert!(
        matches!(err, ProtobufError::UnsupportedKind { .. }),
        "{err}"
    );
    assert_eq!(err.status_code(), 415);
    assert_eq!(
        err.to_string(),
        "batch/v1, Kind=Job is not supported as protobuf, send application/json"
    );
}

// A tiny encoder for hand-made bodies.
fn key(tag: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(tag) << 3 | u64::from(wire), out);
}
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn v(tag: u32, value: i64) -> Vec<u8> {
    let mut out = Vec::new();
    key(tag, 0, &mut out);
    varint(value as u64, &mut out);
    out
}
fn b(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    key(tag, 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}
fn s(tag: u32, text: &str) -> Vec<u8> {
    b(tag, text.as_bytes())
}
fn m(tag: u32, parts: &[Vec<u8>]) -> Vec<u8> {
    b(tag, &parts.concat())
}
fn entry(tag: u32, k: &str, value: Vec<u8>) -> Vec<u8> {
    m(tag, &[s(1, k), value])
}
fn body(api_version: &str, kind: &str, raw: &[Vec<u8>]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(m(1, &[s(1, api_version), s(2, kind)]));
    out.extend(b(2, &raw.concat()));
    out.extend(s(3, ""));
    out.extend(s(4, ""));
    out
}
fn time(tag: u32, seconds: i64, nanos: i64) -> Vec<u8> {
    m(tag, &[v(1, seconds), v(2, nanos)])
}

#[test]
fn times_quantities_int_or_strings_and_bytes() {
    let event = body(
        "v1",
        "Event",
        &[
            m(
                1,
                &[
                    s(1, "e1"),
                    s(3, "default"),
                    v(7, 0),
                    b(8, &[]), // zero creationTimestamp: left out
                    time(9, 0, 0),
                    m(
                        13,
                        &[
                            s(5, "apps/v1"),
                            s(1, "ReplicaSet"),
                            s(3, "rs"),
                            s(4, "u1"),
                            v(6, 1),
                        ],
                    ),
                    s(14, "foregroundDeletion"),
                    m(
                        17,
                        &[
                            s(1, "kubectl"),
                            s(2, "Update"),
                            s(3, "v1"),
                            time(4, 1_700_000_000, 0),
                            s(6, "FieldsV1"),
                            m(7, &[s(1, r#"{"f:metadata":{}}"#)]),
                        ],
                    ),
                ],
            ),
            m(
                2,
                &[
                    s(1, "Pod"),
                    s(2, "default"),
                    s(3, "p"),
                    s(7, "spec.containers{c}"),
                ],
            ),
            s(3, "Pulled"),
            m(5, &[s(1, "kubelet"), s(2, "")]),
            time(6, 951_782_400, 999_999_999),
            time(7, -1, 0),
            v(8, 3),
            time(10, 1_700_000_000, 123_456_789),
            m(11, &[v(1, 2), time(2, 1_700_000_001, 5_000)]),
            s(12, ""),
        ],
    );
    assert_eq!(
        decode_request(&event).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {
                "name": "e1", "namespace": "default",
                "deletionTimestamp": "1970-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                     "uid": "u1", "controller": true}],
                "finalizers": ["foregroundDeletion"],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                   "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {}}}],
            },
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p",
                               "fieldPath": "spec.containers{c}"},
            "reason": "Pulled",
            "source": {"component": "kubelet"},
            "firstTimestamp": "2000-02-29T00:00:00Z",
            "lastTimestamp": "1969-12-31T23:59:59Z",
            "count": 3,
            "eventTime": "2023-11-14T22:13:20.123456Z",
            "series": {"count": 2, "lastObservedTime": "2023-11-14T22:13:21.000005Z"},
        })
    );

    let deployment = body(
        "apps/v1",
        "Deployment",
        &[
            m(1, &[s(1, "d")]),
            m(
                2,
                &[
                    v(1, 0),
                    m(
                        4,
                        &[
                            s(1, "RollingUpdate"),
                            m(
                                2,
                                &[m(1, &[v(1, 0), v(2, 1)]), m(2, &[v(1, 1), s(3, "25%")])],
                            ),
                        ],
                    ),
                    m(
                        3,
                        &[m(
                            2,
                            &[
                                m(
                                    2,
                                    &[
                                        s(1, "c"),
                                        m(
                                            8,
                                            &[
                                                entry(1, "cpu", m(2, &[s(1, "500m")])),
                                                entry(2, "memory", m(2, &[])),
                                            ],
                                        ),
                                        m(10, &[m(1, &[m(3, &[m(1, &[v(1, 0), v(2, -5)])])])]),
                                        m(
                                            11,
                                            &[m(
                                                1,
                                                &[m(
                                                    2,
                                                    &[
                                                        s(1, "/healthz"),
                                                        m(2, &[v(1, 1), s(3, "http")]),
                                                    ],
                                                )],
                                            )],
                                        ),
                                    ],
                                ),
                                // supplementalGroups, packed, and a negative runAsUser.
                                m(14, &[b(4, &[1, 2, 0x80, 0x01]), v(2, -1)]),
                            ],
                        )],
                    ),
                ],
            ),
        ],
    );
    assert_eq!(
        decode_request(&deployment).unwrap(),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "replicas": 0,
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                "template": {"spec": {
                    "containers": [{
                        "name": "c",
                        "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "0"}},
                        "livenessProbe": {"tcpSocket": {"port": -5}},
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    }],
                    "securityContext": {"supplementalGroups": [1, 2, 128], "runAsUser": -1},
                }},
            },
        })
    );

    let secret = body(
        "v1",
        "Secret",
        &[
            m(1, &[s(1, "s")]),
            entry(2, "bin", b(2, &[0, 0xff, 0xfe])),
            entry(2, "empty", Vec::new()),
            entry(4, "plain", s(2, "text")),
            s(3, "Opaque"),
        ],
    );
    assert_eq!(
        decode_request(&secret).unwrap(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {"bin": "AP/+", "empty": ""}, "stringData": {"plain": "text"},
               "type": "Opaque"})
    );
}

#[test]
fn other_kinds() {
    let lease = body(
        "coordination.k8s.io/v1",
        "Lease",
        &[
            m(1, &[s(1, "node-a"), s(3, "kube-node-lease")]),
            m(
                2,
                &[s(1, "node-a"), v(2, 40), time(4, 1_700_000_000, 999_999)],
            ),
        ],
    );
    assert_eq!(
        decode_request(&lease).unwrap(),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "node-a", "namespace": "kube-node-lease"},
               "spec": {"holderIdentity": "node-a", "leaseDurationSeconds": 40,
                        "renewTime": "2023-11-14T22:13:20.000999Z"}})
    );

    let binding = body(
        "v1",
        "Binding",
        &[m(1, &[s(1, "p")]), m(2, &[s(1, "Node"), s(3, "n1")])],
    );
    assert_eq!(
        decode_request(&binding).unwrap(),
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"kind": "Node", "name": "n1"}})
    );

    // DeleteOptions come with the deleted resource's group version.
    let delete = body(
        "apps/v1",
        "DeleteOptions",
        &[
            v(1, 0),
            m(2, &[s(1, "uid-1"), s(2, "42")]),
            s(4, "Foreground"),
            s(5, "All"),
        ],
    );
    assert_eq!(
        decode_request(&delete).unwrap(),
        json!({"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
               "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
               "propagationPolicy": "Foreground", "dryRun": ["All"]})
    );

    // Scale's replicas is a non-pointer omitempty int32: 0 is left out, as in the JSON API.
    let scale = body(
        "autoscaling/v1",
        "Scale",
        &[
            m(1, &[s(1, "web")]),
            m(2, &[v(1, 0)]),
            m(3, &[v(1, 0), s(2, "")]),
        ],
    );
    assert_eq!(
        decode_request(&scale).unwrap(),
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"},
               "spec": {}, "status": {"replicas": 0}})
    );

    let slice = body(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        &[
            m(1, &[s(1, "web-abc")]),
            s(4, "IPv4"),
            m(2, &[s(1, "10.0.0.1"), m(2, &[v(1, 1)]), s(6, "n1")]),
            m(3, &[s(1, "http"), s(2, "TCP"), v(3, 8080)]),
        ],
    );
    assert_eq!(
        decode_request(&slice).unwrap(),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "web-abc"}, "addressType": "IPv4",
               "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true},
                              "nodeName": "n1"}],
               "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]})
    );

    // Inline structs: the volume source and the probe handler land in their parent object.
    let pod = body(
        "v1",
        "Pod",
        &[m(
            2,
            &[
                m(
                    1,
                    &[s(1, "v"), m(2, &[m(19, &[m(1, &[s(1, "cm")]), v(3, 420)])])],
                ),
                m(
                    2,
                    &[s(1, "c"), m(10, &[m(1, &[m(1, &[s(1, "true")])]), v(2, 0)])],
                ),
            ],
        )],
    );
    assert_eq!(
        decode_request(&pod).unwrap(),
        json!({"apiVersion": "v1", "kind": "Pod", "spec": {
            "volumes": [{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}],
            "containers": [{"name": "c", "livenessProbe": {"exec": {"command": ["true"]}}}],
        }})
    );
}

#[test]
fn repeated_messages_merge_and_last_scalar_wins() {
    let ns = body(
        "v1",
        "Namespace",
        &[
            m(1, &[s(1, "a"), entry(11, "x", s(2, "1")), v(7, 5)]),
            m(
                1,
                &[s(1, "b"), entry(11, "y", s(2, "2")), v(7, 0), s(14, "f1")],
            ),
            m(1, &[s(14, "f2")]),
        ],
    );
    assert_eq!(
        decode_request(&ns).unwrap(),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "b", "labels": {"x": "1", "y": "2"},
                            "finalizers": ["f1", "f2"]}})
    );
}

#[test]
fn time_formatting() {
    assert_eq!(
        format_time(0, 0, false).unwrap().unwrap(),
        "1970-01-01T00:00:00Z"
    );
    assert_eq!(
        format_time(-1, 999_999_999, true).unwrap().unwrap(),
        "1969-12-31T23:59:59.999999Z"
    );
    assert_eq!(
        format_time(0, -1, false).unwrap().unwrap(),
        "1969-12-31T23:59:59Z"
    );
    assert_eq!(
        format_time(253_402_300_799, 0, false).unwrap().unwrap(),
        "9999-12-31T23:59:59Z"
    );
    assert_eq!(
        format_time(951_868_800, 0, false).unwrap().unwrap(),
        "2000-03-01T00:00:00Z"
    );
    assert_eq!(format_time(-62_135_596_800, 0, false).unwrap(), None);
    assert!(format_time(253_402_300_800, 0, false).is_err());
    assert!(format_time(i64::MIN, i32::MIN, true).is_err());
    assert!(format_time(i64::MAX, i32::MAX, true).is_err());
}

#[track_caller]
fn fails(body: &[u8], status: u16, message: &str) {
    let err = decode_request(body).unwrap_err();
    assert_eq!(err.status_code(), status, "{err}");
    assert!(err.to_string().contains(message), "{err}");
}

#[test]
fn malformed_bodies_are_errors() {
    fails(b"", 400, "k8s\\0 prefix");
    fails(b"{\"kind\":\"Namespace\"}", 400, "k8s\\0 prefix");
    fails(b"k8s\x01\x0a\x00", 400, "k8s\\0 prefix");
    fails(b"k8s\0", 415, ", Kind= is not supported");
    // A key whose varint never ends, a length past the end, a varint overflowing 64 bits,
    // groups, an invalid wire type, field number 0.
    fails(b"k8s\0\x80", 400, "truncated varint");
    fails(
        b"k8s\0\x0a\x05\x0a\x01",
        400,
        "length 5 runs past the end (2 bytes left)",
    );
    fails(
        b"k8s\0\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        400,
        "length 18446744073709551615 runs past",
    );
    fails(
        b"k8s\0\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
        400,
        "overflows 64 bits",
    );
    fails(b"k8s\0\x0b\x0c", 400, "groups are not supported");
    fails(b"k8s\0\x0e", 400, "invalid wire type 6");
    fails(b"k8s\0\x02\x00", 400, "invalid field number 0");
    fails(b"k8s\0\x1a\x04gzip", 415, "content encoding \"gzip\"");
    fails(
        b"k8s\0\x22\x10application/json",
        415,
        "content type \"application/json\"",
    );

    let ns = |meta: Vec<u8>| body("v1", "Namespace", &[m(1, &[meta])]);
    fails(
        &ns(s(99, "x")),
        415,
        "protobuf field 99 of ObjectMeta is not supported",
    );
    fails(
        &ns(v(1, 7)),
        400,
        "ObjectMeta.name: wire type varint, expected length-delimited",
    );
    fails(
        &ns(b(1, &[0xff, 0xfe])),
        400,
        "ObjectMeta.name: string is not UTF-8",
    );
    fails(
        &ns(s(7, "1")),
        400,
        "ObjectMeta.generation: wire type length-delimited, expected varint",
    );
    fails(
        &ns(time(8, 253_402_300_800, 0)),
        400,
        "outside the years 0 to 9999",
    );
    fails(&ns(m(8, &[v(3, 1)])), 415, "field 3 of Timestamp");
    let raw = |json: &str| m(17, &[m(7, &[s(1, json)])]);
    fails(
        &ns(raw("{not json")),
        400,
        "ManagedFieldsEntry.fieldsV1: not JSON",
    );
    fails(
        &ns(raw(&"[".repeat(100_000))),
        400,
        "ManagedFieldsEntry.fieldsV1: not JSON",
    );
    let port = |ios: Vec<u8>| body("v1", "Service", &[m(2, &[m(1, &[v(3, 80), m(4, &[ios])])])]);
    fails(&port(v(1, 2)), 400, "IntOrString of unknown type 2");
    fails(&port(s(9, "")), 415, "field 9 of IntOrString");
    // A map entry with a field 3.
    fails(
        &ns(m(11, &[s(1, "k"), s(3, "v")])),
        400,
        "ObjectMeta.labels: map entry with a field 3",
    );
    // Fixed-width wire types where the schema wants something else.
    let mut fixed = Vec::new();
    key(1, 1, &mut fixed);
    fixed.extend_from_slice(&[0; 8]);
    fails(&ns(fixed), 400, "wire type 64-bit");
}

#[test]
fn deep_nesting_is_bounded() {
    // Length-delimited fields nested 10,000 deep under Namespace.metadata.name: the schema says
    // `name` is a string, so decoding never follows the nesting.
    let mut inner = s(1, "x");
    for _ in 0..10_000 {
        inner = b(1, &inner);
    }
    // It returns (an error: the varint bytes are not UTF-8), without recursing.
    assert!(decode_request(&body("v1", "Namespace", &[m(1, &[inner])])).is_err());
    // And the depth guard itself.
    let schema = schema::schema().unwrap();
    let ns = schema.message("Namespace").unwrap();
    let err = decode_into(schema, ns, &[], &mut Map::new(), MAX_DEPTH + 1).unwrap_err();
    assert!(matches!(err, ProtobufError::TooDeep));
}

#[test]
fn truncated_and_corrupted_fixtures_never_panic() {
    use fixtures::*;
    for fixture in [DEPLOYMENT, SERVICE, SECRET, DEBUG_COPY_POD, DEBUG_NODE_POD] {
        for len in 0..fixture.len() {
            let _ = decode_request(&fixture[..len]);
        }
        for i in 4..fixture.len() {
            for flip in [0x01u8, 0x07, 0x80, 0xff] {
                let mut body = fixture.to_vec();
                body[i] ^= flip;
                let _ = decode_request(&body);
            }
        }
    }
}
