//! The Endpoints controller (upstream `pkg/controller/endpoint`): for every Service with a
//! selector, an `Endpoints` object of the same name listing the matching pods' IPs — ready
//! ones under `addresses`, the others under `notReadyAddresses` — with a `targetRef` to each
//! pod and the Service's ports resolved per pod (a named `targetPort` looks the container port
//! up by name). Services without a selector are left alone: their Endpoints are the user's.
//!
//! [`desired_subsets`] decides (pure, with upstream's `RepackSubsets` grouping); [`reconcile`]
//! creates, updates or leaves the Endpoints object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;
use tinykube_apimachinery::labels::Selector;

use crate::error::{is_not_found, Error, Result};
use crate::informer::Change;
use crate::runner::{obj_ref, RESYNC_PERIOD};
use crate::util::{is_deleting, is_pod_ready, key_of, name_of, namespace_of, pod_node, pod_phase};

/// The label upstream puts on Endpoints (and slices) of headless Services.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// Leader-election records stored on Endpoints are not ours to clean up.
const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

/// The Service's selector, when it has one (a Service without selector is not managed).
pub fn service_selector(service: &Service) -> Option<Selector> {
    let selector = service.spec.as_ref()?.selector.as_ref()?;
    Some(Selector::from_map(selector))
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn publish_not_ready(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// Upstream `ShouldPodBeInEndpoints`: not terminal, has an IP, and not terminating unless
/// terminating pods are wanted.
pub fn should_pod_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if matches!(pod_phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    if pod_ips(pod).is_empty() {
        return false;
    }
    include_terminating || !is_deleting(&pod.metadata)
}

/// The pod's IPs (`status.podIPs`, else `status.podIP`).
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.clone())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    status
        .pod_ip
        .iter()
        .filter(|ip| !ip.is_empty())
        .cloned()
        .collect()
}

/// The Service's address family: `IPv4` or `IPv6` (from `ipFamilies`, else the cluster IP).
pub fn service_family(service: &Service) -> &'static str {
    let spec = service.spec.as_ref();
    if let Some(first) = spec
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
    {
        return if first == "IPv6" { "IPv6" } else { "IPv4" };
    }
    match spec.and_then(|s| s.cluster_ip.as_deref()) {
        Some(ip) if ip.contains(':') => "IPv6",
        _ => "IPv4",
    }
}

/// The pod IP of the Service's family.
pub fn pod_ip_for(service: &Service, pod: &Pod) -> Option<String> {
    let v6 = service_family(service) == "IPv6";
    pod_ips(pod).into_iter().find(|ip| ip.contains(':') == v6)
}

/// Upstream `podutil.FindPort`: a numeric targetPort as is, a named one looked up among the
/// containers' ports with the same protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// Upstream `ShouldSetHostname`: the pod names this Service as its subdomain.
pub fn should_set_hostname(pod: &Pod, service: &Service) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    spec.hostname.as_deref().is_some_and(|h| !h.is_empty())
        && spec.subdomain.as_deref() == Some(name_of(&service.metadata))
        && namespace_of(&pod.metadata) == namespace_of(&service.metadata)
}

/// A reference to a pod, as endpoints carry it.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// A port as (name, number, protocol).
pub type PortKey = (String, i32, String);

/// An address, whether it is ready, and the ports it offers.
type AddressEntry = (EndpointAddress, bool, BTreeSet<PortKey>);

fn port_key(port: &EndpointPort) -> PortKey {
    (
        port.name.clone().unwrap_or_default(),
        port.port,
        port.protocol.clone().unwrap_or_default(),
    )
}

fn address_key(address: &EndpointAddress) -> (String, String) {
    (
        address.ip.clone(),
        address
            .target_ref
            .as_ref()
            .and_then(|r| r.uid.clone())
            .unwrap_or_default(),
    )
}

