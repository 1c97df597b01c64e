//! The scheduling queue (upstream `PriorityQueue`), a pure data structure: time is passed in.
//!
//! A pending pod is in exactly one place:
//!
//! - **active**: ready to be tried, highest `spec.priority` first, then oldest first;
//! - **backoff**: failed recently and waits `1s × 2^(attempts-1)`, at most 10 s (upstream
//!   `podInitialBackoff`/`podMaxBackoff`), before going back to active
//!   ([`flush_backoff`](SchedulingQueue::flush_backoff));
//! - **unschedulable**: no node fits; it waits for the cluster to change — a node added or
//!   updated in a way that matters, a placed pod deleted — which
//!   [`move_all`](SchedulingQueue::move_all) signals (to backoff if its backoff has not run
//!   out, else to active), or for 5 minutes at most
//!   ([`flush_unschedulable_leftover`](SchedulingQueue::flush_unschedulable_leftover));
//! - **in flight**: popped and being scheduled or bound. A cluster change while it is in
//!   flight sends it to backoff rather than unschedulable if that attempt fails (upstream's
//!   move-request cycle), so no change is missed; updates and deletes seen meanwhile are
//!   remembered.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::info::pod_key;

/// Upstream `podInitialBackoffDuration`.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream `podMaxBackoffDuration`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `podMaxInUnschedulablePodsDuration`.
pub const DEFAULT_MAX_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// A pod in the queue, with its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    /// `namespace/name`.
    pub key: String,
    pub pod: Arc<Pod>,
    pub priority: i32,
    /// Scheduling attempts so far (counted when popped).
    pub attempts: u32,
    /// When it was last put into the queue (after its last attempt).
    pub timestamp: Instant,
    /// When it first entered the queue.
    pub initial_timestamp: Instant,
    /// The scheduling cycle in which it was last popped.
    pub cycle: u64,
}

impl QueuedPod {
    fn new(pod: Arc<Pod>, now: Instant) -> QueuedPod {
        QueuedPod {
            key: pod_key(&pod),
            priority: pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0),
            pod,
            attempts: 0,
            timestamp: now,
            initial_timestamp: now,
            cycle: 0,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveEntry {
    priority: i32,
    seq: u64,
    key: String,
}

impl Ord for ActiveEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Max-heap: higher priority first, then lower (older) sequence number first.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for ActiveEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct InFlight {
    /// A newer version of the pod seen while it was in flight.
    latest: Option<Arc<Pod>>,
    deleted: bool,
}

/// How many pods each part of the queue holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueLengths {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub in_flight: usize,
}

/// See the [module docs](self).
#[derive(Debug)]
pub struct SchedulingQueue {
    initial_backoff: Duration,
    max_backoff: Duration,
    max_unschedulable: Duration,
    active: HashMap<String, (u64, QueuedPod)>,
    active_heap: BinaryHeap<ActiveEntry>,
    backoff: HashMap<String, (u64, QueuedPod)>,
    backoff_heap: BinaryHeap<Reverse<(Instant, u64, String)>>,
    unschedulable: HashMap<String, QueuedPod>,
    in_flight: HashMap<String, InFlight>,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    seq: u64,
}

impl Default for SchedulingQueue {
    fn default() -> Self {
        SchedulingQueue::new(
            DEFAULT_INITIAL_BACKOFF,
            DEFAULT_MAX_BACKOFF,
            DEFAULT_MAX_UNSCHEDULABLE,
        )
    }
}

/// Whether an update may make an unschedulable pod schedulable: its spec, labels or
/// annotations changed (a status-only update, like our own condition patch, does not).
fn meaningfully_changed(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
}

impl SchedulingQueue {
    pub fn new(
        initial_backoff: Duration,
        max_backoff: Duration,
        max_unschedulable: Duration,
    ) -> SchedulingQueue {
        SchedulingQueue {
            initial_backoff,
            max_backoff,
            max_unschedulable,
            active: HashMap::new(),
            active_heap: BinaryHeap::new(),
            backoff: HashMap::new(),
            backoff_heap: BinaryHeap::new(),
            unschedulable: HashMap::new(),
            in_flight: HashMap::new(),
            scheduling_cycle: 0,
            move_request_cycle: 0,
            seq: 0,
        }
    }

