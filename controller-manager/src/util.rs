//! Small pure helpers every controller shares: object keys, controller references, pod
//! readiness and availability (upstream `podutil`), int-or-percent scaling (upstream
//! `intstr.GetScaledValueFromIntOrPercent`) and timestamps with the API's one-second precision.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use tinykube_apimachinery::labels::Selector;

/// `namespace/name`, or `name` for cluster-scoped objects: the key tracing spans and errors use.
pub fn key_of(meta: &ObjectMeta) -> String {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{}", name_of(meta)),
        _ => name_of(meta).to_string(),
    }
}

/// The object's name, empty when absent.
pub fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// The object's namespace, empty when absent.
pub fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

/// The object's uid, empty when absent.
pub fn uid_of(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

/// The object's labels (an empty map when absent).
pub fn labels_of(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

/// The owner reference with `controller: true`, if any (upstream `metav1.GetControllerOf`).
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
}

/// Whether `meta` is controlled by the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// A controller reference to `owner` (upstream `metav1.NewControllerRef`): `controller` and
/// `blockOwnerDeletion` both true.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The selector of a workload: `None` (absent) selects nothing, as upstream; an unparsable one
/// is an error for the caller to report.
pub fn workload_selector(
    selector: Option<&LabelSelector>,
) -> Result<Option<Selector>, tinykube_apimachinery::SelectorError> {
    selector.map(Selector::from_label_selector).transpose()
}

/// Whether `selector` matches `meta`'s labels (a `None` selector matches nothing).
pub fn selects(selector: Option<&Selector>, meta: &ObjectMeta) -> bool {
    selector.is_some_and(|s| s.matches(&meta.labels))
}

/// Now, truncated to whole seconds as the API stores `metav1.Time`.
pub fn now() -> Timestamp {
    truncate(Timestamp::now())
}

/// `t` truncated to whole seconds.
pub fn truncate(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Adds whole seconds, saturating at the representable range.
pub fn add_seconds(t: Timestamp, seconds: i64) -> Timestamp {
    let limit = if seconds >= 0 {
        Timestamp::MAX
    } else {
        Timestamp::MIN
    };
    t.as_second()
        .checked_add(seconds)
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(limit)
}

/// The pod's `Ready` condition, if reported.
pub fn pod_ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// Whether the pod reports `Ready=True` (upstream `podutil.IsPodReady`).
pub fn is_pod_ready(pod: &Pod) -> bool {
    pod_ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Whether the pod has been ready for at least `min_ready_seconds` at `now` (upstream
/// `podutil.IsPodAvailable`).
pub fn is_pod_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(condition) = pod_ready_condition(pod).filter(|c| c.status == "True") else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &condition.last_transition_time {
        // Ready without a transition time: upstream counts it as available only when
        // minReadySeconds is zero.
        None => false,
        Some(since) => add_seconds(since.0, i64::from(min_ready_seconds)) <= now,
    }
}

/// Seconds until a ready pod becomes available, if it is ready but not yet available.
pub fn seconds_until_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<i64> {
    let condition = pod_ready_condition(pod).filter(|c| c.status == "True")?;
    let since = condition.last_transition_time.as_ref()?;
    let at = add_seconds(since.0, i64::from(min_ready_seconds));
    let left = at.as_second() - now.as_second();
    (left > 0).then_some(left)
}

/// The pod's phase, empty when unreported.
pub fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

/// Whether the pod still counts for its controller: not terminated and not being deleted
/// (upstream `controller.IsPodActive`).
pub fn is_pod_active(pod: &Pod) -> bool {
    !matches!(pod_phase(pod), "Succeeded" | "Failed") && !is_deleting(&pod.metadata)
}

/// The node the pod is bound to, if any.
pub fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Errors from [`scaled_value`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for IntOrString: invalid value {0:?}: must be an integer or a percentage")]
pub struct IntOrPercentError(pub String);

/// Upstream `intstr.GetScaledValueFromIntOrPercent`: an integer as is, `"N%"` of `total`
/// rounded up or down.
pub fn scaled_value(
    value: &IntOrString,
    total: i32,
    round_up: bool,
) -> Result<i32, IntOrPercentError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err(IntOrPercentError(s.clone()));
            };
            let percent: i64 = number.parse().map_err(|_| IntOrPercentError(s.clone()))?;
            let product = percent * i64::from(total);
            let scaled = if round_up {
                // ceil for non-negative products, as Go's math.Ceil on the float.
                (product + 99).div_euclid(100)
            } else {
                product.div_euclid(100)
            };
            Ok(scaled.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        }
    }
}

/// Appends `"key=value"` style labels: returns `labels` with `key` set to `value`.
pub fn with_label(
    labels: Option<&BTreeMap<String, String>>,
    key: &str,
    value: &str,
) -> BTreeMap<String, String> {
    let mut labels = labels.cloned().unwrap_or_default();
    labels.insert(key.to_string(), value.to_string());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn pod_ready(status: &str, since: Option<i64>) -> Pod {
        Pod {
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    last_transition_time: since.map(|s| Time(ts(s))),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn scaled_values_round_as_upstream() {
        // (value, total, round_up, expected)
        let cases: &[(IntOrString, i32, bool, Result<i32, ()>)] = &[
            (IntOrString::Int(3), 10, true, Ok(3)),
            (IntOrString::String("25%".into()), 10, true, Ok(3)),
            (IntOrString::String("25%".into()), 10, false, Ok(2)),
            (IntOrString::String("0%".into()), 10, true, Ok(0)),
            (IntOrString::String("100%".into()), 7, false, Ok(7)),
            (IntOrString::String("1%".into()), 1, true, Ok(1)),
            (IntOrString::String("1%".into()), 1, false, Ok(0)),
            (IntOrString::String("50%".into()), 0, true, Ok(0)),
            (IntOrString::String("33%".into()), 3, true, Ok(1)),
            (IntOrString::String("abc".into()), 3, true, Err(())),
            (IntOrString::String("%".into()), 3, true, Err(())),
            (IntOrString::String("5".into()), 3, true, Err(())),
        ];
        for (value, total, up, expected) in cases {
            let got = scaled_value(value, *total, *up).map_err(|_| ());
            assert_eq!(got, *expected, "{value:?} of {total} up={up}");
        }
    }

    #[test]
    fn pod_availability() {
        let now = ts(1000);
        // (pod, minReadySeconds, ready, available)
        let cases = [
            (pod_ready("True", Some(990)), 0, true, true),
            (pod_ready("True", Some(990)), 10, true, true),
            (pod_ready("True", Some(995)), 10, true, false),
            (pod_ready("True", None), 10, true, false),
            (pod_ready("True", None), 0, true, true),
            (pod_ready("False", Some(900)), 0, false, false),
            (Pod::default(), 0, false, false),
        ];
        for (i, (pod, min, ready, available)) in cases.into_iter().enumerate() {
            assert_eq!(is_pod_ready(&pod), ready, "case {i}");
            assert_eq!(is_pod_available(&pod, min, now), available, "case {i}");
        }
        assert_eq!(
            seconds_until_available(&pod_ready("True", Some(995)), 10, now),
            Some(5)
        );
        assert_eq!(
            seconds_until_available(&pod_ready("True", Some(980)), 10, now),
            None
        );
    }

    #[test]
    fn keys_and_controller_refs() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            namespace: Some("prod".into()),
            owner_references: Some(vec![
                OwnerReference {
                    uid: "a".into(),
                    ..Default::default()
                },
                OwnerReference {
                    uid: "b".into(),
                    controller: Some(true),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        assert_eq!(key_of(&meta), "prod/web");
        assert_eq!(controller_of(&meta).map(|r| r.uid.as_str()), Some("b"));
        assert!(is_controlled_by(&meta, "b"));
        assert!(!is_controlled_by(&meta, "a"));
        assert_eq!(
            key_of(&ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            }),
            "n1"
        );
    }

    #[test]
    fn time_arithmetic_saturates() {
        assert_eq!(add_seconds(ts(10), 5), ts(15));
        assert_eq!(add_seconds(ts(10), i64::MAX), Timestamp::MAX);
        assert_eq!(truncate(Timestamp::from_millisecond(1500).unwrap()), ts(1));
    }
}