/// Upstream `syncService`'s subsets: one entry per (pod, resolved port), repacked into
/// subsets of addresses that share the same ports. Sorted, so equal inputs give equal output.
pub fn desired_subsets(service: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let Some(selector) = service_selector(service) else {
        return Vec::new();
    };
    let publish = publish_not_ready(service);
    let ports: &[ServicePort] = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    // address -> (address, ready, ports offered)
    let mut addresses: BTreeMap<(String, String), AddressEntry> = BTreeMap::new();
    let mut port_defs: BTreeMap<(String, i32, String), EndpointPort> = BTreeMap::new();
    for pod in pods {
        if namespace_of(&pod.metadata) != namespace_of(&service.metadata)
            || !selector.matches(&pod.metadata.labels)
            || !should_pod_be_in_endpoints(pod, publish)
        {
            continue;
        }
        let Some(ip) = pod_ip_for(service, pod) else {
            continue;
        };
        let mut address = EndpointAddress {
            ip,
            node_name: pod_node(pod).map(str::to_string),
            target_ref: Some(pod_reference(pod)),
            hostname: None,
        };
        if should_set_hostname(pod, service) {
            address.hostname = pod.spec.as_ref().and_then(|s| s.hostname.clone());
        }
        let ready = publish || is_pod_ready(pod);
        let mut offered = BTreeSet::new();
        if ports.is_empty() {
            if !is_headless(service) {
                continue;
            }
        } else {
            let mut any = false;
            for port in ports {
                let Some(number) = find_port(pod, port) else {
                    continue;
                };
                let endpoint_port = EndpointPort {
                    name: port.name.clone(),
                    port: number,
                    protocol: Some(port.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: port.app_protocol.clone(),
                };
                let key = port_key(&endpoint_port);
                port_defs.insert(key.clone(), endpoint_port);
                offered.insert(key);
                any = true;
            }
            if !any {
                continue;
            }
        }
        let key = address_key(&address);
        let entry = addresses
            .entry(key)
            .or_insert((address, ready, BTreeSet::new()));
        entry.1 = entry.1 && ready;
        entry.2.extend(offered);
    }
    // Group addresses by the set of ports they offer.
    let mut groups: BTreeMap<Vec<PortKey>, (Vec<EndpointAddress>, Vec<EndpointAddress>)> =
        BTreeMap::new();
    for (_, (address, ready, offered)) in addresses {
        let group = groups.entry(offered.into_iter().collect()).or_default();
        if ready {
            group.0.push(address);
        } else {
            group.1.push(address);
        }
    }
    let mut subsets: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(ports, (ready, not_ready))| EndpointSubset {
            addresses: (!ready.is_empty()).then_some(ready),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then(|| {
                ports
                    .iter()
                    .filter_map(|k| port_defs.get(k).cloned())
                    .collect()
            }),
        })
        .collect();
    subsets.sort_by_key(first_ip);
    subsets
}

fn first_ip(subset: &EndpointSubset) -> String {
    subset
        .addresses
        .iter()
        .chain(subset.not_ready_addresses.iter())
        .flatten()
        .map(|a| a.ip.clone())
        .min()
        .unwrap_or_default()
}

/// Subsets in a canonical order, to compare what is stored with what is wanted.
pub fn normalize_subsets(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut out: Vec<EndpointSubset> = subsets
        .iter()
        .map(|s| {
            let sort = |list: &Option<Vec<EndpointAddress>>| {
                list.clone().filter(|l| !l.is_empty()).map(|mut l| {
                    l.sort_by_key(address_key);
                    l
                })
            };
            EndpointSubset {
                addresses: sort(&s.addresses),
                not_ready_addresses: sort(&s.not_ready_addresses),
                ports: s.ports.clone().filter(|p| !p.is_empty()).map(|mut p| {
                    p.sort_by_key(port_key);
                    p
                }),
            }
        })
        .collect();
    out.sort_by_key(first_ip);
    out
}

/// The labels of a Service's Endpoints (and slices): the Service's, plus the headless mark.
pub fn endpoint_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// Whether the pod fields an Endpoints controller reads changed (upstream `podEndpointsChanged`
/// plus labels).
pub fn endpoint_relevant_change(old: &Pod, new: &Pod) -> bool {
    let project = |p: &Pod| {
        (
            p.metadata.labels.clone(),
            p.metadata.deletion_timestamp.is_some(),
            pod_ips(p),
            is_pod_ready(p),
            pod_phase(p).to_string(),
            pod_node(p).map(str::to_string),
            p.spec
                .as_ref()
                .map(|s| (s.hostname.clone(), s.subdomain.clone())),
        )
    };
    project(old) != project(new)
}

