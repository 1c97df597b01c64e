//! Runs one level-driven controller on kube-runtime's [`applier`]: a queue of object keys fed
//! by informer changes, one reconcile per key at a time (never two for the same key), requeue
//! after the [`Action`] the reconciler returns, and per-key exponential backoff on errors
//! (upstream's default controller rate limiter: 5 ms doubling up to 1000 s; capped lower here).
//!
//! `Controller::for_shared_stream` would do the wiring, but kube-runtime's shared streams
//! drop deletions and sit behind unstable features; `applier` is the stable engine underneath
//! `Controller` and takes any stream of keys.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt};
use kube::runtime::applier;
use kube::runtime::controller::{Action, Config as ApplierConfig};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Resource;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::Error;

/// How long a healthy object waits for its next periodic resync.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(300);

/// First retry after an error.
const BACKOFF_BASE: Duration = Duration::from_millis(5);

/// Longest wait between retries after repeated errors.
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Labels of the reconcile counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: String,
    pub result: String,
}

/// Counters every controller reports into (`/metrics`).
#[derive(Clone, Default)]
pub struct ControllerMetrics {
    pub reconciles: Family<ReconcileLabels, Counter>,
}

impl ControllerMetrics {
    fn count(&self, controller: &str, ok: bool) {
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller: controller.to_string(),
                result: if ok { "success" } else { "error" }.to_string(),
            })
            .inc();
    }
}

/// Per-key failure counts for the error backoff.
#[derive(Default)]
struct Failures(Mutex<HashMap<String, u32>>);

impl Failures {
    fn record(&self, key: &str, ok: bool) -> u32 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            map.remove(key);
            0
        } else {
            let n = map.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
    }

    fn get(&self, key: &str) -> u32 {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).copied().unwrap_or(0)
    }
}

/// The delay before retry number `failures` (1-based): 5 ms doubling, capped.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

/// A stream of keys that should be reconciled.
pub type Triggers<K> = BoxStream<'static, ObjectRef<K>>;

/// Turns informer changes into keys with `mapper`.
pub fn trigger<C, K, I>(
    changes: impl Stream<Item = C> + Send + 'static,
    mapper: impl Fn(C) -> I + Send + 'static,
) -> Triggers<K>
where
    K: Resource + 'static,
    K::DynamicType: Send,
    I: IntoIterator<Item = ObjectRef<K>>,
    I::IntoIter: Send + 'static,
{
    changes
        .flat_map(move |change| stream::iter(mapper(change)))
        .boxed()
}

/// Runs `reconcile` for every key from `triggers` whose object is in `store`, until `shutdown`.
/// Waits for `ready` (the caches the reconciler reads) before the first reconcile.
#[allow(clippy::too_many_arguments)]
pub async fn run<K, Ctx, F, Fut>(
    name: &'static str,
    store: Store<K>,
    triggers: Vec<Triggers<K>>,
    ready: BoxFuture<'static, ()>,
    concurrency: u16,
    ctx: Arc<Ctx>,
    reconcile: F,
    metrics: ControllerMetrics,
    shutdown: CancellationToken,
) where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: std::fmt::Debug + Eq + Hash + Clone + Unpin + Send + Sync,
    Ctx: Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    tokio::select! {
        _ = ready => {}
        _ = shutdown.cancelled() => return,
    }
    tracing::info!(controller = name, "caches synced; starting workers");
    let failures = Arc::new(Failures::default());
    let reconcile = Arc::new(reconcile);
    let queue = stream::select_all(triggers)
        .map(Ok::<_, Infallible>)
        .take_until(shutdown.clone().cancelled_owned());
    let reconciler = {
        let failures = failures.clone();
        let metrics = metrics.clone();
        move |obj: Arc<K>, ctx: Arc<Ctx>| -> BoxFuture<'static, Result<Action, Error>> {
            let key = object_key(&*obj);
            let span = tracing::info_span!("reconcile", controller = name, object = %key);
            let fut = reconcile(obj, ctx);
            let failures = failures.clone();
            let metrics = metrics.clone();
            async move {
                let result = match tokio::spawn(fut.instrument(span)).await {
                    Ok(result) => result,
                    Err(join) => Err(Error::Task {
                        key: key.clone(),
                        message: join.to_string(),
                    }),
                };
                failures.record(&key, result.is_ok());
                metrics.count(name, result.is_ok());
                result
            }
            .boxed()
        }
    };
    let error_policy = {
        let failures = failures.clone();
        move |obj: Arc<K>, error: &Error, _ctx: Arc<Ctx>| {
            let key = object_key(&*obj);
            let delay = backoff(failures.get(&key).max(1));
            // Conflicts are the normal price of optimistic concurrency: quiet.
            if error.is_status(409) {
                tracing::debug!(controller = name, object = %key, %error, "conflict; retrying");
            } else {
                tracing::warn!(controller = name, object = %key, %error, retry_in = ?delay, "reconcile failed");
            }
            Action::requeue(delay)
        }
    };
    let config = ApplierConfig::default().concurrency(concurrency);
    let results = applier(reconciler, error_policy, ctx, store, queue, config);
    let mut results = std::pin::pin!(results);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            next = results.next() => {
                // Errors were reported by the error policy; a key whose object left the
                // cache needs nothing.
                if next.is_none() {
                    break;
                }
            }
        }
    }
    tracing::info!(controller = name, "stopped");
}

/// `namespace/name` of an object.
pub fn object_key<K: Resource>(obj: &K) -> String {
    crate::util::key_of(obj.meta())
}

/// The key of `obj` as the applier wants it.
pub fn obj_ref<K: Resource<DynamicType = ()>>(name: &str, namespace: Option<&str>) -> ObjectRef<K> {
    let r = ObjectRef::new(name);
    match namespace {
        Some(ns) if !ns.is_empty() => r.within(ns),
        _ => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cases = [
            (1, Duration::from_millis(5)),
            (2, Duration::from_millis(10)),
            (5, Duration::from_millis(80)),
            (14, Duration::from_millis(5 * 8192)),
            (40, BACKOFF_MAX),
        ];
        for (failures, expected) in cases {
            assert_eq!(backoff(failures), expected, "failures={failures}");
        }
    }

    #[test]
    fn failures_reset_on_success() {
        let f = Failures::default();
        assert_eq!(f.record("a", false), 1);
        assert_eq!(f.record("a", false), 2);
        assert_eq!(f.get("a"), 2);
        assert_eq!(f.record("a", true), 0);
        assert_eq!(f.get("a"), 0);
    }
}
