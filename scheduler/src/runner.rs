//! The running scheduler: watches feeding the [cache](crate::cache) and the
//! [queue](crate::queue), the scheduling loop, and binding tasks.
//!
//! ```text
//! watch pods  ──> assigned: cache (confirms assumed pods); deleted: cache, queue, move_all
//!             └─> pending, ours: queue.add_or_update
//! watch nodes ──> cache; added or relevantly changed: queue.move_all
//! watch services ─> cache (spreading groups)
//! loop: queue.pop -> algorithm.schedule(cache) -> cache.assume -> spawn bind
//!                                               └> unschedulable: requeue, condition, event
//! bind task: POST binding -> Scheduled event | forget + backoff | drop (pod gone)
//! ticker: backoff -> active, 5-min leftovers, gauges
//! ```
//!
//! The decision for one pod is made under the cache lock, and the pod is assumed before the
//! lock is released, so the next decision already sees it. Bindings run concurrently (at most
//! [`PARALLEL_BINDS`] at once) while the loop goes on, as upstream's binding cycle does.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::Api;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::algorithm::{Algorithm, ScheduleError};
use crate::cache::{Cache, NodeChange};
use crate::executor::{self, BindOutcome, EventType, Executor};
use crate::info::pod_key;
use crate::metrics::Metrics;
use crate::queue::{QueuedPod, SchedulingQueue};

/// Bindings in flight at once.
pub const PARALLEL_BINDS: usize = 64;
/// Status patches for unschedulable pods in flight at once.
const PARALLEL_STATUS_PATCHES: usize = 16;
/// How often backoff and leftover pods are flushed and gauges updated.
const TICK: Duration = Duration::from_millis(200);
/// How often pods unschedulable for too long are retried (upstream: 30 s).
const LEFTOVER_FLUSH: Duration = Duration::from_secs(30);
/// How long stopping tasks (event writes under way) may take before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pods in a terminal phase are not the scheduler's business (upstream filters them out).
const NOT_TERMINAL: &str = "status.phase!=Succeeded,status.phase!=Failed";

/// What the scheduling work needs; built once per leadership term.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    /// Pods with this `spec.schedulerName` are ours.
    pub scheduler_name: String,
    /// This replica's identity (Events' `reportingInstance`).
    pub identity: String,
    pub metrics: Metrics,
    /// Set once nodes, pods and services are listed (readiness).
    pub synced: Arc<AtomicBool>,
    /// Percentage of nodes to score; 0 = adaptive.
    pub percentage_of_nodes_to_score: u32,
}

/// State shared by the tasks.
struct Shared {
    cache: Mutex<Cache>,
    queue: Mutex<SchedulingQueue>,
    /// Wakes the scheduling loop when a pod becomes active.
    wake: Notify,
    nodes_synced: AtomicBool,
    pods_synced: AtomicBool,
    services_synced: AtomicBool,
    synced_changed: Notify,
    scheduler_name: String,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another task must not stop scheduling; the data stays consistent because
    // every critical section is a few plain updates.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn all_synced(&self) -> bool {
        self.nodes_synced.load(Ordering::SeqCst)
            && self.pods_synced.load(Ordering::SeqCst)
            && self.services_synced.load(Ordering::SeqCst)
    }

    /// Cluster event that may help unschedulable pods.
    fn move_all(&self) {
        if lock(&self.queue).move_all(Instant::now()) > 0 {
            self.wake.notify_one();
        }
    }

    async fn next_pod(&self) -> QueuedPod {
        loop {
            if let Some(pod) = lock(&self.queue).pop() {
                return pod;
            }
            self.wake.notified().await;
        }
    }

    fn is_ours(&self, pod: &Pod) -> bool {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .filter(|n| !n.is_empty())
            .unwrap_or("default-scheduler");
        name == self.scheduler_name
    }

    fn apply_pod(&self, pod: Pod) {
        if pod.metadata.name.as_deref().unwrap_or_default().is_empty() {
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded") | Some("Failed")) {
            self.delete_pod(&pod);
            return;
        }
        let key = pod_key(&pod);
        let assigned = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .is_some_and(|n| !n.is_empty());
        if assigned {
            lock(&self.cache).upsert_assigned_pod(&pod);
            lock(&self.queue).delete(&key);
            return;
        }
        let pending = self.is_ours(&pod) && pod.metadata.deletion_timestamp.is_none();
        if !pending {
            lock(&self.queue).delete(&key);
            return;
        }
        if lock(&self.cache).is_assumed(&key) {
            // Its binding is in flight; the watch will show it bound (or we requeue it).
            return;
        }
        if lock(&self.queue).add_or_update(Arc::new(pod), Instant::now()) {
            self.wake.notify_one();
        }
    }

    fn delete_pod(&self, pod: &Pod) {
        let key = pod_key(pod);
        let was_placed = lock(&self.cache).remove_pod(&key);
        lock(&self.queue).delete(&key);
        if was_placed {
            // A placed pod went away: room for unschedulable pods (upstream AssignedPodDelete).
            self.move_all();
        }
    }
}

