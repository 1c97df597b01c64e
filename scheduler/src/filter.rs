//! Filters: can this pod run on this node at all? One pure function per upstream filter
//! plugin, run in upstream's order by [`run_filters`], which stops at the first plugin that
//! rejects the node (as upstream does) and returns its reasons, worded as upstream's so that
//! [`fit_error_message`](crate::algorithm::fit_error_message) reads like kube-scheduler's.
//!
//! | function | upstream plugin | reason |
//! |---|---|---|
//! | [`node_unschedulable`] | NodeUnschedulable | `node(s) were unschedulable` |
//! | [`taint_toleration`] | TaintToleration | `node(s) had untolerated taint {key: value}` |
//! | [`node_affinity`] | NodeAffinity | `node(s) didn't match Pod's node affinity/selector` |
//! | [`node_ports`] | NodePorts | `node(s) didn't have free ports for the requested pod ports` |
//! | [`resources_fit`] | NodeResourcesFit | `Too many pods`, `Insufficient cpu`, ... |
//!
//! A node that is not Ready carries the `node.kubernetes.io/not-ready` (or `unreachable`)
//! NoSchedule taint here, as the node lifecycle controller would add it (see
//! [`NodeSpecView`](crate::info::NodeSpecView)), so readiness is judged by the taint filter and
//! pods that tolerate it (DaemonSet-style) may still land.

use std::fmt;

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::info::{NodeInfo, PodInfo, TAINT_UNSCHEDULABLE};

/// Why a node was filtered out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    NodeUnschedulable,
    UntoleratedTaint {
        key: String,
        value: String,
    },
    NodeAffinity,
    NodePorts,
    TooManyPods,
    /// `Insufficient <resource>`.
    Insufficient(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NodeUnschedulable => f.write_str("node(s) were unschedulable"),
            Reason::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Reason::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Reason::NodePorts => {
                f.write_str("node(s) didn't have free ports for the requested pod ports")
            }
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::Insufficient(resource) => write!(f, "Insufficient {resource}"),
        }
    }
}

/// Whether `toleration` tolerates `taint` (upstream `Toleration.ToleratesTaint`): same effect
/// (or the toleration has none), same key (or none, which with `Exists` means every key), and
/// equal value for `Equal` (the default operator).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or_default() {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        "Exists" => true,
        _ => false,
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods tolerating the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint.
pub fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> Result<(), Reason> {
    if !node.view.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: TAINT_UNSCHEDULABLE.to_string(),
        effect: "NoSchedule".to_string(),
        ..Taint::default()
    };
    if tolerated(&pod.tolerations, &taint) {
        Ok(())
    } else {
        Err(Reason::NodeUnschedulable)
    }
}

/// TaintToleration: every NoSchedule and NoExecute taint must be tolerated; the first that is
/// not is the reason. PreferNoSchedule only counts in scoring.
pub fn taint_toleration(pod: &PodInfo, node: &NodeInfo) -> Result<(), Reason> {
    let untolerated = node.view.taints.iter().find(|taint| {
        (taint.effect == "NoSchedule" || taint.effect == "NoExecute")
            && !tolerated(&pod.tolerations, taint)
    });
    match untolerated {
        None => Ok(()),
        Some(taint) => Err(Reason::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
        }),
    }
}

/// NodeAffinity: every `nodeSelector` label must match, and when required node affinity is
/// set, at least one of its terms (an empty list of terms matches nothing).
pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> Result<(), Reason> {
    let labels = &node.view.labels;
    let selector_ok = pod
        .node_selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value));
    let required_ok = pod
        .required_terms
        .as_ref()
        .is_none_or(|terms| terms.iter().any(|t| t.matches(labels, &node.name)));
    if selector_ok && required_ok {
        Ok(())
    } else {
        Err(Reason::NodeAffinity)
    }
}

/// NodePorts: none of the pod's host ports may conflict with one in use on the node.
pub fn node_ports(pod: &PodInfo, node: &NodeInfo) -> Result<(), Reason> {
    let conflict = pod.host_ports.iter().any(|wanted| {
        node.used_ports
            .iter()
            .any(|used| used.conflicts_with(wanted))
    });
    if conflict {
        Err(Reason::NodePorts)
    } else {
        Ok(())
    }
}