/// Services (in the pod's namespace) whose selector matches either state of a pod change.
pub fn services_for_pod(
    services: &Store<Service>,
    change: &Change<Pod>,
) -> Vec<ObjectRef<Service>> {
    if let Change::Applied {
        old: Some(old),
        new,
    } = change
    {
        if !endpoint_relevant_change(old, new) {
            return Vec::new();
        }
    }
    let states = change.states();
    let ns = namespace_of(&change.object().metadata);
    let mut keys: Vec<ObjectRef<Service>> = services
        .state()
        .into_iter()
        .filter(|svc| namespace_of(&svc.metadata) == ns)
        .filter(|svc| {
            service_selector(svc)
                .is_some_and(|sel| states.iter().any(|p| sel.matches(&p.metadata.labels)))
        })
        .map(|svc| obj_ref(name_of(&svc.metadata), Some(ns)))
        .collect();
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    keys.dedup();
    keys
}

/// Shared state of the Endpoints controller.
pub struct EndpointsController {
    pub client: Client,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    pub endpoints: Store<Endpoints>,
}

impl EndpointsController {
    /// Services to sync after an Endpoints change (someone edited or deleted ours).
    pub fn on_endpoints_change(&self, change: Change<Endpoints>) -> Vec<ObjectRef<Service>> {
        let ep = change.object();
        vec![obj_ref(
            name_of(&ep.metadata),
            ep.metadata.namespace.as_deref(),
        )]
    }

    /// A deleted Service takes its Endpoints with it (upstream deletes them in `syncService`).
    pub async fn service_deleted(&self, service: &Service) {
        let key = key_of(&service.metadata);
        let api: Api<Endpoints> =
            Api::namespaced(self.client.clone(), namespace_of(&service.metadata));
        match api
            .delete(name_of(&service.metadata), &DeleteParams::default())
            .await
        {
            Ok(_) => tracing::info!(service = %key, "deleted endpoints of deleted service"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => tracing::warn!(service = %key, error = %e, "could not delete endpoints"),
        }
    }

    /// Upstream `checkLeftoverEndpoints`: Endpoints whose Service is gone are deleted at start.
    pub async fn delete_leftovers(&self) {
        for ep in self.endpoints.state() {
            let leader = ep
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(LEADER_ANNOTATION));
            let service =
                obj_ref::<Service>(name_of(&ep.metadata), ep.metadata.namespace.as_deref());
            if leader || self.services.get(&service).is_some() {
                continue;
            }
            let api: Api<Endpoints> =
                Api::namespaced(self.client.clone(), namespace_of(&ep.metadata));
            match api
                .delete(name_of(&ep.metadata), &DeleteParams::default())
                .await
            {
                Ok(_) => {
                    tracing::info!(endpoints = %key_of(&ep.metadata), "deleted endpoints without a service")
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    tracing::warn!(endpoints = %key_of(&ep.metadata), error = %e, "could not delete leftover endpoints")
                }
            }
        }
    }
}