/// Follows one kind's watch until `token` is cancelled, calling `apply`/`delete` per event
/// and `relisted(keys)` after each complete (re)list.
async fn follow<K, A, D, R>(
    api: Api<K>,
    config: watcher::Config,
    token: CancellationToken,
    what: &'static str,
    mut apply: A,
    mut delete: D,
    mut relisted: R,
) where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    A: FnMut(K),
    D: FnMut(K),
    R: FnMut(HashSet<String>),
{
    let key = |object: &K| {
        let meta = object.meta();
        match &meta.namespace {
            Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or_default()),
            None => meta.name.clone().unwrap_or_default(),
        }
    };
    let stream = watcher(api, config).default_backoff();
    tokio::pin!(stream);
    let mut listing: Option<HashSet<String>> = None;
    loop {
        let event = tokio::select! {
            _ = token.cancelled() => return,
            event = stream.next() => event,
        };
        match event {
            None => return,
            Some(Err(error)) => tracing::warn!(%error, "watching {what} failed; retrying"),
            Some(Ok(Event::Init)) => listing = Some(HashSet::new()),
            Some(Ok(Event::InitApply(object))) => {
                if let Some(keys) = &mut listing {
                    keys.insert(key(&object));
                }
                apply(object);
            }
            Some(Ok(Event::InitDone)) => {
                let keys = listing.take().unwrap_or_default();
                tracing::info!(count = keys.len(), "listed {what}");
                relisted(keys);
            }
            Some(Ok(Event::Apply(object))) => apply(object),
            Some(Ok(Event::Delete(object))) => delete(object),
        }
    }
}

/// Runs the scheduler until `token` is cancelled.
pub async fn run_scheduler(context: Context, token: CancellationToken) {
    let shared = Arc::new(Shared {
        cache: Mutex::new(Cache::new()),
        queue: Mutex::new(SchedulingQueue::default()),
        wake: Notify::new(),
        nodes_synced: AtomicBool::new(false),
        pods_synced: AtomicBool::new(false),
        services_synced: AtomicBool::new(false),
        synced_changed: Notify::new(),
        scheduler_name: context.scheduler_name.clone(),
    });
    let (executor, events) = Executor::new(context.client.clone(), context.metrics.clone());
    let mut tasks = JoinSet::new();
    let stop = token.child_token();

    tasks.spawn(executor::run_event_writer(
        context.client.clone(),
        events,
        context.scheduler_name.clone(),
        context.identity.clone(),
        stop.clone(),
    ));

    // Pods: all of them but finished ones; assigned feed the cache, pending ones the queue.
    {
        let (on_apply, on_delete, on_list) = (shared.clone(), shared.clone(), shared.clone());
        tasks.spawn(
            follow(
                Api::<Pod>::all(context.client.clone()),
                watcher::Config::default()
                    .fields(NOT_TERMINAL)
                    .any_semantic(),
                stop.clone(),
                "pods",
                move |pod| on_apply.apply_pod(pod),
                move |pod: Pod| on_delete.delete_pod(&pod),
                move |keys| {
                    lock(&on_list.cache).retain_pods(&keys);
                    lock(&on_list.queue).retain(&keys);
                    on_list.pods_synced.store(true, Ordering::SeqCst);
                    on_list.synced_changed.notify_waiters();
                },
            )
            .instrument(tracing::info_span!("watch", resource = "pods")),
        );
    }
    // Nodes.
    {
        let (on_apply, on_delete, on_list) = (shared.clone(), shared.clone(), shared.clone());
        tasks.spawn(
            follow(
                Api::<Node>::all(context.client.clone()),
                watcher::Config::default().any_semantic(),
                stop.clone(),
                "nodes",
                move |node: Node| {
                    let change = lock(&on_apply.cache).upsert_node(&node);
                    if matches!(
                        change,
                        Some(NodeChange::Added) | Some(NodeChange::Updated { relevant: true })
                    ) {
                        on_apply.move_all();
                    }
                },
                move |node: Node| {
                    let name = node.metadata.name.unwrap_or_default();
                    lock(&on_delete.cache).remove_node(&name);
                },
                move |keys| {
                    lock(&on_list.cache).retain_nodes(&keys);
                    on_list.nodes_synced.store(true, Ordering::SeqCst);
                    on_list.synced_changed.notify_waiters();
                    on_list.move_all();
                },
            )
            .instrument(tracing::info_span!("watch", resource = "nodes")),
        );
    }
    // Services (spreading groups).
    {
        let (on_apply, on_delete, on_list) = (shared.clone(), shared.clone(), shared.clone());
        tasks.spawn(
            follow(
                Api::<Service>::all(context.client.clone()),
                watcher::Config::default().any_semantic(),
                stop.clone(),
                "services",
                move |service: Service| lock(&on_apply.cache).upsert_service(&service),
                move |service: Service| {
                    lock(&on_delete.cache).remove_service(
                        service.metadata.namespace.as_deref().unwrap_or_default(),
                        service.metadata.name.as_deref().unwrap_or_default(),
                    )
                },
                move |keys| {
                    lock(&on_list.cache).retain_services(&keys);
                    on_list.services_synced.store(true, Ordering::SeqCst);
                    on_list.synced_changed.notify_waiters();
                },
            )
            .instrument(tracing::info_span!("watch", resource = "services")),
        );
    }
    tasks.spawn(ticker(
        shared.clone(),
        context.metrics.clone(),
        stop.clone(),
    ));
    tasks.spawn(scheduling_loop(
        shared.clone(),
        executor,
        context.clone(),
        stop.clone(),
    ));

    token.cancelled().await;
    stop.cancel();
    context.synced.store(false, Ordering::SeqCst);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("tasks did not stop within {SHUTDOWN_GRACE:?}; aborting them");
        tasks.shutdown().await;
    }
}

