//! One scheduling decision (upstream `schedulePod`): filter nodes, score the feasible ones,
//! pick the best.
//!
//! As upstream, not every node is examined in a large cluster: filtering starts where the
//! previous decision stopped (round robin over the node list) and stops once
//! [`num_feasible_nodes_to_find`] feasible nodes are found — by default an adaptive percentage
//! (50% − nodes/125, at least 5%, at least 100 nodes), 10% of 5,000 nodes. A pod that fits
//! nowhere gets a [`FitError`] whose message is upstream's, counting the reasons over every
//! node ([`fit_error_message`]).

use std::collections::BTreeMap;
use std::fmt;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::filter;
use crate::info::{NodeInfo, PodInfo};
use crate::score::{self, Weights, DEFAULT_WEIGHTS};

/// Below this many nodes every node is examined (upstream `minFeasibleNodesToFind`).
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this (upstream
/// `minFeasibleNodesPercentageToFind`).
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// How many feasible nodes to look for among `num_all_nodes` (upstream
/// `numFeasibleNodesToFind`); `percentage` 0 means adaptive.
pub fn num_feasible_nodes_to_find(num_all_nodes: usize, percentage: u32) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let mut percentage = percentage.min(100) as usize;
    if percentage == 0 {
        percentage = 50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// Why no node fits: how many nodes gave each reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// Reason text → number of nodes that gave it.
    pub reasons: BTreeMap<String, usize>,
}

/// Upstream's `FitError.Error()`: `0/3 nodes are available: 1 Insufficient cpu, 2 node(s)
/// had untolerated taint {k: v}.` — each reason prefixed with its node count, sorted as
/// strings.
pub fn fit_error_message(num_all_nodes: usize, reasons: &BTreeMap<String, usize>) -> String {
    let mut message = format!("0/{num_all_nodes} nodes are available:");
    let mut histogram: Vec<String> = reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    histogram.sort();
    if !histogram.is_empty() {
        message.push(' ');
        message.push_str(&histogram.join(", "));
        message.push('.');
    }
    message
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fit_error_message(self.num_all_nodes, &self.reasons))
    }
}

/// Why a pod could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cluster has no nodes at all (upstream `ErrNoNodesAvailable`).
    #[error("no nodes available to schedule pods")]
    NoNodes,
    /// No node passed the filters.
    #[error("{0}")]
    Unschedulable(FitError),
}

/// A placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Index of the chosen node in the slice given to [`Algorithm::schedule`].
    pub node_index: usize,
    pub node_name: String,
    /// Nodes run through the filters.
    pub evaluated_nodes: usize,
    /// Of those, how many fit.
    pub feasible_nodes: usize,
}

/// The decision procedure with its small state: where the next search starts and the random
/// source for ties.
#[derive(Debug, Clone)]
pub struct Algorithm {
    next_start_node_index: usize,
    /// Percentage of nodes to score; 0 = adaptive (upstream default).
    pub percentage_of_nodes_to_score: u32,
    pub weights: Weights,
    rng: SmallRng,
}

impl Default for Algorithm {
    fn default() -> Self {
        Algorithm::new(rand::random())
    }
}

