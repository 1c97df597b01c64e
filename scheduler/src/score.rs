//! Scores: among the nodes that passed the filters, which is best? One pure function per
//! upstream score plugin giving a raw score per node, upstream's normalisations to
//! `0..=100`, the weighted sum ([`score_nodes`]) and the pick among the best ([`select_host`],
//! ties broken uniformly at random).
//!
//! | function | upstream plugin | weight | prefers |
//! |---|---|---|---|
//! | [`taint_toleration`] | TaintToleration | 3 | fewer untolerated PreferNoSchedule taints |
//! | [`node_affinity`] | NodeAffinity | 2 | more weight of matching preferred terms |
//! | [`least_allocated`] | NodeResourcesFit (LeastAllocated) | 1 | more free cpu and memory |
//! | [`balanced_allocation`] | NodeResourcesBalancedAllocation | 1 | cpu and memory used alike |
//! | [`spread_count`] | SelectorSpread | 2 | fewer pods of the same ReplicaSet/Service (node, zone) |
//!
//! Spreading has the weight of upstream's PodTopologySpread, whose system default constraints
//! (spread by hostname and zone the pods selected by the same Services and controllers) are
//! what SelectorSpread computes.

use std::collections::HashMap;

use rand::Rng;

use crate::info::{NodeInfo, PodInfo};

/// The highest score a plugin gives a node.
pub const MAX_NODE_SCORE: i64 = 100;

/// How much each plugin's normalised score counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub taint_toleration: i64,
    pub node_affinity: i64,
    pub least_allocated: i64,
    pub balanced_allocation: i64,
    pub spread: i64,
}

/// Upstream's default profile weights.
pub const DEFAULT_WEIGHTS: Weights = Weights {
    taint_toleration: 3,
    node_affinity: 2,
    least_allocated: 1,
    balanced_allocation: 1,
    spread: 2,
};

/// Upstream's zone weighting in SelectorSpread: two thirds zone, one third node.
const ZONE_WEIGHTING: f64 = 2.0 / 3.0;

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// LeastAllocated: the mean over cpu and memory of `(allocatable - requested) * 100 /
/// allocatable`, counting this pod and using the non-zero requests (request-less pods weigh
/// 100m / 200Mi).
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let allocatable = &node.view.allocatable;
    let cpu = least_requested(
        node.non_zero_requested.milli_cpu + pod.non_zero.milli_cpu,
        allocatable.milli_cpu,
    );
    let memory = least_requested(
        node.non_zero_requested.memory + pod.non_zero.memory,
        allocatable.memory,
    );
    (cpu + memory) / 2
}

