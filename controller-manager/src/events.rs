//! Events, as upstream controllers record them (`SuccessfulCreate`, `ScalingReplicaSet`,
//! `TaintManagerEviction`, ...), so `kubectl describe` and `kubectl get events` tell what the
//! controllers did. They are core/v1 Events named `<object>.<hex nanoseconds>` like
//! client-go's recorder makes them, written in the background: a failed event write is
//! logged, never an error of the reconcile that recorded it.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

/// `Normal` or `Warning`, as upstream.
pub const NORMAL: &str = "Normal";
pub const WARNING: &str = "Warning";

/// Records events for one controller (`source.component`).
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: &'static str,
    host: String,
}

impl Recorder {
    pub fn new(client: Client, component: &'static str) -> Recorder {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Recorder {
            client,
            component,
            host,
        }
    }

    /// Records `reason`/`message` about `obj` in the background.
    pub fn record<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: &str,
        reason: &str,
        message: String,
    ) {
        let event = event_for(
            obj,
            self.component,
            &self.host,
            type_,
            reason,
            message,
            jiff::Timestamp::now(),
        );
        let namespace = event
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        tokio::spawn(async move {
            if let Err(error) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(%error, reason = ?event.reason, "could not record event");
            }
        });
    }
}

/// The Event recording `reason` about `obj` at `now` (pure, for tests).
pub fn event_for<K: Resource<DynamicType = ()>>(
    obj: &K,
    component: &str,
    host: &str,
    type_: &str,
    reason: &str,
    message: String,
    now: jiff::Timestamp,
) -> Event {
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    // Cluster-scoped objects get their events in `default`, as upstream.
    let namespace = meta
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".into());
    let seconds = crate::util::truncate(now);
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: Some(namespace),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(K::api_version(&()).to_string()),
            kind: Some(K::kind(&()).to_string()),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            uid: meta.uid.clone(),
            resource_version: meta.resource_version.clone(),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(type_.into()),
        source: Some(EventSource {
            component: Some(component.into()),
            host: None,
        }),
        first_timestamp: Some(Time(seconds)),
        last_timestamp: Some(Time(seconds)),
        // client-go's legacy recorder leaves eventTime unset (with it, `action` is required).
        event_time: None,
        count: Some(1),
        reporting_component: Some(component.into()),
        reporting_instance: Some(if host.is_empty() {
            component.to_string()
        } else {
            format!("{component}-{host}")
        }),
        action: None,
        related: None,
        series: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;

    #[test]
    fn events_name_the_object() {
        let pod = k8s_openapi::api::core::v1::Pod {
            metadata: ObjectMeta {
                name: Some("web-1".into()),
                namespace: Some("prod".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let e = event_for(
            &pod,
            "replicaset-controller",
            "h",
            NORMAL,
            "SuccessfulCreate",
            "Created pod: web-1".into(),
            now,
        );
        assert_eq!(e.metadata.namespace.as_deref(), Some("prod"));
        assert!(e.metadata.name.as_deref().unwrap().starts_with("web-1."));
        let o = &e.involved_object;
        assert_eq!(
            (
                o.kind.as_deref(),
                o.api_version.as_deref(),
                o.name.as_deref(),
                o.uid.as_deref()
            ),
            (Some("Pod"), Some("v1"), Some("web-1"), Some("u1"))
        );
        assert_eq!(
            e.source.unwrap().component.as_deref(),
            Some("replicaset-controller")
        );
        assert_eq!(
            e.reporting_instance.as_deref(),
            Some("replicaset-controller-h")
        );
        let node = Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = event_for(
            &node,
            "node-controller",
            "",
            NORMAL,
            "NodeNotReady",
            "x".into(),
            now,
        );
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(e.reporting_instance.as_deref(), Some("node-controller"));
    }
}