impl Algorithm {
    /// An algorithm whose tie-breaking is seeded with `seed` (tests use fixed seeds).
    pub fn new(seed: u64) -> Algorithm {
        Algorithm {
            next_start_node_index: 0,
            percentage_of_nodes_to_score: 0,
            weights: DEFAULT_WEIGHTS,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Chooses a node for `pod` among `nodes`.
    pub fn schedule(
        &mut self,
        pod: &PodInfo,
        nodes: &[NodeInfo],
    ) -> Result<Decision, ScheduleError> {
        let all = nodes.len();
        if all == 0 {
            return Err(ScheduleError::NoNodes);
        }
        let wanted = num_feasible_nodes_to_find(all, self.percentage_of_nodes_to_score);
        let start = self.next_start_node_index % all;
        let mut feasible: Vec<usize> = Vec::with_capacity(wanted.min(all));
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut evaluated = 0;
        for offset in 0..all {
            let i = (start + offset) % all;
            evaluated += 1;
            match filter::run_filters(pod, &nodes[i]) {
                Ok(()) => {
                    feasible.push(i);
                    if feasible.len() >= wanted {
                        break;
                    }
                }
                Err(failures) => {
                    for reason in failures {
                        *reasons.entry(reason.to_string()).or_insert(0) += 1;
                    }
                }
            }
        }
        self.next_start_node_index = (start + evaluated) % all;
        if feasible.is_empty() {
            return Err(ScheduleError::Unschedulable(FitError {
                num_all_nodes: all,
                reasons,
            }));
        }
        let chosen = if feasible.len() == 1 {
            feasible[0]
        } else {
            let candidates: Vec<&NodeInfo> = feasible.iter().map(|i| &nodes[*i]).collect();
            let totals = score::score_nodes(pod, &candidates, &self.weights);
            let best = score::select_host(&totals, &mut self.rng).unwrap_or(0);
            feasible[best]
        };
        Ok(Decision {
            node_index: chosen,
            node_name: nodes[chosen].name.clone(),
            evaluated_nodes: evaluated,
            feasible_nodes: feasible.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::NodeSpecView;
    use crate::resources::Resources;
    use k8s_openapi::api::core::v1::Taint;

    #[test]
    fn feasible_nodes_to_find_is_adaptive_like_upstream() {
        // (all nodes, percentage, expected)
        let cases = [
            (0, 0, 0),
            (50, 0, 50),
            (99, 0, 99),
            (100, 0, 100),
            (1000, 0, 420),
            (5000, 0, 500),
            (6000, 0, 300),
            (20000, 0, 1000),
            (5000, 50, 2500),
            (5000, 1, 100),
            (5000, 100, 5000),
        ];
        for (all, percentage, expected) in cases {
            assert_eq!(
                num_feasible_nodes_to_find(all, percentage),
                expected,
                "{all} nodes at {percentage}%"
            );
        }
    }

    #[test]
    fn fit_error_message_has_upstream_shape() {
        let reasons = BTreeMap::from([
            (
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
                    .to_string(),
                2,
            ),
            ("Insufficient cpu".to_string(), 1),
        ]);
        assert_eq!(
            fit_error_message(3, &reasons),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }."
        );
        let reasons = BTreeMap::from([
            (
                "node(s) didn't match Pod's node affinity/selector".to_string(),
                10,
            ),
            ("Insufficient memory".to_string(), 2),
        ]);
        // Sorted as strings, so "10 ..." comes before "2 ...", as upstream prints it.
        assert_eq!(
            fit_error_message(12, &reasons),
            "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient memory."
        );
        assert_eq!(
            fit_error_message(0, &BTreeMap::new()),
            "0/0 nodes are available:"
        );
        assert_eq!(
            ScheduleError::NoNodes.to_string(),
            "no nodes available to schedule pods"
        );
    }

    fn node(name: &str, cpu: i64) -> NodeInfo {
        NodeInfo::new(
            name,
            NodeSpecView {
                allocatable: Resources {
                    milli_cpu: cpu,
                    memory: 1 << 30,
                    pods: 10,
                    ..Resources::default()
                },
                ..NodeSpecView::default()
            },
        )
    }

    fn pod(cpu: i64) -> PodInfo {
        PodInfo {
            requests: Resources {
                milli_cpu: cpu,
                ..Resources::default()
            },
            ..PodInfo::default()
        }
    }

    #[test]
    fn schedules_onto_the_only_fitting_node() {
        let nodes = vec![node("small", 500), node("big", 4000), node("tiny", 100)];
        let mut algorithm = Algorithm::new(1);
        let decision = algorithm.schedule(&pod(1000), &nodes).unwrap();
        assert_eq!(decision.node_name, "big");
        assert_eq!(decision.feasible_nodes, 1);
        assert_eq!(decision.evaluated_nodes, 3);
    }

    #[test]
    fn prefers_the_least_allocated_node() {
        let mut nodes = vec![node("busy", 4000), node("idle", 4000)];
        nodes[0].requested.milli_cpu = 3000;
        nodes[0].non_zero_requested.milli_cpu = 3000;
        let mut algorithm = Algorithm::new(1);
        for _ in 0..10 {
            assert_eq!(
                algorithm.schedule(&pod(500), &nodes).unwrap().node_name,
                "idle"
            );
        }
    }

    #[test]
    fn unschedulable_pods_get_a_counted_reason_per_node() {
        let mut nodes = vec![node("a", 500), node("b", 4000), node("c", 4000)];
        for n in &mut nodes[1..] {
            n.view.taints.push(Taint {
                key: "dedicated".into(),
                value: Some("db".into()),
                effect: "NoSchedule".into(),
                time_added: None,
            });
        }
        let err = Algorithm::new(1).schedule(&pod(1000), &nodes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: db}."
        );
        assert_eq!(
            Algorithm::new(1).schedule(&pod(1), &[]),
            Err(ScheduleError::NoNodes)
        );
    }

    #[test]
    fn the_search_starts_where_the_last_one_stopped() {
        // 200 identical nodes: 100 are enough, so consecutive searches cover different halves.
        let nodes: Vec<NodeInfo> = (0..200).map(|i| node(&format!("n{i}"), 4000)).collect();
        let mut algorithm = Algorithm::new(3);
        let first = algorithm.schedule(&pod(100), &nodes).unwrap();
        assert_eq!((first.evaluated_nodes, first.feasible_nodes), (100, 100));
        assert!(first.node_index < 100);
        let second = algorithm.schedule(&pod(100), &nodes).unwrap();
        assert!(second.node_index >= 100, "{second:?}");
    }

    #[test]
    fn ties_spread_over_equal_nodes() {
        let nodes: Vec<NodeInfo> = (0..4).map(|i| node(&format!("n{i}"), 4000)).collect();
        let mut algorithm = Algorithm::new(11);
        let mut chosen = std::collections::BTreeSet::new();
        for _ in 0..50 {
            chosen.insert(algorithm.schedule(&pod(100), &nodes).unwrap().node_name);
        }
        assert_eq!(chosen.len(), 4, "{chosen:?}");
    }
}