/// NodeResourcesFit: room for one more pod, then for each requested resource
/// `request <= allocatable - requested`. Every resource that does not fit is a reason.
pub fn resources_fit(pod: &PodInfo, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    let mut reasons = Vec::new();
    if node.pod_count + 1 > node.view.allocatable.pods {
        reasons.push(Reason::TooManyPods);
    }
    let want = &pod.requests;
    if want.is_empty_request() {
        return if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        };
    }
    let have = &node.view.allocatable;
    let used = &node.requested;
    let short = |request: i64, allocatable: i64, requested: i64| {
        request > 0 && request > allocatable.saturating_sub(requested)
    };
    if short(want.milli_cpu, have.milli_cpu, used.milli_cpu) {
        reasons.push(Reason::Insufficient("cpu".into()));
    }
    if short(want.memory, have.memory, used.memory) {
        reasons.push(Reason::Insufficient("memory".into()));
    }
    if short(
        want.ephemeral_storage,
        have.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push(Reason::Insufficient("ephemeral-storage".into()));
    }
    for (name, request) in &want.scalar {
        let allocatable = have.scalar.get(name).copied().unwrap_or(0);
        let requested = used.scalar.get(name).copied().unwrap_or(0);
        if short(*request, allocatable, requested) {
            reasons.push(Reason::Insufficient(name.clone()));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

/// Runs every filter in upstream's order (NodeUnschedulable, TaintToleration, NodeAffinity,
/// NodePorts, NodeResourcesFit) and returns the first rejecting plugin's reasons.
pub fn run_filters(pod: &PodInfo, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    node_unschedulable(pod, node).map_err(|r| vec![r])?;
    taint_toleration(pod, node).map_err(|r| vec![r])?;
    node_affinity(pod, node).map_err(|r| vec![r])?;
    node_ports(pod, node).map_err(|r| vec![r])?;
    resources_fit(pod, node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{HostPort, NodeSpecView, Term};
    use crate::resources::Resources;
    use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn node(name: &str) -> NodeInfo {
        NodeInfo::new(
            name,
            NodeSpecView {
                allocatable: Resources {
                    milli_cpu: 4000,
                    memory: 8 << 30,
                    pods: 110,
                    ..Resources::default()
                },
                ..NodeSpecView::default()
            },
        )
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.to_string()),
            effect: effect.into(),
            time_added: None,
        }
    }

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Toleration {
            key: opt(key),
            operator: opt(operator),
            value: opt(value),
            effect: opt(effect),
            toleration_seconds: None,
        }
    }

    fn term(expressions: &[(&str, &str, &[&str])]) -> Term {
        Term::compile(&NodeSelectorTerm {
            match_expressions: Some(
                expressions
                    .iter()
                    .map(|(key, op, values)| NodeSelectorRequirement {
                        key: key.to_string(),
                        operator: op.to_string(),
                        values: Some(values.iter().map(|v| v.to_string()).collect()),
                    })
                    .collect(),
            ),
            match_fields: None,
        })
    }

    #[test]
    fn toleration_matching_follows_upstream() {
        // (toleration, taint, tolerated)
        let cases = [
            (
                toleration("k", "Equal", "v", "NoSchedule"),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                toleration("k", "", "v", "NoSchedule"),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                toleration("k", "Equal", "w", "NoSchedule"),
                taint("k", "v", "NoSchedule"),
                false,
            ),
            (
                toleration("k", "Exists", "", "NoSchedule"),
                taint("k", "v", "NoSchedule"),
                true,
            ),
            (
                toleration("k", "Exists", "", ""),
                taint("k", "v", "NoExecute"),
                true,
            ),
            (
                toleration("k", "Exists", "", "NoExecute"),
                taint("k", "v", "NoSchedule"),
                false,
            ),
            (
                toleration("", "Exists", "", ""),
                taint("any", "x", "NoExecute"),
                true,
            ),
            (
                toleration("other", "Exists", "", ""),
                taint("k", "", "NoSchedule"),
                false,
            ),
            (
                toleration("k", "Equal", "", "NoSchedule"),
                taint("k", "", "NoSchedule"),
                true,
            ),
            (
                toleration("k", "Gt", "1", ""),
                taint("k", "1", "NoSchedule"),
                false,
            ),
        ];
        for (tol, t, want) in cases {
            assert_eq!(tolerates(&tol, &t), want, "{tol:?} vs {t:?}");
        }
    }

    #[test]
    fn taints_filter_no_schedule_and_no_execute_only() {
        // (taints, tolerations, expected)
        type Case = (Vec<Taint>, Vec<Toleration>, Result<(), Reason>);
        let cases: Vec<Case> = vec![
            (vec![], vec![], Ok(())),
            (
                vec![taint("dedicated", "gpu", "NoSchedule")],
                vec![],
                Err(Reason::UntoleratedTaint {
                    key: "dedicated".into(),
                    value: "gpu".into(),
                }),
            ),
            (
                vec![taint("dedicated", "gpu", "NoSchedule")],
                vec![toleration("dedicated", "Equal", "gpu", "NoSchedule")],
                Ok(()),
            ),
            (
                vec![taint("evict", "", "NoExecute")],
                vec![],
                Err(Reason::UntoleratedTaint {
                    key: "evict".into(),
                    value: "".into(),
                }),
            ),
            (vec![taint("soft", "", "PreferNoSchedule")], vec![], Ok(())),
            (
                vec![taint("a", "", "NoSchedule"), taint("b", "", "NoExecute")],
                vec![toleration("a", "Exists", "", "")],
                Err(Reason::UntoleratedTaint {
                    key: "b".into(),
                    value: "".into(),
                }),
            ),
        ];
        for (taints, tolerations, expected) in cases {
            let mut n = node("n");
            n.view.taints = taints.clone();
            let pod = PodInfo {
                tolerations: tolerations.clone(),
                ..PodInfo::default()
            };
            assert_eq!(
                taint_toleration(&pod, &n),
                expected,
                "{taints:?} {tolerations:?}"
            );
        }
    }

    #[test]
    fn unschedulable_nodes_take_only_tolerating_pods() {
        let mut n = node("n");
        assert_eq!(node_unschedulable(&PodInfo::default(), &n), Ok(()));
        n.view.unschedulable = true;
        assert_eq!(
            node_unschedulable(&PodInfo::default(), &n),
            Err(Reason::NodeUnschedulable)
        );
        let tolerant = PodInfo {
            tolerations: vec![toleration(TAINT_UNSCHEDULABLE, "Exists", "", "NoSchedule")],
            ..PodInfo::default()
        };
        assert_eq!(node_unschedulable(&tolerant, &n), Ok(()));
    }

    #[test]
    fn node_selector_and_required_affinity() {
        let node_labels = labels(&[("disk", "ssd"), ("zone", "a"), ("cores", "8")]);
        // (case, nodeSelector, required terms, matches)
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<Vec<Term>>, bool);
        let cases: Vec<Case> = vec![
            ("nothing required", vec![], None, true),
            ("selector matches", vec![("disk", "ssd")], None, true),
            ("selector value differs", vec![("disk", "hdd")], None, false),
            ("selector label missing", vec![("gpu", "yes")], None, false),
            (
                "In",
                vec![],
                Some(vec![term(&[("disk", "In", &["ssd", "nvme"])])]),
                true,
            ),
            (
                "In misses",
                vec![],
                Some(vec![term(&[("disk", "In", &["hdd"])])]),
                false,
            ),
            (
                "NotIn",
                vec![],
                Some(vec![term(&[("disk", "NotIn", &["hdd"])])]),
                true,
            ),
            (
                "NotIn hits",
                vec![],
                Some(vec![term(&[("disk", "NotIn", &["ssd"])])]),
                false,
            ),
            (
                "NotIn on a missing label",
                vec![],
                Some(vec![term(&[("gpu", "NotIn", &["x"])])]),
                true,
            ),
            (
                "Exists",
                vec![],
                Some(vec![term(&[("zone", "Exists", &[])])]),
                true,
            ),
            (
                "Exists misses",
                vec![],
                Some(vec![term(&[("gpu", "Exists", &[])])]),
                false,
            ),
            (
                "DoesNotExist",
                vec![],
                Some(vec![term(&[("gpu", "DoesNotExist", &[])])]),
                true,
            ),
            (
                "DoesNotExist hits",
                vec![],
                Some(vec![term(&[("zone", "DoesNotExist", &[])])]),
                false,
            ),
            (
                "Gt",
                vec![],
                Some(vec![term(&[("cores", "Gt", &["4"])])]),
                true,
            ),
            (
                "Gt equal is false",
                vec![],
                Some(vec![term(&[("cores", "Gt", &["8"])])]),
                false,
            ),
            (
                "Lt",
                vec![],
                Some(vec![term(&[("cores", "Lt", &["16"])])]),
                true,
            ),
            (
                "Lt misses",
                vec![],
                Some(vec![term(&[("cores", "Lt", &["2"])])]),
                false,
            ),
            (
                "Gt on a non-number label",
                vec![],
                Some(vec![term(&[("disk", "Gt", &["1"])])]),
                false,
            ),
            (
                "Gt on a missing label",
                vec![],
                Some(vec![term(&[("gpu", "Gt", &["1"])])]),
                false,
            ),
            (
                "expressions in a term are ANDed",
                vec![],
                Some(vec![term(&[
                    ("disk", "In", &["ssd"]),
                    ("zone", "In", &["b"]),
                ])]),
                false,
            ),
            (
                "terms are ORed",
                vec![],
                Some(vec![
                    term(&[("zone", "In", &["b"])]),
                    term(&[("disk", "In", &["ssd"])]),
                ]),
                true,
            ),
            ("no terms match nothing", vec![], Some(vec![]), false),
            (
                "an empty term matches nothing",
                vec![],
                Some(vec![term(&[])]),
                false,
            ),
            (
                "an unknown operator matches nothing",
                vec![],
                Some(vec![term(&[("disk", "Like", &["ssd"])])]),
                false,
            ),
            (
                "selector and affinity must both match",
                vec![("disk", "hdd")],
                Some(vec![term(&[("zone", "Exists", &[])])]),
                false,
            ),
        ];
        for (case, selector, required, matches) in cases {
            let mut n = node("n");
            n.view.labels = node_labels.clone();
            let pod = PodInfo {
                node_selector: labels(&selector),
                required_terms: required,
                ..PodInfo::default()
            };
            let expected = if matches {
                Ok(())
            } else {
                Err(Reason::NodeAffinity)
            };
            assert_eq!(node_affinity(&pod, &n), expected, "{case}");
        }
    }

    #[test]
    fn match_fields_select_by_node_name() {
        let pod = PodInfo {
            required_terms: Some(vec![Term::compile(&NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![NodeSelectorRequirement {
                    key: "metadata.name".into(),
                    operator: "In".into(),
                    values: Some(vec!["n2".into()]),
                }]),
            })]),
            ..PodInfo::default()
        };
        assert_eq!(node_affinity(&pod, &node("n1")), Err(Reason::NodeAffinity));
        assert_eq!(node_affinity(&pod, &node("n2")), Ok(()));
    }

    #[test]
    fn host_ports_in_use_reject_the_node() {
        let port = |ip: &str, port| HostPort {
            protocol: "TCP".into(),
            ip: ip.into(),
            port,
        };
        let mut n = node("n");
        n.used_ports = vec![port("0.0.0.0", 80)];
        let wants = |ports: Vec<HostPort>| PodInfo {
            host_ports: ports,
            ..PodInfo::default()
        };
        assert_eq!(node_ports(&wants(vec![]), &n), Ok(()));
        assert_eq!(
            node_ports(&wants(vec![port("0.0.0.0", 80)]), &n),
            Err(Reason::NodePorts)
        );
        assert_eq!(
            node_ports(&wants(vec![port("10.0.0.1", 80)]), &n),
            Err(Reason::NodePorts)
        );
        assert_eq!(node_ports(&wants(vec![port("0.0.0.0", 81)]), &n), Ok(()));
    }

    #[test]
    fn resources_fit_counts_requests_and_pods() {
        let requests = |cpu, memory| Resources {
            milli_cpu: cpu,
            memory,
            ..Resources::default()
        };
        // (case, requested on node, pods on node, pod requests, expected)
        type Case<'a> = (&'a str, Resources, i64, Resources, Result<(), Vec<Reason>>);
        let cases: Vec<Case> = vec![
            (
                "empty node",
                requests(0, 0),
                0,
                requests(1000, 1 << 30),
                Ok(()),
            ),
            (
                "exactly fits",
                requests(3000, 0),
                1,
                requests(1000, 0),
                Ok(()),
            ),
            (
                "one millicore too many",
                requests(3001, 0),
                1,
                requests(1000, 0),
                Err(vec![Reason::Insufficient("cpu".into())]),
            ),
            (
                "cpu and memory both short",
                requests(4000, 8 << 30),
                1,
                requests(1, 1),
                Err(vec![
                    Reason::Insufficient("cpu".into()),
                    Reason::Insufficient("memory".into()),
                ]),
            ),
            (
                "pod count full",
                requests(0, 0),
                110,
                requests(0, 0),
                Err(vec![Reason::TooManyPods]),
            ),
            (
                "a request-less pod fits a full node that has pod room",
                requests(4000, 8 << 30),
                1,
                requests(0, 0),
                Ok(()),
            ),
        ];
        for (case, used, pods, want, expected) in cases {
            let mut n = node("n");
            n.requested = used;
            n.pod_count = pods;
            let pod = PodInfo {
                requests: want,
                ..PodInfo::default()
            };
            assert_eq!(resources_fit(&pod, &n), expected, "{case}");
        }
    }

    #[test]
    fn extended_resources_must_be_allocatable() {
        let mut n = node("n");
        let pod = PodInfo {
            requests: Resources {
                scalar: BTreeMap::from([("example.com/gpu".to_string(), 1)]),
                ..Resources::default()
            },
            ..PodInfo::default()
        };
        assert_eq!(
            resources_fit(&pod, &n),
            Err(vec![Reason::Insufficient("example.com/gpu".into())])
        );
        n.view
            .allocatable
            .scalar
            .insert("example.com/gpu".into(), 1);
        assert_eq!(resources_fit(&pod, &n), Ok(()));
    }

    #[test]
    fn run_filters_stops_at_the_first_rejecting_plugin() {
        let mut n = node("n");
        n.view.unschedulable = true;
        n.view.taints = vec![taint("k", "", "NoSchedule")];
        n.pod_count = 110;
        assert_eq!(
            run_filters(&PodInfo::default(), &n),
            Err(vec![Reason::NodeUnschedulable])
        );
        n.view.unschedulable = false;
        assert_eq!(
            run_filters(&PodInfo::default(), &n),
            Err(vec![Reason::UntoleratedTaint {
                key: "k".into(),
                value: "".into()
            }])
        );
        n.view.taints.clear();
        assert_eq!(
            run_filters(&PodInfo::default(), &n),
            Err(vec![Reason::TooManyPods])
        );
        n.pod_count = 0;
        assert_eq!(run_filters(&PodInfo::default(), &n), Ok(()));
    }

    #[test]
    fn reasons_read_like_upstream() {
        let cases = [
            (Reason::NodeUnschedulable, "node(s) were unschedulable"),
            (
                Reason::UntoleratedTaint {
                    key: "node-role.kubernetes.io/control-plane".into(),
                    value: "".into(),
                },
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
            (
                Reason::NodeAffinity,
                "node(s) didn't match Pod's node affinity/selector",
            ),
            (
                Reason::NodePorts,
                "node(s) didn't have free ports for the requested pod ports",
            ),
            (Reason::TooManyPods, "Too many pods"),
            (Reason::Insufficient("cpu".into()), "Insufficient cpu"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }
}