/// BalancedAllocation: `(1 - |cpu fraction - memory fraction| / 2) * 100`, fractions of
/// allocatable requested with this pod (actual requests, capped at 1); a resource the node
/// does not have is left out.
pub fn balanced_allocation(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let allocatable = &node.view.allocatable;
    let fraction = |requested: i64, capacity: i64| -> Option<f64> {
        (capacity > 0).then(|| (requested as f64 / capacity as f64).min(1.0))
    };
    let fractions: Vec<f64> = [
        fraction(
            node.requested.milli_cpu + pod.requests.milli_cpu,
            allocatable.milli_cpu,
        ),
        fraction(
            node.requested.memory + pod.requests.memory,
            allocatable.memory,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    let std = match fractions.as_slice() {
        [a, b] => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// NodeAffinity (raw): the sum of the weights of the preferred terms the node matches.
pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.preferred_terms
        .iter()
        .filter(|(_, term)| term.matches(&node.view.labels, &node.name))
        .map(|(weight, _)| *weight)
        .sum()
}

/// TaintToleration (raw): how many PreferNoSchedule taints of the node the pod does not
/// tolerate (with tolerations whose effect is PreferNoSchedule or empty).
pub fn taint_toleration(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let tolerations: Vec<_> = pod
        .tolerations
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect();
    node.view
        .taints
        .iter()
        .filter(|taint| taint.effect == "PreferNoSchedule")
        .filter(|taint| !crate::filter::tolerated(&tolerations, taint))
        .count() as i64
}

/// SelectorSpread (raw): how many pods on the node share a spreading group with the pod
/// (summed over its groups).
pub fn spread_count(pod: &PodInfo, node: &NodeInfo) -> i64 {
    pod.spread_groups
        .iter()
        .map(|g| i64::from(node.spread_counts.get(g).copied().unwrap_or(0)))
        .sum()
}

/// Upstream `DefaultNormalizeScore`: scales so that the highest becomes 100 (all stay 0 when
/// every score is 0, or all become 100 when `reverse`); `reverse` turns "more is worse" into
/// "more is better".
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *score / max;
        *score = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

/// SelectorSpread's normalisation: fewer matching pods on the node (and in its zone, weighted
/// two thirds when nodes have zones) scores higher.
pub fn normalize_spread(counts: &[i64], zones: &[Option<&str>]) -> Vec<i64> {
    let max_node = counts.iter().copied().max().unwrap_or(0);
    let mut by_zone: HashMap<&str, i64> = HashMap::new();
    for (count, zone) in counts.iter().zip(zones) {
        if let Some(zone) = zone {
            *by_zone.entry(zone).or_insert(0) += count;
        }
    }
    let max_zone = by_zone.values().copied().max().unwrap_or(0);
    counts
        .iter()
        .zip(zones)
        .map(|(count, zone)| {
            let mut score = if max_node > 0 {
                MAX_NODE_SCORE as f64 * (max_node - count) as f64 / max_node as f64
            } else {
                MAX_NODE_SCORE as f64
            };
            if let Some(zone) = zone.filter(|_| !by_zone.is_empty()) {
                let zone_count = by_zone.get(zone).copied().unwrap_or(0);
                let zone_score = if max_zone > 0 {
                    MAX_NODE_SCORE as f64 * (max_zone - zone_count) as f64 / max_zone as f64
                } else {
                    MAX_NODE_SCORE as f64
                };
                score = score * (1.0 - ZONE_WEIGHTING) + ZONE_WEIGHTING * zone_score;
            }
            score as i64
        })
        .collect()
}

/// The weighted total score of each node in `nodes` for `pod` (same order).
pub fn score_nodes(pod: &PodInfo, nodes: &[&NodeInfo], weights: &Weights) -> Vec<i64> {
    let mut totals: Vec<i64> = nodes
        .iter()
        .map(|n| {
            weights.least_allocated * least_allocated(pod, n)
                + weights.balanced_allocation * balanced_allocation(pod, n)
        })
        .collect();
    let mut add = |scores: Vec<i64>, weight: i64| {
        for (total, score) in totals.iter_mut().zip(scores) {
            *total += weight * score;
        }
    };
    let mut taints: Vec<i64> = nodes.iter().map(|n| taint_toleration(pod, n)).collect();
    default_normalize(&mut taints, true);
    add(taints, weights.taint_toleration);
    if !pod.preferred_terms.is_empty() {
        let mut affinity: Vec<i64> = nodes.iter().map(|n| node_affinity(pod, n)).collect();
        default_normalize(&mut affinity, false);
        add(affinity, weights.node_affinity);
    }
    let spread = if pod.spread_groups.is_empty() {
        vec![MAX_NODE_SCORE; nodes.len()]
    } else {
        let counts: Vec<i64> = nodes.iter().map(|n| spread_count(pod, n)).collect();
        let zones: Vec<Option<&str>> = nodes.iter().map(|n| n.view.zone.as_deref()).collect();
        normalize_spread(&counts, &zones)
    };
    add(spread, weights.spread);
    totals
}

/// The index of a highest score, chosen uniformly at random among ties (upstream
/// `selectHost`'s reservoir sampling). `None` for no scores.
pub fn select_host(scores: &[i64], rng: &mut impl Rng) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut ties = 0u32;
    for (i, score) in scores.iter().enumerate() {
        match best {
            Some(b) if scores[b] > *score => {}
            Some(b) if scores[b] == *score => {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = Some(i);
                }
            }
            _ => {
                best = Some(i);
                ties = 1;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{NodeSpecView, Term};
    use crate::resources::{NonZero, Resources};
    use k8s_openapi::api::core::v1::{
        NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
    };
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn node(cpu: i64, memory: i64) -> NodeInfo {
        NodeInfo::new(
            "n",
            NodeSpecView {
                allocatable: Resources {
                    milli_cpu: cpu,
                    memory,
                    pods: 110,
                    ..Resources::default()
                },
                ..NodeSpecView::default()
            },
        )
    }

    fn pod(cpu: i64, memory: i64) -> PodInfo {
        PodInfo {
            requests: Resources {
                milli_cpu: cpu,
                memory,
                ..Resources::default()
            },
            non_zero: NonZero {
                milli_cpu: cpu,
                memory,
            },
            ..PodInfo::default()
        }
    }

    #[test]
    fn least_allocated_prefers_free_nodes() {
        // (case, node cpu, node mem, requested cpu, requested mem, pod cpu, pod mem, score)
        let cases = [
            ("empty node, tiny pod", 4000, 4000, 0, 0, 0, 0, 100),
            (
                "half used after the pod",
                4000,
                4000,
                1000,
                1000,
                1000,
                1000,
                50,
            ),
            ("cpu full, memory free", 4000, 4000, 3000, 0, 1000, 0, 50),
            (
                "over capacity scores zero for that resource",
                4000,
                4000,
                4000,
                0,
                1000,
                0,
                50,
            ),
            ("no allocatable scores zero", 0, 0, 0, 0, 100, 100, 0),
            (
                "rounding down per resource",
                3000,
                3000,
                0,
                0,
                1000,
                1000,
                66,
            ),
        ];
        for (case, ncpu, nmem, rcpu, rmem, pcpu, pmem, want) in cases {
            let mut n = node(ncpu, nmem);
            n.non_zero_requested = NonZero {
                milli_cpu: rcpu,
                memory: rmem,
            };
            assert_eq!(least_allocated(&pod(pcpu, pmem), &n), want, "{case}");
        }
    }

    #[test]
    fn balanced_allocation_prefers_even_use() {
        // (case, node cpu, node mem, requested cpu, requested mem, pod cpu, pod mem, score)
        let cases = [
            ("nothing used", 4000, 4000, 0, 0, 0, 0, 100),
            ("equal fractions", 4000, 8000, 1000, 2000, 1000, 2000, 100),
            ("cpu half, memory none", 4000, 4000, 1000, 0, 1000, 0, 75),
            ("cpu full, memory none", 4000, 4000, 3000, 0, 1000, 0, 50),
            ("fractions are capped at 1", 4000, 4000, 8000, 0, 0, 0, 50),
            (
                "a missing resource is left out",
                4000,
                0,
                3000,
                0,
                1000,
                0,
                100,
            ),
        ];
        for (case, ncpu, nmem, rcpu, rmem, pcpu, pmem, want) in cases {
            let mut n = node(ncpu, nmem);
            n.requested = Resources {
                milli_cpu: rcpu,
                memory: rmem,
                ..Resources::default()
            };
            assert_eq!(balanced_allocation(&pod(pcpu, pmem), &n), want, "{case}");
        }
    }

    fn preference(key: &str, value: &str) -> Term {
        Term::compile(&NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: key.into(),
                operator: "In".into(),
                values: Some(vec![value.into()]),
            }]),
            match_fields: None,
        })
    }

    #[test]
    fn node_affinity_sums_matching_preferred_weights() {
        let p = PodInfo {
            preferred_terms: vec![
                (10, preference("disk", "ssd")),
                (5, preference("zone", "a")),
            ],
            ..PodInfo::default()
        };
        let mut n = node(1, 1);
        assert_eq!(node_affinity(&p, &n), 0);
        n.view.labels = BTreeMap::from([("disk".into(), "ssd".into())]);
        assert_eq!(node_affinity(&p, &n), 10);
        n.view.labels.insert("zone".into(), "a".into());
        assert_eq!(node_affinity(&p, &n), 15);
    }

    #[test]
    fn prefer_no_schedule_taints_are_counted_unless_tolerated() {
        let soft = |key: &str| Taint {
            key: key.into(),
            value: None,
            effect: "PreferNoSchedule".into(),
            time_added: None,
        };
        let mut n = node(1, 1);
        n.view.taints = vec![
            soft("a"),
            soft("b"),
            Taint {
                key: "hard".into(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: None,
            },
        ];
        assert_eq!(taint_toleration(&PodInfo::default(), &n), 2);
        let tolerate = |key: &str, effect: Option<&str>| Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: effect.map(str::to_string),
            ..Toleration::default()
        };
        let p = PodInfo {
            tolerations: vec![
                tolerate("a", Some("PreferNoSchedule")),
                tolerate("b", Some("NoSchedule")),
            ],
            ..PodInfo::default()
        };
        assert_eq!(
            taint_toleration(&p, &n),
            1,
            "a NoSchedule toleration does not count"
        );
        let p = PodInfo {
            tolerations: vec![tolerate("a", None), tolerate("b", None)],
            ..PodInfo::default()
        };
        assert_eq!(taint_toleration(&p, &n), 0);
    }

    #[test]
    fn default_normalize_matches_upstream() {
        // (scores, reverse, expected)
        let cases: Vec<(Vec<i64>, bool, Vec<i64>)> = vec![
            (vec![0, 0], false, vec![0, 0]),
            (vec![0, 0], true, vec![100, 100]),
            (vec![1, 2, 4], false, vec![25, 50, 100]),
            (vec![1, 2, 4], true, vec![75, 50, 0]),
            (vec![], false, vec![]),
        ];
        for (mut scores, reverse, expected) in cases {
            default_normalize(&mut scores, reverse);
            assert_eq!(scores, expected);
        }
    }

    #[test]
    fn spread_normalization_prefers_fewer_matching_pods() {
        assert_eq!(normalize_spread(&[0, 0], &[None, None]), vec![100, 100]);
        assert_eq!(
            normalize_spread(&[2, 1, 0], &[None, None, None]),
            vec![0, 50, 100]
        );
        // Zones: a has 2 (nodes 0 and 1), b has 0. Node 1 holds none itself but its zone is
        // full: one third of 100 plus two thirds of 0.
        let zones = [Some("a"), Some("a"), Some("b")];
        assert_eq!(normalize_spread(&[2, 0, 0], &zones), vec![0, 33, 100]);
    }

    #[test]
    fn spreading_counts_pods_of_the_same_groups() {
        let group: Arc<str> = Arc::from("owner:rs1");
        let p = PodInfo {
            spread_groups: vec![group.clone()],
            ..PodInfo::default()
        };
        let mut busy = node(4000, 4000);
        busy.name = "busy".into();
        busy.spread_counts.insert(group.clone(), 3);
        busy.spread_counts.insert(Arc::from("owner:other"), 7);
        let idle = node(4000, 4000);
        assert_eq!(spread_count(&p, &busy), 3);
        assert_eq!(spread_count(&p, &idle), 0);
        let totals = score_nodes(&p, &[&busy, &idle], &DEFAULT_WEIGHTS);
        assert!(totals[1] > totals[0], "{totals:?}");
    }

    #[test]
    fn score_nodes_weighs_plugins() {
        let mut tainted = node(4000, 4000);
        tainted.view.taints = vec![Taint {
            key: "soft".into(),
            value: None,
            effect: "PreferNoSchedule".into(),
            time_added: None,
        }];
        let clean = node(4000, 4000);
        let totals = score_nodes(&pod(0, 0), &[&tainted, &clean], &DEFAULT_WEIGHTS);
        // Same resources; the taint costs its full weight of 3 × 100.
        assert_eq!(totals[1] - totals[0], 300);

        let mut preferred = node(4000, 4000);
        preferred.view.labels = BTreeMap::from([("disk".into(), "ssd".into())]);
        let p = PodInfo {
            preferred_terms: vec![(1, preference("disk", "ssd"))],
            ..pod(0, 0)
        };
        let totals = score_nodes(&p, &[&clean, &preferred], &DEFAULT_WEIGHTS);
        assert_eq!(totals[1] - totals[0], 200);
    }

    #[test]
    fn select_host_breaks_ties_at_random() {
        let mut rng = SmallRng::seed_from_u64(7);
        assert_eq!(select_host(&[], &mut rng), None);
        assert_eq!(select_host(&[1, 5, 3], &mut rng), Some(1));
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            let i = select_host(&[9, 2, 9, 9], &mut rng).unwrap();
            seen[i] += 1;
        }
        assert_eq!(seen[1], 0);
        for i in [0, 2, 3] {
            assert!((1100..1600).contains(&seen[i]), "uneven ties: {seen:?}");
        }
    }
}
