//! The `pod-template-hash` of a Deployment's ReplicaSets and the template comparison that
//! finds a Deployment's current ReplicaSet.
//!
//! Upstream (`controller.ComputeHash` in k8s.io/kubernetes `pkg/controller/controller_utils.go`)
//! feeds FNV-32a with go-spew's `%#v` rendering of the Go `v1.PodTemplateSpec` value
//! (`hashutil.DeepHashObject`), then, when the Deployment has a `collisionCount`, that count
//! as a little-endian uint32 in 8 bytes, and encodes the decimal digits of the sum with
//! `rand.SafeEncodeString`. [`super::spew`] reproduces the spew rendering byte for byte for
//! Kubernetes v1.33's Go types, so the hashes (and ReplicaSet names) are upstream's.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::spew::{sprint_go_value, SpewError};

/// The label a Deployment adds to its ReplicaSets' selectors, templates and pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Upstream `rand.SafeEncodeString`'s alphabet (no vowels, no confusable digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-32a.
pub fn fnv32a(data: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in data {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Upstream `rand.SafeEncodeString`.
pub fn safe_encode_string(s: &str) -> String {
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// Why a template has no pod-template-hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pod-template-hash: {0}")]
pub struct HashError(#[from] SpewError);

/// go-spew's `%#v` of `template` as a Go `v1.PodTemplateSpec`: what upstream hashes.
pub fn spew_pod_template(template: &PodTemplateSpec) -> Result<String, HashError> {
    let json = serde_json::to_value(template).unwrap_or(Value::Null);
    Ok(sprint_go_value("v1.PodTemplateSpec", &json)?)
}

/// The pod-template-hash of `template` with `collision_count` (see the module docs).
pub fn compute_hash(
    template: &PodTemplateSpec,
    collision_count: Option<i32>,
) -> Result<String, HashError> {
    let mut data = spew_pod_template(template)?.into_bytes();
    if let Some(count) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(count as u32).to_le_bytes());
        data.extend_from_slice(&bytes);
    }
    Ok(safe_encode_string(&fnv32a(&data).to_string()))
}

/// Upstream `EqualIgnoreHash`: the two templates are semantically equal once the
/// pod-template-hash label is removed from both (absent and empty fields count as equal).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(template: &PodTemplateSpec) -> Value {
    let mut value = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(labels) = value
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    prune(&mut value);
    value
}

/// Removes nulls and empty objects and arrays, recursively.
fn prune(value: &mut Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => {
            map.retain(|_, v| !prune(v));
            map.is_empty()
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                prune(item);
            }
            items.is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn template(image: &str, labels: &[(&str, &str)]) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                ),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn fnv_and_encoding_match_upstream() {
        // FNV-32a reference values.
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
        // SafeEncodeString maps digits into "4".."9","b".."f" (ASCII code modulo 27).
        assert_eq!(safe_encode_string("0123456789"), "456789bcdf");
        assert_eq!(safe_encode_string(""), "");
    }

    /// (image, hash) as real v1.33 clusters named the ReplicaSets of the Kubernetes docs'
    /// `nginx-deployment.yaml` (3 replicas, `app: nginx`, container port 80) and of its
    /// `kubectl set image deployment/nginx-deployment nginx=nginx:1.16.1` update. Public lab
    /// notes from May 2025 show `kubectl get deployment nginx-deployment -o yaml` with exactly
    /// the defaulted template below and the condition `ReplicaSet "nginx-deployment-647677fc66"
    /// has successfully progressed`; other public notes show `kubectl get rs` listing
    /// `nginx-deployment-647677fc66` and then `nginx-deployment-8d94c585f`.
    const REAL_CLUSTER_HASHES: &[(&str, &str)] = &[
        ("nginx:1.14.2", "647677fc66"),
        ("nginx:1.16.1", "8d94c585f"),
    ];

    /// The docs' nginx Deployment template as a v1.33 apiserver stores it.
    const DEFAULTED_NGINX_TEMPLATE: &str = r#"{"metadata":{"creationTimestamp":null,"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}"#;

    #[test]
    fn replica_set_names_match_real_clusters() {
        for (image, hash) in REAL_CLUSTER_HASHES {
            let json = DEFAULTED_NGINX_TEMPLATE.replace("nginx:1.14.2", image);
            let template: PodTemplateSpec = serde_json::from_str(&json).unwrap();
            assert_eq!(compute_hash(&template, None).unwrap(), *hash, "{image}");
        }
    }

    /// (case, template as a client sends it, [hash, with collisionCount 1, with 2]).
    ///
    /// The expected values come from upstream's own code: `ComputeHash` and `DeepHashObject`
    /// as in k8s.io/kubernetes `pkg/controller`, go-spew at the commit Kubernetes vendors
    /// (d8f796af33cc), the unmodified k8s.io/api and k8s.io/apimachinery v0.33.0 type and
    /// Quantity sources, decoding each JSON line with encoding/json and then doing what the
    /// apiserver's protobuf round trip does (empty lists and maps to nil, every Quantity
    /// re-parsed from its `String()`), with `time.Local` set to UTC.
    const UPSTREAM_HASHES: &[(&str, &str, [&str; 3])] = &[
        (
            "minimal",
            r#"{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.14.2"}]}}"#,
            ["5b69b46c99", "6b66674cdb", "54999bd797"],
        ),
        (
            "defaulted_nginx",
            r#"{"metadata":{"creationTimestamp":null,"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.14.2","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent"}],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","securityContext":{},"schedulerName":"default-scheduler"}}"#,
            ["647677fc66", "7879bf67f9", "7474bc67f6"],
        ),
        (
            "restarted_with_empties",
            r#"{"metadata":{"labels":{"app":"web","tier":"front"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-05-01T10:00:00Z"}},"spec":{"containers":[{"name":"web","image":"busybox:latest","command":["sh","-c","httpd -f -p 8080"],"args":[],"env":[],"resources":{"limits":{},"requests":{}}}],"nodeSelector":{},"tolerations":[],"securityContext":{}}}"#,
            ["689dbc8d8c", "55c95d6874", "7f478dc6f7"],
        ),
        (
            "resources_and_probes",
            r#"{"metadata":{"labels":{"app":"api"}},"spec":{"initContainers":[{"name":"sidecar","image":"envoy:1","restartPolicy":"Always","resources":{"requests":{"cpu":"50m","memory":"64Mi"}}}],"containers":[{"name":"api","image":"api:2","workingDir":"/srv","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"containerPort":9090,"hostPort":19090,"protocol":"UDP","hostIP":"127.0.0.1"}],"env":[{"name":"A","value":"1"},{"name":"POD","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"MEM","valueFrom":{"resourceFieldRef":{"containerName":"api","resource":"limits.memory","divisor":"1Mi"}}},{"name":"CPU","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu"}}},{"name":"S","valueFrom":{"secretKeyRef":{"name":"s","key":"k","optional":true}}}],"envFrom":[{"prefix":"CFG_","configMapRef":{"name":"cfg"}}],"resources":{"limits":{"cpu":"1","memory":"128Mi","ephemeral-storage":"2Gi","nvidia.com/gpu":"1"},"requests":{"cpu":"0.1","memory":"1024Mi"}},"resizePolicy":[{"resourceName":"cpu","restartPolicy":"NotRequired"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP","httpHeaders":[{"name":"X","value":"y"}]},"initialDelaySeconds":3,"periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},"readinessProbe":{"tcpSocket":{"port":8080},"periodSeconds":5},"startupProbe":{"grpc":{"port":9090,"service":"health"},"terminationGracePeriodSeconds":10},"lifecycle":{"preStop":{"sleep":{"seconds":5}},"postStart":{"exec":{"command":["true"]}}},"securityContext":{"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},"privileged":false,"readOnlyRootFilesystem":true,"runAsNonRoot":true,"runAsUser":1000,"allowPrivilegeEscalation":false,"seccompProfile":{"type":"RuntimeDefault"}},"volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true,"subPath":"x","mountPropagation":"HostToContainer"}],"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"FallbackToLogsOnError","imagePullPolicy":"Always","stdin":true,"tty":true}],"volumes":[{"name":"data","emptyDir":{"medium":"Memory","sizeLimit":"500Mi"}},{"name":"cfg","configMap":{"name":"cfg","items":[{"key":"a","path":"a.txt","mode":420}],"defaultMode":292,"optional":false}},{"name":"sec","secret":{"secretName":"s","defaultMode":256}},{"name":"host","hostPath":{"path":"/var/log","type":"Directory"}},{"name":"proj","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"downwardAPI":{"items":[{"path":"labels","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.labels"}}]}}],"defaultMode":420}},{"name":"scratch","ephemeral":{"volumeClaimTemplate":{"metadata":{"labels":{"type":"scratch"}},"spec":{"accessModes":["ReadWriteOnce"],"storageClassName":"fast","resources":{"requests":{"storage":"1Gi"}}}}}}],"restartPolicy":"Always","terminationGracePeriodSeconds":60,"activeDeadlineSeconds":3600,"dnsPolicy":"None","dnsConfig":{"nameservers":["10.96.0.10"],"searches":["svc.cluster.local"],"options":[{"name":"ndots","value":"2"},{"name":"edns0"}]},"nodeSelector":{"kubernetes.io/os":"linux","disk":"ssd"},"serviceAccountName":"api","serviceAccount":"api","automountServiceAccountToken":false,"hostname":"api","subdomain":"apis","schedulerName":"default-scheduler","priorityClassName":"high","priority":1000,"preemptionPolicy":"PreemptLowerPriority","enableServiceLinks":true,"securityContext":{"fsGroup":2000,"supplementalGroups":[3000,4000],"sysctls":[{"name":"net.core.somaxconn","value":"1024"}],"fsGroupChangePolicy":"OnRootMismatch"},"imagePullSecrets":[{"name":"regcred"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In","values":["a","b"]}]}]},"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":10,"preference":{"matchFields":[{"key":"metadata.name","operator":"NotIn","values":["n1"]}]}}]},"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"labelSelector":{"matchLabels":{"app":"api"},"matchExpressions":[{"key":"tier","operator":"Exists"}]},"topologyKey":"kubernetes.io/hostname","matchLabelKeys":["pod-template-hash"]}}]}},"tolerations":[{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"dedicated","operator":"Equal","value":"api","effect":"NoSchedule"}],"hostAliases":[{"ip":"10.0.0.1","hostnames":["db","db.local"]}],"topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app":"api"}},"minDomains":2,"nodeAffinityPolicy":"Honor"}],"readinessGates":[{"conditionType":"example.com/ready"}],"os":{"name":"linux"},"hostUsers":false,"setHostnameAsFQDN":false,"shareProcessNamespace":true,"overhead":{"cpu":"250m"},"schedulingGates":[{"name":"wait"}]}}"#,
            ["74f8fc95db", "cc797b74c", "7bd95b748"],
        ),
        (
            "odd_quantities_and_timestamp",
            r#"{"metadata":{"creationTimestamp":"2024-02-29T12:34:56Z","deletionGracePeriodSeconds":30,"labels":{"app":"q","b":"2","a":"1","A":"0"},"annotations":{"note":"ünïcode ✓"}},"spec":{"containers":[{"name":"q","image":"q","resources":{"limits":{"cpu":"+1","memory":"1.5Gi","hugepages-2Mi":"512Ti","example.com/big":"1234567890123456789","example.com/huge":"8Ei","example.com/e":"1e3","example.com/E":"12e3","example.com/frac":"0.5","example.com/nano":"5n","example.com/k":"1000k","example.com/zero":"0Mi","example.com/pi":"1Pi"}}}],"volumes":[{"name":"v","emptyDir":{"sizeLimit":"1Gi"}}]}}"#,
            ["58bf556884", "6b98c9c7c", "5d7657d5c4"],
        ),
        (
            "probes_with_named_ports_and_windows",
            r#"{"metadata":{"labels":{"app":"w"}},"spec":{"containers":[{"name":"w","image":"w","securityContext":{"windowsOptions":{"runAsUserName":"ContainerUser","hostProcess":false},"seLinuxOptions":{"level":"s0:c123,c456"},"appArmorProfile":{"type":"Localhost","localhostProfile":"k8s-apparmor"},"procMount":"Default"},"livenessProbe":{"exec":{"command":["cat","/tmp/healthy"]}}}],"ephemeralContainers":[{"name":"debug","image":"busybox","targetContainerName":"w","stdin":true}],"resourceClaims":[{"name":"gpu","resourceClaimTemplateName":"gpu-template"}],"resources":{"limits":{"cpu":"2"}}}}"#,
            ["678b68845c", "bd68ff948", "54dc95f94c"],
        ),
    ];

    #[test]
    fn hashes_are_upstreams() {
        for (case, json, [plain, once, twice]) in UPSTREAM_HASHES {
            let template: PodTemplateSpec = serde_json::from_str(json).unwrap();
            // Every field the template sets must reach the Go value, or the case proves less.
            let unread = super::super::spew::unread_json_fields(
                "v1.PodTemplateSpec",
                &serde_json::to_value(&template).unwrap(),
            )
            .unwrap();
            assert!(unread.is_empty(), "{case}: {unread:?}");
            assert_eq!(compute_hash(&template, None).unwrap(), *plain, "{case}");
            assert_eq!(compute_hash(&template, Some(1)).unwrap(), *once, "{case}");
            assert_eq!(compute_hash(&template, Some(2)).unwrap(), *twice, "{case}");
            for hash in [plain, once, twice] {
                assert!(hash.len() <= 10 && hash.bytes().all(|c| ALPHANUMS.contains(&c)));
            }
        }
    }

    #[test]
    fn the_spew_rendering_is_upstreams() {
        let template: PodTemplateSpec = serde_json::from_str(UPSTREAM_HASHES[0].1).unwrap();
        // Printed by the same upstream harness as the hashes above.
        let expected = "(v1.PodTemplateSpec){ObjectMeta:(v1.ObjectMeta){Name:(string) GenerateName:(string) Namespace:(string) SelfLink:(string) UID:(types.UID) ResourceVersion:(string) Generation:(int64)0 CreationTimestamp:(v1.Time){Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}} DeletionTimestamp:(*v1.Time)<nil> DeletionGracePeriodSeconds:(*int64)<nil> Labels:(map[string]string)map[app:nginx] Annotations:(map[string]string)<nil> OwnerReferences:([]v1.OwnerReference)<nil> Finalizers:([]string)<nil> ManagedFields:([]v1.ManagedFieldsEntry)<nil>} Spec:(v1.PodSpec){Volumes:([]v1.Volume)<nil> InitContainers:([]v1.Container)<nil> Containers:([]v1.Container)[{Name:(string)nginx Image:(string)nginx:1.14.2 Command:([]string)<nil> Args:([]string)<nil> WorkingDir:(string) Ports:([]v1.ContainerPort)<nil> EnvFrom:([]v1.EnvFromSource)<nil> Env:([]v1.EnvVar)<nil> Resources:(v1.ResourceRequirements){Limits:(v1.ResourceList)<nil> Requests:(v1.ResourceList)<nil> Claims:([]v1.ResourceClaim)<nil>} ResizePolicy:([]v1.ContainerResizePolicy)<nil> RestartPolicy:(*v1.ContainerRestartPolicy)<nil> VolumeMounts:([]v1.VolumeMount)<nil> VolumeDevices:([]v1.VolumeDevice)<nil> LivenessProbe:(*v1.Probe)<nil> ReadinessProbe:(*v1.Probe)<nil> StartupProbe:(*v1.Probe)<nil> Lifecycle:(*v1.Lifecycle)<nil> TerminationMessagePath:(string) TerminationMessagePolicy:(v1.TerminationMessagePolicy) ImagePullPolicy:(v1.PullPolicy) SecurityContext:(*v1.SecurityContext)<nil> Stdin:(bool)false StdinOnce:(bool)false TTY:(bool)false}] EphemeralContainers:([]v1.EphemeralContainer)<nil> RestartPolicy:(v1.RestartPolicy) TerminationGracePeriodSeconds:(*int64)<nil> ActiveDeadlineSeconds:(*int64)<nil> DNSPolicy:(v1.DNSPolicy) NodeSelector:(map[string]string)<nil> ServiceAccountName:(string) DeprecatedServiceAccount:(string) AutomountServiceAccountToken:(*bool)<nil> NodeName:(string) HostNetwork:(bool)false HostPID:(bool)false HostIPC:(bool)false ShareProcessNamespace:(*bool)<nil> SecurityContext:(*v1.PodSecurityContext)<nil> ImagePullSecrets:([]v1.LocalObjectReference)<nil> Hostname:(string) Subdomain:(string) Affinity:(*v1.Affinity)<nil> SchedulerName:(string) Tolerations:([]v1.Toleration)<nil> HostAliases:([]v1.HostAlias)<nil> PriorityClassName:(string) Priority:(*int32)<nil> DNSConfig:(*v1.PodDNSConfig)<nil> ReadinessGates:([]v1.PodReadinessGate)<nil> RuntimeClassName:(*string)<nil> EnableServiceLinks:(*bool)<nil> PreemptionPolicy:(*v1.PreemptionPolicy)<nil> Overhead:(v1.ResourceList)<nil> TopologySpreadConstraints:([]v1.TopologySpreadConstraint)<nil> SetHostnameAsFQDN:(*bool)<nil> OS:(*v1.PodOS)<nil> HostUsers:(*bool)<nil> SchedulingGates:([]v1.PodSchedulingGate)<nil> ResourceClaims:([]v1.PodResourceClaim)<nil> Resources:(*v1.ResourceRequirements)<nil>}}";
        assert_eq!(spew_pod_template(&template).unwrap(), expected);
    }

    #[test]
    fn unparseable_quantities_are_errors() {
        let template: PodTemplateSpec = serde_json::from_str(
            r#"{"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"lots"}}}]}}"#,
        )
        .unwrap();
        let error = compute_hash(&template, None).unwrap_err().to_string();
        assert_eq!(
            error,
            "pod-template-hash: at .spec.containers[0].resources.limits[\"cpu\"]: \
             quantity \"lots\" is invalid: not a quantity"
        );
    }

    #[test]
    fn template_equality_ignores_the_hash_label_and_empties() {
        let plain = template("nginx:1", &[("app", "web")]);
        let hashed = template(
            "nginx:1",
            &[("app", "web"), (POD_TEMPLATE_HASH_LABEL, "abc")],
        );
        let other = template("nginx:2", &[("app", "web")]);
        let mut empty_annotations = plain.clone();
        empty_annotations.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
        let mut annotated = plain.clone();
        annotated.metadata.as_mut().unwrap().annotations = Some(BTreeMap::from([(
            "kubectl.kubernetes.io/restartedAt".to_string(),
            "2024-01-01T00:00:00Z".to_string(),
        )]));
        // (a, b, equal)
        let cases = [
            (&plain, &hashed, true),
            (&plain, &empty_annotations, true),
            (&plain, &other, false),
            (&plain, &annotated, false),
        ];
        for (i, (a, b, equal)) in cases.into_iter().enumerate() {
            assert_eq!(equal_ignore_hash(a, b), equal, "case {i}");
            assert_eq!(equal_ignore_hash(b, a), equal, "case {i} reversed");
        }
    }
}