    /// How long a pod waits after its `attempts`-th failed attempt.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    fn backoff_expiry(&self, pod: &QueuedPod) -> Instant {
        pod.timestamp + self.backoff_duration(pod.attempts)
    }

    pub fn lengths(&self) -> QueueLengths {
        QueueLengths {
            active: self.active.len(),
            backoff: self.backoff.len(),
            unschedulable: self.unschedulable.len(),
            in_flight: self.in_flight.len(),
        }
    }

    /// Whether `key` is anywhere in the queue (in flight included).
    pub fn contains(&self, key: &str) -> bool {
        self.active.contains_key(key)
            || self.backoff.contains_key(key)
            || self.unschedulable.contains_key(key)
            || self.in_flight.contains_key(key)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn push_active(&mut self, pod: QueuedPod) {
        let seq = self.next_seq();
        self.active_heap.push(ActiveEntry {
            priority: pod.priority,
            seq,
            key: pod.key.clone(),
        });
        self.active.insert(pod.key.clone(), (seq, pod));
    }

    fn push_backoff(&mut self, pod: QueuedPod) {
        let seq = self.next_seq();
        let expiry = self.backoff_expiry(&pod);
        self.backoff_heap
            .push(Reverse((expiry, seq, pod.key.clone())));
        self.backoff.insert(pod.key.clone(), (seq, pod));
    }

    /// To backoff if its backoff has not run out at `now`, else to active. True if active.
    fn push_active_or_backoff(&mut self, pod: QueuedPod, now: Instant) -> bool {
        if self.backoff_expiry(&pod) > now {
            self.push_backoff(pod);
            false
        } else {
            self.push_active(pod);
            true
        }
    }

    /// A pending pod from the watch (new or updated). Returns true when a pod became active
    /// (the scheduling loop should wake up).
    pub fn add_or_update(&mut self, pod: Arc<Pod>, now: Instant) -> bool {
        let key = pod_key(&pod);
        if let Some(flight) = self.in_flight.get_mut(&key) {
            flight.latest = Some(pod);
            return false;
        }
        if let Some((_, queued)) = self.active.get_mut(&key) {
            queued.priority = pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
            queued.pod = pod;
            return false;
        }
        if let Some((_, queued)) = self.backoff.get_mut(&key) {
            queued.pod = pod;
            return false;
        }
        if let Some(mut queued) = self.unschedulable.remove(&key) {
            let changed = meaningfully_changed(&queued.pod, &pod);
            queued.pod = pod;
            if changed {
                return self.push_active_or_backoff(queued, now);
            }
            self.unschedulable.insert(key, queued);
            return false;
        }
        self.push_active(QueuedPod::new(pod, now));
        true
    }

    /// The pod is gone (deleted, bound, or no longer ours).
    pub fn delete(&mut self, key: &str) {
        self.active.remove(key);
        self.backoff.remove(key);
        self.unschedulable.remove(key);
        if let Some(flight) = self.in_flight.get_mut(key) {
            flight.deleted = true;
        }
    }

    /// Takes the next pod to schedule from active, if any; it is in flight until
    /// [`done`](Self::done) or a requeue.
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some(entry) = self.active_heap.pop() {
            let current = self
                .active
                .get(&entry.key)
                .is_some_and(|(seq, _)| *seq == entry.seq);
            if !current {
                continue; // stale heap entry
            }
            let (_, mut pod) = self.active.remove(&entry.key)?;
            self.scheduling_cycle += 1;
            pod.attempts += 1;
            pod.cycle = self.scheduling_cycle;
            self.in_flight.insert(pod.key.clone(), InFlight::default());
            return Some(pod);
        }
        None
    }