/// Moves pods out of backoff (and long-unschedulable ones) and refreshes the gauges.
async fn ticker(shared: Arc<Shared>, metrics: Metrics, token: CancellationToken) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_leftover_flush = Instant::now();
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = interval.tick() => {}
        }
        let now = Instant::now();
        let lengths = {
            let mut queue = lock(&shared.queue);
            let mut moved = queue.flush_backoff(now);
            if now.duration_since(last_leftover_flush) >= LEFTOVER_FLUSH {
                moved += queue.flush_unschedulable_leftover(now);
                last_leftover_flush = now;
            }
            if moved > 0 {
                shared.wake.notify_one();
            }
            queue.lengths()
        };
        metrics.set_pending("active", lengths.active);
        metrics.set_pending("backoff", lengths.backoff);
        metrics.set_pending("unschedulable", lengths.unschedulable);
        let cache = lock(&shared.cache);
        metrics.set_cache_size("nodes", cache.nodes().len());
        metrics.set_cache_size("pods", cache.pod_count());
        metrics.set_cache_size("assumed_pods", cache.assumed_count());
    }
}

/// Pops pods and decides, one at a time, until `token` is cancelled.
async fn scheduling_loop(
    shared: Arc<Shared>,
    executor: Executor,
    context: Context,
    token: CancellationToken,
) {
    // Never decide on a partial view of the cluster.
    while !shared.all_synced() {
        let changed = shared.synced_changed.notified();
        if shared.all_synced() {
            break;
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = changed => {}
        }
    }
    context.synced.store(true, Ordering::SeqCst);
    tracing::info!("caches synced; scheduling");
    let mut algorithm = Algorithm::default();
    algorithm.percentage_of_nodes_to_score = context.percentage_of_nodes_to_score;
    let binds = Arc::new(Semaphore::new(PARALLEL_BINDS));
    let patches = Arc::new(Semaphore::new(PARALLEL_STATUS_PATCHES));
    let mut in_flight = JoinSet::new();
    loop {
        let queued = tokio::select! {
            _ = token.cancelled() => break,
            queued = shared.next_pod() => queued,
        };
        let span = tracing::info_span!("schedule", pod = %queued.key);
        span.in_scope(|| {
            schedule_one(
                &shared,
                &executor,
                &context.metrics,
                &mut algorithm,
                queued,
                &binds,
                &patches,
                &mut in_flight,
            )
        });
        // Reap finished bindings so the set does not grow.
        while in_flight.try_join_next().is_some() {}
        // Let the watches and bindings run between decisions.
        tokio::task::yield_now().await;
    }
    in_flight.shutdown().await;
}

