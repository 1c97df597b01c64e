//! The scheduler's writes, kept thin: bindings (`POST pods/<name>/binding`), the
//! `PodScheduled=False` condition of pods that fit nowhere (`PATCH pods/<name>/status`), and
//! Events.
//!
//! Events are best effort, as upstream's recorder: they go through a bounded queue
//! ([`EVENT_QUEUE_CAPACITY`]) to a writer task, and are dropped (and counted) when it is
//! full, so a flood of events never slows scheduling. Repeats of the same event for the same
//! pod (same reason and message) within [`EVENT_AGGREGATION_WINDOW`] increment `count` on
//! the existing Event, as upstream's event correlator does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Binding, Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Events waiting to be written beyond this are dropped (upstream `maxQueuedEvents`).
pub const EVENT_QUEUE_CAPACITY: usize = 1000;
/// Events written at the same time.
const EVENT_WRITERS: usize = 4;
/// Repeats within this window update the first Event's count.
pub const EVENT_AGGREGATION_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Remembered events before the oldest are forgotten.
const EVENT_CACHE_SIZE: usize = 4096;

/// What became of a binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindOutcome {
    Bound,
    /// The pod is gone or already bound elsewhere: nothing to retry.
    Gone(String),
    /// Another failure: retry after backoff.
    Retry(String),
}

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event to record about a pod.
#[derive(Debug, Clone)]
pub struct EventRequest {
    pub pod: ObjectReference,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// Does the scheduler's writes. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    client: Client,
    events: mpsc::Sender<EventRequest>,
    metrics: Metrics,
}

/// The reference an Event's `involvedObject` holds for `pod`.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Pod".to_string()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Whether `pod` already carries `PodScheduled=False` with this reason and message (then
/// there is nothing to patch).
pub fn has_condition(pod: &Pod, reason: &str, message: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message)
        })
}

/// The strategic merge patch that sets `PodScheduled=False` (conditions merge by `type`). The
/// transition time is kept when the condition was already False, as upstream's
/// `UpdatePodCondition` does.
pub fn unschedulable_patch(
    pod: &Pod,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> serde_json::Value {
    let previous = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    let transition = previous.unwrap_or(now);
    json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": Time(transition),
    }]}})
}

impl Executor {
    /// An executor and the receiving end of its event queue (for [`run_event_writer`]).
    pub fn new(client: Client, metrics: Metrics) -> (Executor, mpsc::Receiver<EventRequest>) {
        let (events, receiver) = mpsc::channel(EVENT_QUEUE_CAPACITY);
        (
            Executor {
                client,
                events,
                metrics,
            },
            receiver,
        )
    }

    /// Binds `pod` to `node`. The binding carries the pod's UID, so a pod deleted and
    /// recreated under the same name is not bound by mistake.
    pub async fn bind(&self, pod: &Pod, node: &str) -> BindOutcome {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                uid: pod.metadata.uid.clone(),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".to_string()),
                kind: Some("Node".to_string()),
                name: Some(node.to_string()),
                ..ObjectReference::default()
            },
        };
        let started = Instant::now();
        let result: Result<serde_json::Value, kube::Error> = api
            .create_subresource("binding", name, &PostParams::default(), &binding)
            .await;
        self.metrics
            .binding_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(_) => BindOutcome::Bound,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                BindOutcome::Gone(status.message.clone())
            }
            Err(kube::Error::Api(status))
                if status.code == 409
                    && (status.message.contains("already assigned")
                        || status.message.contains("being deleted")) =>
            {
                BindOutcome::Gone(status.message.clone())
            }
            Err(error) => BindOutcome::Retry(error.to_string()),
        }
    }

    /// Sets `PodScheduled=False` with `reason` and `message` on `pod`, unless it has it.
    pub async fn mark_unschedulable(
        &self,
        pod: &Pod,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        if has_condition(pod, reason, message) {
            return Ok(());
        }
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let patch = unschedulable_patch(pod, reason, message, Timestamp::now());
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
        {
            Ok(_) => Ok(()),
            // Deleted meanwhile: nothing to say about it.
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Queues an event about `pod`; dropped (and counted) when the queue is full.
    pub fn event(&self, pod: &Pod, type_: EventType, reason: &str, message: String) {
        let request = EventRequest {
            pod: pod_reference(pod),
            type_,
            reason: reason.to_string(),
            message,
        };
        if self.events.try_send(request).is_err() {
            self.metrics.events_dropped.inc();
        }
    }
}

/// Key under which repeats of an event are aggregated.
type EventKey = (String, String, EventType, String, String);

struct Seen {
    namespace: String,
    name: String,
    count: i32,
    first: Instant,
}

/// What to write for one request: a new Event, or a count update of an earlier one.
enum Write {
    Create(Event),
    Bump {
        namespace: String,
        name: String,
        count: i32,
        fallback: Event,
    },
}

/// Builds the core/v1 Event upstream's legacy recorder writes.
pub fn build_event(
    request: &EventRequest,
    component: &str,
    instance: &str,
    now: Timestamp,
) -> Event {
    let pod_name = request.pod.name.as_deref().unwrap_or("pod");
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{pod_name}.{:x}", now.as_nanosecond())),
            namespace: request.pod.namespace.clone(),
            ..ObjectMeta::default()
        },
        involved_object: request.pod.clone(),
        reason: Some(request.reason.clone()),
        message: Some(request.message.clone()),
        type_: Some(request.type_.as_str().to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        action: Some("Scheduling".to_string()),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(instance.to_string()),
        ..Event::default()
    }
}

