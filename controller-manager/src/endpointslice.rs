//! The EndpointSlice controller (upstream `pkg/controller/endpointslice`): the same pods as
//! [`crate::endpoints`] in `discovery.k8s.io/v1` EndpointSlices, which kube-proxy reads. Each
//! endpoint carries the `ready`, `serving` and `terminating` conditions (terminating pods stay
//! listed, not ready), its node and a `targetRef`; endpoints are grouped by the ports they
//! resolve to, at most [`MAX_ENDPOINTS_PER_SLICE`] per slice. A Service with no endpoints keeps
//! one empty placeholder slice, as upstream. Slices are owned by their Service (the garbage
//! collector removes them with it) and labelled `kubernetes.io/service-name` and
//! `endpointslice.kubernetes.io/managed-by`.
//!
//! [`desired_slices`] and [`plan_slices`] decide (pure); [`reconcile`] applies.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Client;

use crate::endpoints::{
    endpoint_labels, find_port, pod_ip_for, pod_reference, service_family, service_selector,
    should_pod_be_in_endpoints, should_set_hostname, PortKey,
};
use crate::error::{is_not_found, Error, Result};
use crate::informer::Change;
use crate::informers::{MANAGED_BY_CONTROLLER, MANAGED_BY_LABEL};
use crate::runner::{obj_ref, RESYNC_PERIOD};
use crate::util::{
    controller_ref, is_deleting, is_pod_ready, key_of, name_of, namespace_of, pod_node,
};

/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One slice as it should be: address type, ports and endpoints (both in canonical order).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSlice {
    pub address_type: String,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

fn port_key(p: &EndpointPort) -> PortKey {
    (
        p.name.clone().unwrap_or_default(),
        p.port.unwrap_or(0),
        p.protocol.clone().unwrap_or_default(),
    )
}

fn endpoint_key(e: &Endpoint) -> (Vec<String>, String) {
    (
        e.addresses.clone(),
        e.target_ref
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default(),
    )
}

/// Upstream `podToEndpoint`: ready = serving and not terminating (or publishNotReadyAddresses).
pub fn pod_to_endpoint(service: &Service, pod: &Pod, ip: String) -> Endpoint {
    let publish = service
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let serving = publish || is_pod_ready(pod);
    let terminating = is_deleting(&pod.metadata);
    let ready = publish || (serving && !terminating);
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        node_name: pod_node(pod).map(str::to_string),
        target_ref: Some(pod_reference(pod)),
        hostname: if should_set_hostname(pod, service) {
            pod.spec.as_ref().and_then(|s| s.hostname.clone())
        } else {
            None
        },
        ..Default::default()
    }
}