    /// The attempt for `key` is over (bound, or dropped).
    pub fn done(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    /// Takes `pod` out of flight; `None` if it was deleted meanwhile, else the newest version.
    fn land(&mut self, mut pod: QueuedPod, now: Instant) -> Option<QueuedPod> {
        let flight = self.in_flight.remove(&pod.key).unwrap_or_default();
        if flight.deleted {
            return None;
        }
        if let Some(latest) = flight.latest {
            pod.priority = latest.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
            pod.pod = latest;
        }
        pod.timestamp = now;
        Some(pod)
    }

    /// No node fits `pod`: it waits for a cluster change (or goes to backoff if one happened
    /// while it was in flight). Returns true if it became active.
    pub fn requeue_unschedulable(&mut self, pod: QueuedPod, now: Instant) -> bool {
        let moved_meanwhile = self.move_request_cycle >= pod.cycle;
        let Some(pod) = self.land(pod, now) else {
            return false;
        };
        if moved_meanwhile {
            self.push_active_or_backoff(pod, now)
        } else {
            self.unschedulable.insert(pod.key.clone(), pod);
            false
        }
    }

    /// The attempt failed for another reason (a binding error): retry after backoff.
    pub fn requeue_backoff(&mut self, pod: QueuedPod, now: Instant) -> bool {
        match self.land(pod, now) {
            Some(pod) => self.push_active_or_backoff(pod, now),
            None => false,
        }
    }

    /// The cluster changed in a way that may help: every unschedulable pod moves to backoff
    /// or active. Returns how many became active.
    pub fn move_all(&mut self, now: Instant) -> usize {
        self.move_request_cycle = self.scheduling_cycle;
        let pods: Vec<QueuedPod> = self.unschedulable.drain().map(|(_, p)| p).collect();
        let mut active = 0;
        for pod in pods {
            if self.push_active_or_backoff(pod, now) {
                active += 1;
            }
        }
        active
    }

    /// Drops every pending pod not in `keep` (after a relist of the pods).
    pub fn retain(&mut self, keep: &std::collections::HashSet<String>) {
        let gone: Vec<String> = self
            .active
            .keys()
            .chain(self.backoff.keys())
            .chain(self.unschedulable.keys())
            .chain(self.in_flight.keys())
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.delete(&key);
        }
    }

    /// Moves pods whose backoff ran out to active. Returns how many.
    pub fn flush_backoff(&mut self, now: Instant) -> usize {
        let mut moved = 0;
        while let Some(Reverse((expiry, seq, key))) = self.backoff_heap.peek().cloned() {
            if expiry > now {
                break;
            }
            self.backoff_heap.pop();
            let current = self.backoff.get(&key).is_some_and(|(s, _)| *s == seq);
            if !current {
                continue;
            }
            if let Some((_, pod)) = self.backoff.remove(&key) {
                self.push_active(pod);
                moved += 1;
            }
        }
        moved
    }