#[allow(clippy::too_many_arguments)]
fn schedule_one(
    shared: &Arc<Shared>,
    executor: &Executor,
    metrics: &Metrics,
    algorithm: &mut Algorithm,
    queued: QueuedPod,
    binds: &Arc<Semaphore>,
    patches: &Arc<Semaphore>,
    in_flight: &mut JoinSet<()>,
) {
    let key = queued.key.clone();
    let pod = queued.pod.clone();
    if pod.metadata.deletion_timestamp.is_some() {
        lock(&shared.queue).done(&key);
        return;
    }
    let started = Instant::now();
    let mut cache = lock(&shared.cache);
    if cache.pod(&key).is_some() {
        // Already placed (a stale queue entry): nothing to do.
        drop(cache);
        lock(&shared.queue).done(&key);
        return;
    }
    let info = Arc::new(cache.pod_info(&pod));
    if !info.bad_quantities.is_empty() {
        tracing::warn!(bad = ?info.bad_quantities, "pod has quantities that do not parse; counting them as zero");
    }
    let result = algorithm.schedule(&info, cache.nodes());
    match result {
        Ok(decision) => {
            cache.assume(info, &decision.node_name);
            drop(cache);
            metrics
                .algorithm_duration
                .observe(started.elapsed().as_secs_f64());
            tracing::debug!(
                node = %decision.node_name,
                evaluated = decision.evaluated_nodes,
                feasible = decision.feasible_nodes,
                "assumed pod on node"
            );
            let shared = shared.clone();
            let executor = executor.clone();
            let metrics = metrics.clone();
            let binds = binds.clone();
            let span =
                tracing::info_span!(parent: None, "bind", pod = %key, node = %decision.node_name);
            in_flight.spawn(
                async move {
                    let Ok(_permit) = binds.acquire_owned().await else {
                        return;
                    };
                    bind(&shared, &executor, &metrics, queued, &decision.node_name).await;
                }
                .instrument(span),
            );
        }
        Err(error) => {
            drop(cache);
            metrics
                .algorithm_duration
                .observe(started.elapsed().as_secs_f64());
            metrics.attempt("unschedulable");
            let message = error.to_string();
            let reason = match error {
                ScheduleError::NoNodes | ScheduleError::Unschedulable(_) => "Unschedulable",
            };
            tracing::info!(%message, "unable to schedule pod; waiting");
            if lock(&shared.queue).requeue_unschedulable(queued, Instant::now()) {
                shared.wake.notify_one();
            }
            executor.event(
                &pod,
                EventType::Warning,
                "FailedScheduling",
                message.clone(),
            );
            let executor = executor.clone();
            let patches = patches.clone();
            in_flight.spawn(
                async move {
                    let Ok(_permit) = patches.acquire_owned().await else {
                        return;
                    };
                    if let Err(error) = executor.mark_unschedulable(&pod, reason, &message).await {
                        tracing::warn!(%error, "could not set the PodScheduled condition");
                    }
                }
                .instrument(tracing::info_span!(parent: None, "status", pod = %key)),
            );
        }
    }
}

async fn bind(
    shared: &Shared,
    executor: &Executor,
    metrics: &Metrics,
    queued: QueuedPod,
    node: &str,
) {
    let key = queued.key.clone();
    let pod = queued.pod.clone();
    match executor.bind(&pod, node).await {
        BindOutcome::Bound => {
            metrics.attempt("scheduled");
            lock(&shared.queue).done(&key);
            tracing::debug!("bound");
            let (namespace, name) = key.split_once('/').unwrap_or(("", &key));
            executor.event(
                &pod,
                EventType::Normal,
                "Scheduled",
                format!("Successfully assigned {namespace}/{name} to {node}"),
            );
        }
        BindOutcome::Gone(why) => {
            tracing::info!(%why, "pod went away before its binding; dropping it");
            lock(&shared.cache).forget(&key);
            lock(&shared.queue).done(&key);
        }
        BindOutcome::Retry(error) => {
            metrics.attempt("error");
            tracing::warn!(%error, "binding failed; retrying after backoff");
            lock(&shared.cache).forget(&key);
            let now = Instant::now();
            let became_active = {
                let mut queue = lock(&shared.queue);
                let active = queue.requeue_backoff(queued, now);
                // The forgotten pod's room is free again (upstream moves all pods here too).
                queue.move_all(now) > 0 || active
            };
            if became_active {
                shared.wake.notify_one();
            }
            executor.event(
                &pod,
                EventType::Warning,
                "FailedScheduling",
                format!("Binding rejected: {error}"),
            );
        }
    }
}