/// The slices a Service should have, given the pods of its namespace.
pub fn desired_slices(service: &Service, pods: &[&Pod]) -> Vec<DesiredSlice> {
    let Some(selector) = service_selector(service) else {
        return Vec::new();
    };
    let address_type = service_family(service).to_string();
    let ports: &[ServicePort] = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let mut groups: BTreeMap<Vec<PortKey>, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    for pod in pods {
        if namespace_of(&pod.metadata) != namespace_of(&service.metadata)
            || !selector.matches(&pod.metadata.labels)
            || !should_pod_be_in_endpoints(pod, true)
        {
            continue;
        }
        let Some(ip) = pod_ip_for(service, pod) else {
            continue;
        };
        let mut endpoint_ports: Vec<EndpointPort> = ports
            .iter()
            .filter_map(|p| {
                find_port(pod, p).map(|number| EndpointPort {
                    name: Some(p.name.clone().unwrap_or_default()),
                    port: Some(number),
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        endpoint_ports.sort_by_key(port_key);
        let key: Vec<_> = endpoint_ports.iter().map(port_key).collect();
        let group = groups
            .entry(key)
            .or_insert_with(|| (endpoint_ports, Vec::new()));
        group.1.push(pod_to_endpoint(service, pod, ip));
    }
    let mut slices = Vec::new();
    for (_, (ports, mut endpoints)) in groups {
        endpoints.sort_by_key(endpoint_key);
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push(DesiredSlice {
                address_type: address_type.clone(),
                ports: ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if slices.is_empty() {
        // Upstream keeps a placeholder so consumers can tell "no endpoints" from "not synced".
        slices.push(DesiredSlice {
            address_type,
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    slices
}

/// What to do with a Service's slices.
#[derive(Debug, PartialEq)]
pub enum SliceAction {
    Create(DesiredSlice),
    /// Rewrite the existing slice `name` with this content.
    Update {
        name: String,
        slice: DesiredSlice,
    },
    Delete {
        name: String,
    },
}

/// The content of an existing slice in [`DesiredSlice`] form (canonical order).
pub fn existing_as_desired(slice: &EndpointSlice) -> DesiredSlice {
    let mut ports = slice.ports.clone().unwrap_or_default();
    ports.sort_by_key(port_key);
    let mut endpoints = slice.endpoints.clone();
    endpoints.sort_by_key(endpoint_key);
    DesiredSlice {
        address_type: slice.address_type.clone(),
        ports,
        endpoints,
    }
}

/// Matches existing slices to desired ones: unchanged ones stay, same-ports ones are rewritten,
/// the rest are created or deleted. `labels_ok(slice)` says whether an existing slice's labels
/// are already right.
pub fn plan_slices(
    desired: &[DesiredSlice],
    existing: &[&EndpointSlice],
    labels_ok: impl Fn(&EndpointSlice) -> bool,
) -> Vec<SliceAction> {
    let mut unused: Vec<(&EndpointSlice, DesiredSlice)> = existing
        .iter()
        .map(|s| (*s, existing_as_desired(s)))
        .collect();
    unused.sort_by(|a, b| name_of(&a.0.metadata).cmp(name_of(&b.0.metadata)));
    let mut actions = Vec::new();
    let mut pending = Vec::new();
    // First keep exact matches.
    for want in desired {
        match unused
            .iter()
            .position(|(slice, have)| have == want && labels_ok(slice))
        {
            Some(i) => {
                unused.remove(i);
            }
            None => pending.push(want.clone()),
        }
    }
    // Then rewrite slices with the same ports and address type, then any slice.
    for want in pending {
        let same_shape = unused.iter().position(|(_, have)| {
            have.ports == want.ports && have.address_type == want.address_type
        });
        let reusable = same_shape.or_else(|| {
            unused
                .iter()
                .position(|(_, have)| have.address_type == want.address_type)
        });
        match reusable {
            Some(i) => {
                let (slice, _) = unused.remove(i);
                actions.push(SliceAction::Update {
                    name: name_of(&slice.metadata).to_string(),
                    slice: want,
                });
            }
            None => actions.push(SliceAction::Create(want)),
        }
    }
    for (slice, _) in unused {
        actions.push(SliceAction::Delete {
            name: name_of(&slice.metadata).to_string(),
        });
    }
    actions
}

/// The labels of a Service's slices.
pub fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = endpoint_labels(service);
    labels.insert(
        SERVICE_NAME_LABEL.into(),
        name_of(&service.metadata).to_string(),
    );
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_CONTROLLER.into());
    labels
}

fn build_slice(
    service: &Service,
    slice: &DesiredSlice,
    base: Option<&EndpointSlice>,
) -> EndpointSlice {
    let metadata = match base {
        Some(existing) => {
            let mut meta = existing.metadata.clone();
            meta.labels = Some(slice_labels(service));
            meta
        }
        None => ObjectMeta {
            generate_name: Some(format!("{}-", name_of(&service.metadata))),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(service)),
            owner_references: Some(vec![controller_ref(service)]),
            ..Default::default()
        },
    };
    EndpointSlice {
        metadata,
        address_type: slice.address_type.clone(),
        endpoints: slice.endpoints.clone(),
        ports: (!slice.ports.is_empty()).then(|| slice.ports.clone()),
    }
}

/// Shared state of the EndpointSlice controller.
pub struct EndpointSliceController {
    pub client: Client,
    pub pods: Store<Pod>,
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
}

impl EndpointSliceController {
    /// Services to sync after a slice change (ours, edited or deleted by someone).
    pub fn on_slice_change(&self, change: Change<EndpointSlice>) -> Vec<ObjectRef<Service>> {
        let slice = change.object();
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL));
        match service {
            Some(name) => vec![obj_ref(name, slice.metadata.namespace.as_deref())],
            None => Vec::new(),
        }
    }
}

/// One sync of one Service's slices.
pub async fn reconcile(service: Arc<Service>, ctx: Arc<EndpointSliceController>) -> Result<Action> {
    if service_selector(&service).is_none() || is_deleting(&service.metadata) {
        return Ok(Action::await_change());
    }
    let key = key_of(&service.metadata);
    let ns = namespace_of(&service.metadata).to_string();
    let name = name_of(&service.metadata).to_string();
    let all = ctx.pods.state();
    let pods: Vec<&Pod> = all
        .iter()
        .map(|p| &**p)
        .filter(|p| namespace_of(&p.metadata) == ns)
        .collect();
    let desired = desired_slices(&service, &pods);
    let slices = ctx.slices.state();
    let existing: Vec<&EndpointSlice> = slices
        .iter()
        .map(|s| &**s)
        .filter(|s| namespace_of(&s.metadata) == ns)
        .filter(|s| {
            s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                == Some(&name)
        })
        .collect();
    let labels = slice_labels(&service);
    let actions = plan_slices(&desired, &existing, |s| {
        s.metadata.labels.as_ref() == Some(&labels)
    });
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &ns);
    for action in actions {
        match action {
            SliceAction::Create(slice) => {
                let body = build_slice(&service, &slice, None);
                api.create(&PostParams::default(), &body)
                    .await
                    .map_err(|e| Error::api("create endpointslice for service", key.clone(), e))?;
                tracing::debug!(service = %key, endpoints = slice.endpoints.len(), "created endpointslice");
            }
            SliceAction::Update { name, slice } => {
                let Some(base) = existing.iter().find(|s| name_of(&s.metadata) == name) else {
                    continue;
                };
                let body = build_slice(&service, &slice, Some(base));
                api.replace(&name, &PostParams::default(), &body)
                    .await
                    .map_err(|e| Error::api("update endpointslice", format!("{ns}/{name}"), e))?;
                tracing::debug!(service = %key, slice = %name, endpoints = slice.endpoints.len(), "updated endpointslice");
            }
            SliceAction::Delete { name } => match api.delete(&name, &DeleteParams::default()).await
            {
                Ok(_) => tracing::debug!(service = %key, slice = %name, "deleted endpointslice"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(Error::api(
                        "delete endpointslice",
                        format!("{ns}/{name}"),
                        e,
                    ))
                }
            },
        }
    }
    Ok(Action::requeue(RESYNC_PERIOD))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::tests::{pod, port, service};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    /// (ports, (address, ready, serving, terminating) per endpoint) of each slice.
    type Summary = (Vec<i32>, Vec<(String, bool, bool, bool)>);

    fn summary(slices: &[DesiredSlice]) -> Vec<Summary> {
        slices
            .iter()
            .map(|s| {
                (
                    s.ports.iter().map(|p| p.port.unwrap_or(0)).collect(),
                    s.endpoints
                        .iter()
                        .map(|e| {
                            let c = e.conditions.clone().unwrap();
                            (
                                e.addresses[0].clone(),
                                c.ready.unwrap(),
                                c.serving.unwrap(),
                                c.terminating.unwrap(),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn slices_group_by_ports_with_conditions() {
        let svc = service(
            Some(&[("app", "web")]),
            vec![port("http", 80, IntOrString::String("web".into()))],
        );
        let mut terminating = pod("t", "web", Some("10.0.0.9"), true, &[("web", 8080)]);
        terminating.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let pods = [
            pod("a", "web", Some("10.0.0.1"), true, &[("web", 8080)]),
            pod("b", "web", Some("10.0.0.2"), false, &[("web", 8080)]),
            pod("c", "web", Some("10.0.0.3"), true, &[("web", 9090)]),
            pod("d", "db", Some("10.0.0.4"), true, &[("web", 8080)]),
            terminating,
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let slices = desired_slices(&svc, &refs);
        let s = |ip: &str, r, sv, t| (ip.to_string(), r, sv, t);
        assert_eq!(
            summary(&slices),
            vec![
                (
                    vec![8080],
                    vec![
                        s("10.0.0.1", true, true, false),
                        s("10.0.0.2", false, false, false),
                        s("10.0.0.9", false, true, true)
                    ]
                ),
                (vec![9090], vec![s("10.0.0.3", true, true, false)]),
            ]
        );
        assert_eq!(slices[0].address_type, "IPv4");
        let e = &slices[0].endpoints[0];
        assert_eq!(e.node_name.as_deref(), Some("n1"));
        assert_eq!(e.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
        assert_eq!(slices[0].ports[0].name.as_deref(), Some("http"));
        assert_eq!(slices[0].ports[0].protocol.as_deref(), Some("TCP"));

        // No endpoints: one placeholder.
        let empty = desired_slices(&svc, &[]);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].endpoints.is_empty() && empty[0].ports.is_empty());
        // No selector: none.
        assert!(desired_slices(&service(None, vec![]), &refs).is_empty());

        // Large services are split.
        let many: Vec<Pod> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i:03}"),
                    "web",
                    Some(&format!("10.1.{}.{}", i / 200, i % 200)),
                    true,
                    &[("web", 8080)],
                )
            })
            .collect();
        let refs: Vec<&Pod> = many.iter().collect();
        let sizes: Vec<usize> = desired_slices(&svc, &refs)
            .iter()
            .map(|s| s.endpoints.len())
            .collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    fn existing(name: &str, desired: &DesiredSlice) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            address_type: desired.address_type.clone(),
            endpoints: desired.endpoints.clone(),
            ports: (!desired.ports.is_empty()).then(|| desired.ports.clone()),
        }
    }

    #[test]
    fn plans_reuse_update_create_delete() {
        let svc = service(
            Some(&[("app", "web")]),
            vec![port("http", 80, IntOrString::String("web".into()))],
        );
        let a = [pod("a", "web", Some("10.0.0.1"), true, &[("web", 8080)])];
        let ab = [
            pod("a", "web", Some("10.0.0.1"), true, &[("web", 8080)]),
            pod("b", "web", Some("10.0.0.2"), true, &[("web", 9090)]),
        ];
        let one = desired_slices(&svc, &a.iter().collect::<Vec<&Pod>>());
        let two = desired_slices(&svc, &ab.iter().collect::<Vec<&Pod>>());
        let placeholder = desired_slices(&svc, &[]);
        let s1 = existing("s1", &one[0]);
        let s2 = existing("s2", &two[1]);
        let ok = |_: &EndpointSlice| true;

        // Unchanged: nothing.
        assert_eq!(plan_slices(&one, &[&s1], ok), vec![]);
        // A second port set: a new slice.
        assert_eq!(
            plan_slices(&two, &[&s1], ok),
            vec![SliceAction::Create(two[1].clone())]
        );
        // Pods gone: the slice becomes the placeholder (rewritten, not recreated).
        assert_eq!(
            plan_slices(&placeholder, &[&s1], ok),
            vec![SliceAction::Update {
                name: "s1".into(),
                slice: placeholder[0].clone()
            }]
        );
        // A slice too many: deleted.
        assert_eq!(
            plan_slices(&one, &[&s1, &s2], ok),
            vec![SliceAction::Delete { name: "s2".into() }]
        );
        // Wrong labels: rewritten.
        assert_eq!(
            plan_slices(&one, &[&s1], |_| false),
            vec![SliceAction::Update {
                name: "s1".into(),
                slice: one[0].clone()
            }]
        );
        // Labels carry the service name and the manager.
        let labels = slice_labels(&svc);
        assert_eq!(
            labels.get(SERVICE_NAME_LABEL).map(String::as_str),
            Some("web")
        );
        assert_eq!(
            labels.get(MANAGED_BY_LABEL).map(String::as_str),
            Some(MANAGED_BY_CONTROLLER)
        );
        let built = build_slice(&svc, &one[0], None);
        assert_eq!(built.metadata.generate_name.as_deref(), Some("web-"));
        let owner = &built.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("Service", "web", Some(true))
        );
    }
}
