//! Pod spec -> CRI configs: environment (with `valueFrom` and Service variables), resources ->
//! cgroup values, securityContext, labels. Pure: the API objects it needs are passed in.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use tinykube_apimachinery::quantity::Quantity;
use tinykube_cri_proto::v1 as cri;

/// Labels the kubelet puts on sandboxes and containers (upstream's names).
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// API objects the environment of a pod's containers refers to.
#[derive(Debug, Clone, Default)]
pub struct EnvSources {
    pub secrets: HashMap<String, Secret>,
    pub config_maps: HashMap<String, ConfigMap>,
    pub services: Vec<Service>,
    pub pod_ip: String,
    pub node_name: String,
    pub host_ip: String,
}

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    if let Some(v) = s.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    s.string_data.as_ref().and_then(|d| d.get(key)).cloned()
}

fn config_map_value(c: &ConfigMap, key: &str) -> Option<String> {
    c.data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
        .or_else(|| {
            c.binary_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        })
}

/// Upstream's Service environment variables for `services` (those with a ClusterIP).
pub fn service_env(services: &[Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut sorted: Vec<&Service> = services.iter().collect();
    sorted.sort_by_key(|s| s.metadata.name.clone());
    for svc in sorted {
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let name = svc
            .metadata
            .name
            .clone()
            .unwrap_or_default()
            .to_uppercase()
            .replace('-', "_");
        let ports = spec.ports.clone().unwrap_or_default();
        out.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        let Some(first) = ports.first() else { continue };
        out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        for p in &ports {
            if let Some(pn) = &p.name {
                out.push((
                    format!(
                        "{name}_SERVICE_PORT_{}",
                        pn.to_uppercase().replace('-', "_")
                    ),
                    p.port.to_string(),
                ));
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| {
            p.protocol.clone().unwrap_or_else(|| "TCP".into())
        };
        out.push((
            format!("{name}_PORT"),
            format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port),
        ));
        for p in &ports {
            let pr = proto(p);
            let prefix = format!("{name}_PORT_{}_{}", p.port, pr.to_uppercase());
            out.push((
                prefix.clone(),
                format!("{}://{ip}:{}", pr.to_lowercase(), p.port),
            ));
            out.push((format!("{prefix}_PROTO"), pr.to_lowercase()));
            out.push((format!("{prefix}_PORT"), p.port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.clone()));
        }
    }
    out
}

/// Expands `$(VAR)` references to earlier variables, as upstream does (`$$` escapes).
pub fn expand(input: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(a) = after.strip_prefix('$') {
            out.push('$');
            rest = a;
        } else if let Some(a) = after.strip_prefix('(') {
            match a.find(')') {
                Some(end) if vars.contains_key(&a[..end]) => {
                    out.push_str(&vars[&a[..end]]);
                    rest = &a[end + 1..];
                }
                Some(end) => {
                    out.push_str(&rest[i..i + 2 + end + 1]);
                    rest = &a[end + 1..];
                }
                None => {
                    out.push_str(&rest[i..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The environment of container `c` in `pod`: Service variables, then envFrom, then env
/// (later wins). Errors name the missing object or key.
pub fn container_env(
    pod: &Pod,
    c: &Container,
    src: &EnvSources,
) -> Result<Vec<(String, String)>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut vars: HashMap<String, String> = HashMap::new();
    let set =
        |k: String, v: String, order: &mut Vec<String>, vars: &mut HashMap<String, String>| {
            if vars.insert(k.clone(), v).is_none() {
                order.push(k);
            }
        };
    let enable_links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    for (k, v) in service_env(&src.services) {
        if enable_links || k.ends_with("_SERVICE_HOST") || k.contains("_SERVICE_PORT") {
            set(k, v, &mut order, &mut vars);
        }
    }
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match src.config_maps.get(&r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        set(format!("{prefix}{k}"), v.clone(), &mut order, &mut vars);
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match src.secrets.get(&r.name) {
                Some(s) => {
                    for k in s.data.iter().flatten().map(|(k, _)| k) {
                        if let Some(v) = secret_value(s, k) {
                            set(format!("{prefix}{k}"), v, &mut order, &mut vars);
                        }
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
            }
        }
    }
    let meta = &pod.metadata;
    for e in c.env.iter().flatten() {
        let value = if let Some(vf) = &e.value_from {
            if let Some(f) = &vf.field_ref {
                let v = match f.field_path.as_str() {
                    "metadata.name" => meta.name.clone().unwrap_or_default(),
                    "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
                    "metadata.uid" => meta.uid.clone().unwrap_or_default(),
                    "spec.nodeName" => src.node_name.clone(),
                    "spec.serviceAccountName" => pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.service_account_name.clone())
                        .unwrap_or_default(),
                    "status.podIP" => src.pod_ip.clone(),
                    "status.podIPs" => src.pod_ip.clone(),
                    "status.hostIP" | "status.hostIPs" => src.host_ip.clone(),
                    p if p.starts_with("metadata.labels['") => {
                        let key = p
                            .trim_start_matches("metadata.labels['")
                            .trim_end_matches("']");
                        meta.labels
                            .as_ref()
                            .and_then(|l| l.get(key))
                            .cloned()
                            .unwrap_or_default()
                    }
                    p if p.starts_with("metadata.annotations['") => {
                        let key = p
                            .trim_start_matches("metadata.annotations['")
                            .trim_end_matches("']");
                        meta.annotations
                            .as_ref()
                            .and_then(|l| l.get(key))
                            .cloned()
                            .unwrap_or_default()
                    }
                    "metadata.labels" => format_map(meta.labels.as_ref()),
                    "metadata.annotations" => format_map(meta.annotations.as_ref()),
                    other => return Err(format!("unsupported fieldRef {other:?}")),
                };
                Some(v)
            } else if let Some(r) = &vf.secret_key_ref {
                match src.secrets.get(&r.name).map(|s| secret_value(s, &r.key)) {
                    Some(Some(v)) => Some(v),
                    _ if r.optional == Some(true) => None,
                    Some(None) => {
                        return Err(format!("couldn't find key {} in Secret {}", r.key, r.name))
                    }
                    None => return Err(format!("secret \"{}\" not found", r.name)),
                }
            } else if let Some(r) = &vf.config_map_key_ref {
                match src
                    .config_maps
                    .get(&r.name)
                    .map(|c| config_map_value(c, &r.key))
                {
                    Some(Some(v)) => Some(v),
                    _ if r.optional == Some(true) => None,
                    Some(None) => {
                        return Err(format!(
                            "couldn't find key {} in ConfigMap {}",
                            r.key, r.name
                        ))
                    }
                    None => return Err(format!("configmap \"{}\" not found", r.name)),
                }
            } else {
                vf.resource_field_ref
                    .as_ref()
                    .map(|r| resource_field(c, &r.resource))
            }
        } else {
            Some(expand(e.value.as_deref().unwrap_or(""), &vars))
        };
        if let Some(v) = value {
            set(e.name.clone(), v, &mut order, &mut vars);
        }
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let v = vars[&k].clone();
            (k, v)
        })
        .collect())
}

fn format_map(m: Option<&BTreeMap<String, String>>) -> String {
    m.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn resource_field(c: &Container, resource: &str) -> String {
    let r = c.resources.clone().unwrap_or_default();
    let (map, key) = match resource.split_once('.') {
        Some(("limits", k)) => (r.limits, k.to_string()),
        Some(("requests", k)) => (r.requests, k.to_string()),
        _ => return String::new(),
    };
    let Some(q) = map.and_then(|m| m.get(&key).cloned()) else {
        return String::new();
    };
    match Quantity::parse(&q.0) {
        Ok(q) if key == "cpu" => ((q.milli_value() + 999) / 1000).to_string(),
        Ok(q) => q.value().to_string(),
        Err(_) => q.0,
    }
}

/// CPU and memory of a container as cgroup values (upstream's conversions: shares =
/// milliCPU*1024/1000 with a minimum of 2, quota = milliCPU*period/1000 with period 100 ms).
pub fn linux_resources(c: &Container) -> cri::LinuxContainerResources {
    let r = c.resources.clone().unwrap_or_default();
    let get =
        |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| {
            m.as_ref()
                .and_then(|m| m.get(k))
                .and_then(|q| Quantity::parse(&q.0).ok())
        };
    let cpu_limit = get(&r.limits, "cpu");
    let cpu_request = get(&r.requests, "cpu").or_else(|| cpu_limit.clone());
    let mem_limit = get(&r.limits, "memory");
    let mut out = cri::LinuxContainerResources {
        cpu_shares: 2,
        ..Default::default()
    };
    if let Some(q) = cpu_request {
        out.cpu_shares = (q.milli_value() * 1024 / 1000).max(2);
    }
    if let Some(q) = cpu_limit {
        out.cpu_period = 100_000;
        out.cpu_quota = (q.milli_value() * 100_000 / 1000).max(1000);
    }
    if let Some(q) = mem_limit {
        out.memory_limit_in_bytes = q.value();
    }
    out
}

/// The container's Linux security context (container settings over pod settings).
pub fn security_context(pod: &Pod, c: &Container) -> cri::LinuxContainerSecurityContext {
    let psc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    let sc = c.security_context.clone().unwrap_or_default();
    let share_pid = pod.spec.as_ref().and_then(|s| s.share_process_namespace) == Some(true);
    let host_net = pod.spec.as_ref().and_then(|s| s.host_network) == Some(true);
    let host_pid = pod.spec.as_ref().and_then(|s| s.host_pid) == Some(true);
    cri::LinuxContainerSecurityContext {
        capabilities: sc.capabilities.as_ref().map(|caps| cri::Capability {
            add_capabilities: caps.add.clone().unwrap_or_default(),
            drop_capabilities: caps.drop.clone().unwrap_or_default(),
            add_ambient_capabilities: vec![],
        }),
        privileged: sc.privileged.unwrap_or(false),
        namespace_options: Some(namespace_options(host_net, share_pid, host_pid)),
        run_as_user: sc
            .run_as_user
            .or(psc.run_as_user)
            .map(|value| cri::Int64Value { value }),
        run_as_group: sc
            .run_as_group
            .or(psc.run_as_group)
            .map(|value| cri::Int64Value { value }),
        readonly_rootfs: sc.read_only_root_filesystem.unwrap_or(false),
        supplemental_groups: psc.supplemental_groups.unwrap_or_default(),
        no_new_privs: !sc.allow_privilege_escalation.unwrap_or(true),
        ..Default::default()
    }
}

pub fn namespace_options(host_net: bool, share_pid: bool, host_pid: bool) -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: if host_net {
            cri::NamespaceMode::Node
        } else {
            cri::NamespaceMode::Pod
        } as i32,
        pid: if host_pid {
            cri::NamespaceMode::Node
        } else if share_pid {
            cri::NamespaceMode::Pod
        } else {
            cri::NamespaceMode::Container
        } as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        target_id: String::new(),
    }
}

/// Labels identifying a pod's sandbox.
pub fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let m = &pod.metadata;
    let mut l: HashMap<String, String> = m.labels.clone().unwrap_or_default().into_iter().collect();
    l.insert(LABEL_POD_NAME.into(), m.name.clone().unwrap_or_default());
    l.insert(
        LABEL_POD_NAMESPACE.into(),
        m.namespace.clone().unwrap_or_default(),
    );
    l.insert(LABEL_POD_UID.into(), m.uid.clone().unwrap_or_default());
    l
}

/// Whether the image must be pulled under `imagePullPolicy` (default: Always for `:latest`
/// or untagged images, IfNotPresent otherwise).
pub fn must_pull(c: &Container, present: bool) -> bool {
    let image = c.image.clone().unwrap_or_default();
    let policy = c.image_pull_policy.clone().unwrap_or_else(|| {
        let last = image.rsplit('/').next().unwrap_or("");
        if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
            "IfNotPresent".into()
        } else {
            "Always".into()
        }
    });
    match policy.as_str() {
        "Never" => false,
        "IfNotPresent" => !present,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapKeySelector, EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec,
        ResourceRequirements, SecretKeySelector, ServicePort, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    fn svc(name: &str, ip: &str, ports: &[(i32, Option<&str>)]) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(p, n)| ServicePort {
                            port: *p,
                            name: n.map(str::to_string),
                            protocol: Some("TCP".into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn service_variables_match_upstream() {
        let env: HashMap<_, _> = service_env(&[svc(
            "web-app",
            "10.96.0.10",
            &[(80, Some("http")), (443, None)],
        )])
        .into_iter()
        .collect();
        assert_eq!(env["WEB_APP_SERVICE_HOST"], "10.96.0.10");
        assert_eq!(env["WEB_APP_SERVICE_PORT"], "80");
        assert_eq!(env["WEB_APP_SERVICE_PORT_HTTP"], "80");
        assert_eq!(env["WEB_APP_PORT"], "tcp://10.96.0.10:80");
        assert_eq!(env["WEB_APP_PORT_443_TCP"], "tcp://10.96.0.10:443");
        assert_eq!(env["WEB_APP_PORT_443_TCP_ADDR"], "10.96.0.10");
        assert_eq!(env["WEB_APP_PORT_80_TCP_PORT"], "80");
        assert_eq!(env["WEB_APP_PORT_80_TCP_PROTO"], "tcp");
        assert!(service_env(&[svc("headless", "None", &[(80, None)])]).is_empty());
    }

    #[test]
    fn env_value_from() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u-1".into()),
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            ..Default::default()
        };
        let ev = |name: &str, src: EnvVarSource| EnvVar {
            name: name.into(),
            value_from: Some(src),
            ..Default::default()
        };
        let field = |p: &str| EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: p.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = Container {
            name: "c".into(),
            env: Some(vec![
                EnvVar {
                    name: "A".into(),
                    value: Some("x".into()),
                    ..Default::default()
                },
                EnvVar {
                    name: "B".into(),
                    value: Some("$(A)-$(NOPE)-$$(A)".into()),
                    ..Default::default()
                },
                ev("NAME", field("metadata.name")),
                ev("NS", field("metadata.namespace")),
                ev("UID", field("metadata.uid")),
                ev("APP", field("metadata.labels['app']")),
                ev("IP", field("status.podIP")),
                ev("NODE", field("spec.nodeName")),
                ev(
                    "S",
                    EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: "s".into(),
                            key: "k".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    },
                ),
                ev(
                    "C",
                    EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: "c".into(),
                            key: "k".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    },
                ),
            ]),
            ..Default::default()
        };
        let src = EnvSources {
            secrets: HashMap::from([(
                "s".into(),
                Secret {
                    data: Some(BTreeMap::from([("k".into(), ByteString(b"sv".to_vec()))])),
                    ..Default::default()
                },
            )]),
            config_maps: HashMap::from([(
                "c".into(),
                ConfigMap {
                    data: Some(BTreeMap::from([("k".into(), "cv".into())])),
                    ..Default::default()
                },
            )]),
            pod_ip: "10.244.0.5".into(),
            node_name: "n1".into(),
            ..Default::default()
        };
        let env: HashMap<_, _> = container_env(&pod, &c, &src).unwrap().into_iter().collect();
        assert_eq!(env["B"], "x-$(NOPE)-$(A)");
        assert_eq!(
            (
                env["NAME"].as_str(),
                env["NS"].as_str(),
                env["UID"].as_str()
            ),
            ("p", "ns", "u-1")
        );
        assert_eq!(
            (
                env["APP"].as_str(),
                env["IP"].as_str(),
                env["NODE"].as_str()
            ),
            ("web", "10.244.0.5", "n1")
        );
        assert_eq!((env["S"].as_str(), env["C"].as_str()), ("sv", "cv"));
        let missing = EnvSources::default();
        assert!(container_env(&pod, &c, &missing)
            .unwrap_err()
            .contains("secret \"s\" not found"));
    }

    #[test]
    fn resources_to_cgroup_values() {
        let q = |s: &str| k8s_openapi::apimachinery::pkg::api::resource::Quantity(s.into());
        let c = Container {
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([
                    ("cpu".into(), q("500m")),
                    ("memory".into(), q("64Mi")),
                ])),
                requests: Some(BTreeMap::from([("cpu".into(), q("250m"))])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = linux_resources(&c);
        assert_eq!(
            (
                r.cpu_period,
                r.cpu_quota,
                r.cpu_shares,
                r.memory_limit_in_bytes
            ),
            (100_000, 50_000, 256, 64 << 20)
        );
        let r = linux_resources(&Container::default());
        assert_eq!(
            (r.cpu_quota, r.cpu_shares, r.memory_limit_in_bytes),
            (0, 2, 0)
        );
    }

    #[test]
    fn pull_policy_defaults() {
        let c = |img: &str, p: Option<&str>| Container {
            image: Some(img.into()),
            image_pull_policy: p.map(str::to_string),
            ..Default::default()
        };
        assert!(must_pull(&c("busybox", None), true));
        assert!(!must_pull(&c("busybox:1.36", None), true));
        assert!(must_pull(&c("busybox:1.36", None), false));
        assert!(!must_pull(&c("busybox", Some("Never")), false));
        assert!(!must_pull(&c("busybox", Some("IfNotPresent")), true));
    }
}