    /// Moves pods unschedulable for longer than the maximum (5 min) back. Returns how many
    /// became active.
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) -> usize {
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.timestamp) >= self.max_unschedulable)
            .map(|(k, _)| k.clone())
            .collect();
        let mut active = 0;
        for key in stale {
            if let Some(pod) = self.unschedulable.remove(&key) {
                if self.push_active_or_backoff(pod, now) {
                    active += 1;
                }
            }
        }
        active
    }

    /// When the earliest backoff runs out, if any pod is backing off.
    pub fn next_backoff_expiry(&self) -> Option<Instant> {
        self.backoff_heap
            .peek()
            .map(|Reverse((expiry, _, _))| *expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"priority": priority, "containers": [{"name": "c"}]},
            }))
            .unwrap(),
        )
    }

    fn queue() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let q = queue();
        let secs: Vec<u64> = (0..7).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 10, 10]);
        assert_eq!(q.backoff_duration(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn active_pods_pop_by_priority_then_age() {
        let mut q = queue();
        let now = Instant::now();
        assert!(q.add_or_update(pod("low-old", 0), now));
        assert!(q.add_or_update(pod("high", 10), now));
        assert!(q.add_or_update(pod("low-new", 0), now));
        let order: Vec<String> = std::iter::from_fn(|| q.pop()).map(|p| p.key).collect();
        assert_eq!(
            order,
            ["default/high", "default/low-old", "default/low-new"]
        );
        assert_eq!(q.lengths().in_flight, 3);
    }

    #[test]
    fn unschedulable_pods_wait_for_a_cluster_change() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), t0);
        let popped = q.pop().unwrap();
        assert_eq!(popped.attempts, 1);
        q.move_all(t0); // a change *before* the attempt ends...
        let mut q2 = queue();
        q2.add_or_update(pod("a", 0), t0);
        let popped2 = q2.pop().unwrap();
        // ...sends the pod to backoff, not unschedulable.
        assert!(!q.requeue_unschedulable(popped, t0));
        assert_eq!(q.lengths().backoff, 1);

        // Without a change, it waits in unschedulable.
        assert!(!q2.requeue_unschedulable(popped2, t0));
        assert_eq!(q2.lengths().unschedulable, 1);
        assert!(q2.pop().is_none());
        assert_eq!(q2.flush_backoff(t0 + Duration::from_secs(30)), 0);
        // A status-only update does not move it.
        assert!(!q2.add_or_update(pod("a", 0), t0));
        assert_eq!(q2.lengths().unschedulable, 1);
        // A node change moves it: to backoff while its 1 s runs, to active afterwards.
        assert_eq!(q2.move_all(t0 + Duration::from_millis(500)), 0);
        assert_eq!(q2.lengths().backoff, 1);
        assert_eq!(q2.flush_backoff(t0 + Duration::from_millis(900)), 0);
        assert_eq!(q2.next_backoff_expiry(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(q2.flush_backoff(t0 + Duration::from_secs(1)), 1);
        let again = q2.pop().unwrap();
        assert_eq!(again.attempts, 2);
    }

    #[test]
    fn a_spec_update_moves_an_unschedulable_pod() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), t0);
        let popped = q.pop().unwrap();
        q.requeue_unschedulable(popped, t0);
        let mut changed = (*pod("a", 0)).clone();
        changed.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "ssd".to_string())].into());
        assert!(q.add_or_update(Arc::new(changed), t0 + Duration::from_secs(2)));
        assert_eq!(q.lengths().active, 1);
    }

    #[test]
    fn long_unschedulable_pods_are_retried_after_five_minutes() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), t0);
        let popped = q.pop().unwrap();
        q.requeue_unschedulable(popped, t0);
        assert_eq!(
            q.flush_unschedulable_leftover(t0 + Duration::from_secs(299)),
            0
        );
        assert_eq!(
            q.flush_unschedulable_leftover(t0 + Duration::from_secs(300)),
            1
        );
        assert!(q.pop().is_some());
    }

    #[test]
    fn binding_errors_back_off() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), t0);
        let first = q.pop().unwrap();
        q.requeue_backoff(first, t0);
        assert_eq!(q.flush_backoff(t0 + Duration::from_millis(999)), 0);
        assert_eq!(q.flush_backoff(t0 + Duration::from_secs(1)), 1);
        let second = q.pop().unwrap();
        q.requeue_backoff(second, t0 + Duration::from_secs(1));
        // Second failure: 2 s.
        assert_eq!(q.flush_backoff(t0 + Duration::from_millis(2999)), 0);
        assert_eq!(q.flush_backoff(t0 + Duration::from_secs(3)), 1);
    }

    #[test]
    fn pods_deleted_or_updated_in_flight() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), t0);
        q.add_or_update(pod("b", 0), t0);
        let a = q.pop().unwrap();
        let b = q.pop().unwrap();
        // An event for an in-flight pod does not queue it twice.
        assert!(!q.add_or_update(pod("a", 7), t0));
        assert!(q.pop().is_none());
        q.delete("default/b");
        assert!(!q.requeue_backoff(b, t0), "a deleted pod is dropped");
        assert!(!q.contains("default/b"));
        q.requeue_backoff(a, t0);
        q.flush_backoff(t0 + Duration::from_secs(1));
        let a = q.pop().unwrap();
        assert_eq!(a.priority, 7, "the newest version is kept");
        q.done("default/a");
        assert_eq!(q.lengths(), QueueLengths::default());
    }

    #[test]
    fn deleting_removes_from_every_part() {
        let mut q = queue();
        let t0 = Instant::now();
        q.add_or_update(pod("active", 0), t0);
        q.add_or_update(pod("unsched", 0), t0);
        q.add_or_update(pod("backoff", 0), t0);
        // Pops in age order: active, unsched, backoff — requeue the last two.
        let _active = q.pop().unwrap();
        let unsched = q.pop().unwrap();
        let backoff = q.pop().unwrap();
        q.requeue_unschedulable(unsched, t0);
        q.requeue_backoff(backoff, t0);
        q.done("default/active");
        q.add_or_update(pod("fresh", 0), t0);
        for key in ["default/fresh", "default/unsched", "default/backoff"] {
            assert!(q.contains(key));
            q.delete(key);
            assert!(!q.contains(key));
        }
        assert!(q.pop().is_none());
        assert_eq!(q.flush_backoff(t0 + Duration::from_secs(60)), 0);
    }
}