/// Writes queued events until `shutdown`, aggregating repeats. `component` is the scheduler
/// name (`default-scheduler`), `instance` this replica's identity.
pub async fn run_event_writer(
    client: Client,
    receiver: mpsc::Receiver<EventRequest>,
    component: String,
    instance: String,
    shutdown: CancellationToken,
) {
    let mut seen: HashMap<EventKey, Seen> = HashMap::new();
    let client = Arc::new(client);
    let writes = tokio_stream::wrappers::ReceiverStream::new(receiver)
        .take_until(shutdown.cancelled_owned())
        .map(|request| {
            let now = Timestamp::now();
            let event = build_event(&request, &component, &instance, now);
            let key: EventKey = (
                request.pod.namespace.clone().unwrap_or_default(),
                request.pod.uid.clone().unwrap_or_default(),
                request.type_,
                request.reason.clone(),
                request.message.clone(),
            );
            if seen.len() > EVENT_CACHE_SIZE {
                seen.retain(|_, s| s.first.elapsed() < EVENT_AGGREGATION_WINDOW);
                if seen.len() > EVENT_CACHE_SIZE {
                    seen.clear();
                }
            }
            let write = match seen.get_mut(&key) {
                Some(s) if s.first.elapsed() < EVENT_AGGREGATION_WINDOW => {
                    s.count += 1;
                    Write::Bump {
                        namespace: s.namespace.clone(),
                        name: s.name.clone(),
                        count: s.count,
                        fallback: event,
                    }
                }
                _ => {
                    seen.insert(
                        key,
                        Seen {
                            namespace: event.metadata.namespace.clone().unwrap_or_default(),
                            name: event.metadata.name.clone().unwrap_or_default(),
                            count: 1,
                            first: Instant::now(),
                        },
                    );
                    Write::Create(event)
                }
            };
            let client = client.clone();
            async move { write_event(&client, write).await }
        })
        .buffer_unordered(EVENT_WRITERS);
    tokio::pin!(writes);
    while writes.next().await.is_some() {}
}

async fn write_event(client: &Client, write: Write) {
    let (namespace, event) = match write {
        Write::Create(event) => (event.metadata.namespace.clone().unwrap_or_default(), event),
        Write::Bump {
            namespace,
            name,
            count,
            fallback,
        } => {
            let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
            let patch = json!({"count": count, "lastTimestamp": Time(Timestamp::now())});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => return,
                Err(error) => {
                    tracing::debug!(%error, event = %name, "updating an event failed; writing a new one");
                    (namespace, fallback)
                }
            }
        }
    };
    let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(error) = api.create(&PostParams::default(), &event).await {
        tracing::debug!(%error, reason = event.reason.as_deref().unwrap_or_default(), "writing an event failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
            "spec": {"containers": []},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    #[test]
    fn the_unschedulable_condition_is_patched_only_when_it_changes() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let fresh = pod(json!([]));
        assert!(!has_condition(&fresh, "Unschedulable", "m"));
        let patch = unschedulable_patch(&fresh, "Unschedulable", "m", now);
        assert_eq!(
            patch,
            json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m", "lastProbeTime": null, "lastTransitionTime": "2023-11-14T22:13:20Z"}]}})
        );
        let marked = pod(
            json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m", "lastTransitionTime": "2023-01-01T00:00:00Z"}]),
        );
        assert!(has_condition(&marked, "Unschedulable", "m"));
        assert!(!has_condition(&marked, "Unschedulable", "other"));
        // A new message keeps the transition time of the False condition.
        let patch = unschedulable_patch(&marked, "Unschedulable", "other", now);
        assert_eq!(
            patch["status"]["conditions"][0]["lastTransitionTime"],
            "2023-01-01T00:00:00Z"
        );
    }

    #[test]
    fn events_look_like_upstream_recorder_events() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let request = EventRequest {
            pod: pod_reference(&pod(json!([]))),
            type_: EventType::Warning,
            reason: "FailedScheduling".into(),
            message: "0/1 nodes are available: 1 Too many pods.".into(),
        };
        let event = build_event(&request, "default-scheduler", "host_1", now);
        assert_eq!(event.metadata.namespace.as_deref(), Some("ns"));
        assert!(event.metadata.name.as_deref().unwrap().starts_with("p."));
        assert_eq!(event.involved_object.kind.as_deref(), Some("Pod"));
        assert_eq!(event.involved_object.uid.as_deref(), Some("u"));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.reason.as_deref(), Some("FailedScheduling"));
        assert_eq!(
            event.source.unwrap().component.as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(event.count, Some(1));
        assert_eq!(event.reporting_instance.as_deref(), Some("host_1"));
    }
}