/// One sync of one Service's Endpoints (upstream `syncService`).
pub async fn reconcile(service: Arc<Service>, ctx: Arc<EndpointsController>) -> Result<Action> {
    if service_selector(&service).is_none() {
        return Ok(Action::await_change());
    }
    let ns = namespace_of(&service.metadata).to_string();
    let name = name_of(&service.metadata).to_string();
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(|p| &**p)
        .filter(|p| namespace_of(&p.metadata) == ns)
        .collect();
    let subsets = desired_subsets(&service, &pods);
    let labels = endpoint_labels(&service);
    let current = ctx.endpoints.get(&obj_ref(&name, Some(&ns)));
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &ns);
    match current {
        Some(current) => {
            let same_subsets =
                normalize_subsets(current.subsets.as_deref().unwrap_or_default()) == subsets;
            let same_labels = current.metadata.labels.clone().unwrap_or_default() == labels;
            if same_subsets && same_labels {
                return Ok(Action::requeue(RESYNC_PERIOD));
            }
            let mut updated = (*current).clone();
            updated.metadata.labels = Some(labels);
            updated.subsets = (!subsets.is_empty()).then_some(subsets);
            api.replace(&name, &PostParams::default(), &updated)
                .await
                .map_err(|e| Error::api("update endpoints", key_of(&service.metadata), e))?;
            tracing::debug!(service = %key_of(&service.metadata), "updated endpoints");
        }
        None => {
            let endpoints = Endpoints {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    ..Default::default()
                },
                subsets: (!subsets.is_empty()).then_some(subsets),
            };
            match api.create(&PostParams::default(), &endpoints).await {
                Ok(_) => tracing::debug!(service = %key_of(&service.metadata), "created endpoints"),
                // AlreadyExists means our cache lags: the retry sees the object.
                Err(e) => return Err(Error::api("create endpoints", key_of(&service.metadata), e)),
            }
        }
    }
    Ok(Action::requeue(RESYNC_PERIOD))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodIP, PodSpec, PodStatus, ServiceSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    pub(crate) fn service(selector: Option<&[(&str, &str)]>, ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("svc-uid".into()),
                labels: Some(BTreeMap::from([("team".to_string(), "a".to_string())])),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: selector.map(|s| {
                    s.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                }),
                ports: Some(ports),
                cluster_ip: Some("10.96.0.10".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub(crate) fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some(name.into()),
            port,
            target_port: Some(target),
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    /// A pod: name, labels, IP, ready, named container ports.
    pub(crate) fn pod(
        name: &str,
        app: &str,
        ip: Option<&str>,
        ready: bool,
        ports: &[(&str, i32)],
    ) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(
                        ports
                            .iter()
                            .map(|(n, p)| ContainerPort {
                                name: Some(n.to_string()),
                                container_port: *p,
                                protocol: Some("TCP".into()),
                                ..Default::default()
                            })
                            .collect(),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: ip.map(str::to_string),
                pod_ips: ip.map(|ip| vec![PodIP { ip: ip.to_string() }]),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn summary(subsets: &[EndpointSubset]) -> Vec<Summary> {
        subsets
            .iter()
            .map(|s| {
                let ips = |l: &Option<Vec<EndpointAddress>>| {
                    l.iter().flatten().map(|a| a.ip.clone()).collect()
                };
                (
                    ips(&s.addresses),
                    ips(&s.not_ready_addresses),
                    s.ports
                        .iter()
                        .flatten()
                        .map(|p| (p.name.clone().unwrap_or_default(), p.port))
                        .collect(),
                )
            })
            .collect()
    }

    /// (ready IPs, not-ready IPs, ports) of one subset.
    type Summary = (Vec<String>, Vec<String>, Vec<(String, i32)>);

    type Expected = Vec<(
        Vec<&'static str>,
        Vec<&'static str>,
        Vec<(&'static str, i32)>,
    )>;

    fn expected(e: Expected) -> Vec<Summary> {
        e.into_iter()
            .map(|(a, n, p)| {
                (
                    a.into_iter().map(str::to_string).collect(),
                    n.into_iter().map(str::to_string).collect(),
                    p.into_iter().map(|(n, p)| (n.to_string(), p)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn subsets_follow_pods() {
        let http_by_name = || vec![port("http", 80, IntOrString::String("web".into()))];
        let http_by_number = || vec![port("http", 80, IntOrString::Int(8080))];
        let mut terminating = pod("t", "web", Some("10.0.0.9"), true, &[("web", 8080)]);
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let mut finished = pod("f", "web", Some("10.0.0.8"), false, &[("web", 8080)]);
        finished.status.as_mut().unwrap().phase = Some("Succeeded".into());
        // (name, service, pods, expected subsets)
        let cases: Vec<(&str, Service, Vec<Pod>, Expected)> = vec![
            (
                "ready and not ready",
                service(Some(&[("app", "web")]), http_by_number()),
                vec![
                    pod("a", "web", Some("10.0.0.1"), true, &[]),
                    pod("b", "web", Some("10.0.0.2"), false, &[]),
                    pod("c", "db", Some("10.0.0.3"), true, &[]),
                    pod("d", "web", None, true, &[]),
                ],
                vec![(vec!["10.0.0.1"], vec!["10.0.0.2"], vec![("http", 8080)])],
            ),
            (
                "named target ports resolve per pod",
                service(Some(&[("app", "web")]), http_by_name()),
                vec![
                    pod("a", "web", Some("10.0.0.1"), true, &[("web", 8080)]),
                    pod("b", "web", Some("10.0.0.2"), true, &[("web", 9090)]),
                    pod("c", "web", Some("10.0.0.3"), true, &[("other", 1)]),
                ],
                vec![
                    (vec!["10.0.0.1"], vec![], vec![("http", 8080)]),
                    (vec!["10.0.0.2"], vec![], vec![("http", 9090)]),
                ],
            ),
            (
                "terminating and finished pods are left out",
                service(Some(&[("app", "web")]), http_by_name()),
                vec![
                    pod("a", "web", Some("10.0.0.1"), true, &[("web", 8080)]),
                    terminating.clone(),
                    finished,
                ],
                vec![(vec!["10.0.0.1"], vec![], vec![("http", 8080)])],
            ),
            (
                "two ports, one subset",
                service(
                    Some(&[("app", "web")]),
                    vec![
                        port("http", 80, IntOrString::Int(8080)),
                        port("metrics", 9100, IntOrString::Int(9100)),
                    ],
                ),
                vec![pod("a", "web", Some("10.0.0.1"), true, &[])],
                vec![(
                    vec!["10.0.0.1"],
                    vec![],
                    vec![("http", 8080), ("metrics", 9100)],
                )],
            ),
            (
                "no selector: nothing",
                service(None, http_by_number()),
                vec![pod("a", "web", Some("10.0.0.1"), true, &[])],
                vec![],
            ),
            (
                "no pods",
                service(Some(&[("app", "web")]), http_by_number()),
                vec![],
                vec![],
            ),
        ];
        for (name, svc, pods, want) in cases {
            let refs: Vec<&Pod> = pods.iter().collect();
            let got = desired_subsets(&svc, &refs);
            assert_eq!(summary(&got), expected(want), "{name}");
            assert_eq!(normalize_subsets(&got), got, "{name}: output is canonical");
        }
    }

    #[test]
    fn addresses_carry_target_refs_and_publish_not_ready() {
        let mut svc = service(
            Some(&[("app", "web")]),
            vec![port("http", 80, IntOrString::Int(80))],
        );
        let pods = [pod("a", "web", Some("10.0.0.1"), false, &[])];
        let refs: Vec<&Pod> = pods.iter().collect();
        let subsets = desired_subsets(&svc, &refs);
        let address = &subsets[0].not_ready_addresses.as_ref().unwrap()[0];
        let target = address.target_ref.as_ref().unwrap();
        assert_eq!(
            (
                target.kind.as_deref(),
                target.name.as_deref(),
                target.uid.as_deref(),
                target.namespace.as_deref()
            ),
            (Some("Pod"), Some("a"), Some("uid-a"), Some("ns"))
        );
        assert_eq!(address.node_name.as_deref(), Some("n1"));
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let subsets = desired_subsets(&svc, &refs);
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 1);
    }

    #[test]
    fn labels_and_relevant_changes() {
        let mut svc = service(Some(&[("app", "web")]), vec![]);
        assert_eq!(
            endpoint_labels(&svc).get("team").map(String::as_str),
            Some("a")
        );
        assert!(!endpoint_labels(&svc).contains_key(HEADLESS_LABEL));
        svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        assert_eq!(
            endpoint_labels(&svc)
                .get(HEADLESS_LABEL)
                .map(String::as_str),
            Some("")
        );

        let a = pod("a", "web", Some("10.0.0.1"), true, &[]);
        let mut b = a.clone();
        b.metadata.resource_version = Some("2".into());
        assert!(!endpoint_relevant_change(&a, &b));
        let c = pod("a", "web", Some("10.0.0.1"), false, &[]);
        assert!(endpoint_relevant_change(&a, &c));
        let d = pod("a", "web", Some("10.0.0.2"), true, &[]);
        assert!(endpoint_relevant_change(&a, &d));
        let e = pod("a", "db", Some("10.0.0.1"), true, &[]);
        assert!(endpoint_relevant_change(&a, &e));
    }
}
