//! Pods (`pods`): `SetObjectDefaults_Pod`, the ServiceAccount admission
//! default, `ValidatePodCreate` and `ValidatePodUpdate`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus, Toleration};
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::inclusive_range_error;

use super::common::{
    is_valid_ip, items, json, name_is_dns_subdomain, text, validate_object_meta,
    validate_object_meta_update, validate_qualified_name, Errors,
};
use super::podspec::{
    default_pod_extras, default_pod_spec, validate_container_only_for_pod, validate_pod_spec,
    validate_pod_specific_annotations, PodOptions, MIRROR_POD_ANNOTATION,
};
use super::Kind;

const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

/// Upstream's list of what a pod update may change.
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

fn is_mirror_pod(pod: &Pod) -> bool {
    pod.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION))
}

/// The v1 conversion keeps `podIP`/`podIPs` (and `hostIP`/`hostIPs`) in step:
/// the single field wins when both are set and differ.
fn sync_ips<T: Clone>(
    single: &mut Option<String>,
    list: &mut Option<Vec<T>>,
    ip_of: impl Fn(&T) -> &str,
    make: impl Fn(String) -> T,
) {
    let first = items(list).first().map(|item| ip_of(item).to_string());
    match (text(single).to_string(), first) {
        (s, Some(first)) if !s.is_empty() && s != first => *list = Some(vec![make(s)]),
        (s, None) if !s.is_empty() => *list = Some(vec![make(s)]),
        (s, Some(first)) if s.is_empty() => *single = Some(first),
        _ => {}
    }
}

/// Upstream `ComputePodQOS` (container-level resources): `Guaranteed` when
/// every container limits cpu and memory and requests equal limits,
/// `BestEffort` when nothing is requested or limited, `Burstable` otherwise.
fn pod_qos_class(spec: &PodSpec) -> &'static str {
    use tinykube_apimachinery::quantity::Quantity;
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    for container in spec.containers.iter().chain(items(&spec.init_containers)) {
        let resources = container.resources.as_ref();
        for (list, sums, is_limits) in [
            (
                resources.and_then(|r| r.requests.as_ref()),
                &mut requests,
                false,
            ),
            (resources.and_then(|r| r.limits.as_ref()), &mut limits, true),
        ] {
            let mut found = 0;
            for (name, value) in list.into_iter().flatten() {
                let name = match name.as_str() {
                    "cpu" => "cpu",
                    "memory" => "memory",
                    _ => continue,
                };
                let Ok(quantity) = Quantity::parse(&value.0) else {
                    continue;
                };
                if quantity.nanos() > 0 {
                    found += 1;
                    let sum = sums.entry(name).or_insert_with(Quantity::zero);
                    *sum = &*sum + &quantity;
                }
            }
            if is_limits && found < 2 {
                guaranteed = false;
            }
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests
            .iter()
            .all(|(name, request)| limits.get(name) == Some(request))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

fn spec_or_default(pod: &Pod) -> std::borrow::Cow<'_, PodSpec> {
    match &pod.spec {
        Some(spec) => std::borrow::Cow::Borrowed(spec),
        None => std::borrow::Cow::Owned(PodSpec::default()),
    }
}

impl Kind for Pod {
    fn set_defaults(&mut self) {
        let mirror = is_mirror_pod(self);
        let spec = self.spec.get_or_insert_with(Default::default);
        default_pod_extras(spec);
        default_pod_spec(spec);
        // v1 -> internal: the deprecated field stands in for an empty name.
        if text(&spec.service_account_name).is_empty() && !text(&spec.service_account).is_empty() {
            spec.service_account_name = spec.service_account.clone();
        }
        // ServiceAccount admission: every pod but a mirror pod runs as a service account.
        if !mirror && text(&spec.service_account_name).is_empty() {
            spec.service_account_name = Some("default".to_string());
        }
        // internal -> v1: the deprecated field mirrors the name.
        if !text(&spec.service_account_name).is_empty() {
            spec.service_account = spec.service_account_name.clone();
        }
        let qos_class = pod_qos_class(spec);
        let status = self.status.get_or_insert_with(Default::default);
        status.qos_class = Some(qos_class.to_string());
        {
            sync_ips(
                &mut status.pod_ip,
                &mut status.pod_ips,
                |ip| ip.ip.as_str(),
                |ip| k8s_openapi::api::core::v1::PodIP { ip },
            );
            sync_ips(
                &mut status.host_ip,
                &mut status.host_ips,
                |ip| ip.ip.as_str(),
                |ip| k8s_openapi::api::core::v1::HostIP { ip },
            );
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = validate_pod_metadata_and_spec(self);
        let spec = spec_or_default(self);
        let spec_path = FieldPath::new("spec");
        if !items(&spec.ephemeral_containers).is_empty() {
            errs.push(FieldError::forbidden(
                spec_path.child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        if !text(&spec.node_name).is_empty() && !items(&spec.scheduling_gates).is_empty() {
            errs.push(FieldError::forbidden(
                spec_path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        validate_pod_update(self, old)
    }
}

/// Upstream `validatePodMetadataAndSpec`.
fn validate_pod_metadata_and_spec(pod: &Pod) -> Errors {
    let meta_path = FieldPath::new("metadata");
    let spec_path = FieldPath::new("spec");
    let spec = spec_or_default(pod);
    let mut errs = validate_object_meta(&pod.metadata, true, name_is_dns_subdomain, &meta_path);
    errs.extend(validate_pod_specific_annotations(
        pod.metadata.annotations.as_ref(),
        &spec,
        &meta_path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(
        &spec,
        &spec_path,
        PodOptions {
            resource_is_pod: true,
        },
    ));
    if text(&spec.service_account_name).is_empty() {
        for (i, volume) in items(&spec.volumes).iter().enumerate() {
            let Some(projected) = &volume.projected else {
                continue;
            };
            for (j, source) in items(&projected.sources).iter().enumerate() {
                if source.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        spec_path
                            .child("volumes")
                            .index(i)
                            .child("projected")
                            .child("sources")
                            .index(j)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (i, container) in spec.containers.iter().enumerate() {
        errs.extend(validate_container_only_for_pod(
            container,
            &spec_path.child("containers").index(i),
        ));
    }
    for (i, container) in items(&spec.init_containers).iter().enumerate() {
        errs.extend(validate_container_only_for_pod(
            container,
            &spec_path.child("initContainers").index(i),
        ));
    }
    errs
}

/// Upstream `ValidatePodSpecificAnnotationUpdates` (the per-annotation checks
/// of the new pod are done by [`validate_pod_metadata_and_spec`]).
fn validate_annotation_updates(new: &Pod, old: &Pod, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let empty = BTreeMap::new();
    let new_annotations = new.metadata.annotations.as_ref().unwrap_or(&empty);
    let old_annotations = old.metadata.annotations.as_ref().unwrap_or(&empty);
    for (key, old_value) in old_annotations {
        if new_annotations.get(key) == Some(old_value) {
            continue;
        }
        if key.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not remove or update AppArmor annotations",
            ));
        }
        if key == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not remove or update mirror pod annotation",
            ));
        }
    }
    for key in new_annotations.keys() {
        if old_annotations.contains_key(key) {
            continue;
        }
        if key.starts_with(APPARMOR_ANNOTATION_PREFIX) {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not add AppArmor annotations",
            ));
        }
        if key == MIRROR_POD_ANNOTATION {
            errs.push(FieldError::forbidden(
                path.key(key),
                "may not add mirror pod annotation",
            ));
        }
    }
    errs
}

/// Upstream `ValidateContainerUpdates`; `true` means stop validating.
fn validate_container_updates(
    new: &[k8s_openapi::api::core::v1::Container],
    old: &[k8s_openapi::api::core::v1::Container],
    path: &FieldPath,
) -> (Errors, bool) {
    if new.len() != old.len() {
        return (
            vec![FieldError::forbidden(
                path,
                "pod updates may not add or remove containers",
            )],
            true,
        );
    }
    let mut errs = Vec::new();
    for (i, container) in new.iter().enumerate() {
        let image = text(&container.image);
        if image.is_empty() {
            errs.push(FieldError::required(path.index(i).child("image"), ""));
        }
        if image.trim() != image {
            errs.push(FieldError::invalid(
                path.index(i).child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    (errs, false)
}

fn validate_only_added_tolerations(
    new: &[Toleration],
    old: &[Toleration],
    path: &FieldPath,
) -> Errors {
    for old_toleration in old {
        let found = new.iter().any(|candidate| {
            let mut expected = old_toleration.clone();
            expected.toleration_seconds = candidate.toleration_seconds;
            expected == *candidate
        });
        if !found {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    Vec::new()
}

/// Drops nulls and empty lists, which Go's semantic equality treats as absent.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// A line-per-change description of how `new` differs from `old`.
fn diff(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    &child,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if old != new => {
            if !old.is_null() {
                out.push(format!("-  {path}: {old}"));
            }
            if !new.is_null() {
                out.push(format!("+  {path}: {new}"));
            }
        }
        _ => {}
    }
}

fn set_field(object: &mut Value, key: &str, value: Option<&Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(v) if !v.is_null() => {
                map.insert(key.to_string(), v.clone());
            }
            _ => {
                map.remove(key);
            }
        }
    }
}

/// The new spec with everything an update may change put back as it was.
fn munged_spec(new: &PodSpec, old: &PodSpec, path: &FieldPath, errs: &mut Errors) -> Value {
    let mut spec = normalize(&json(new));
    let old_json = normalize(&json(old));
    for list in ["containers", "initContainers"] {
        let old_list = old_json
            .get(list)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for (container, old_container) in containers.iter_mut().zip(&old_list) {
                set_field(container, "image", old_container.get("image"));
            }
        }
    }
    for field in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        set_field(&mut spec, field, old_json.get(field));
    }
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && new.termination_grace_period_seconds == Some(1)
    {
        set_field(
            &mut spec,
            "terminationGracePeriodSeconds",
            old_json.get("terminationGracePeriodSeconds"),
        );
    }
    // Gated pods may gain node selectors (no mutations or deletions).
    if !items(&old.scheduling_gates).is_empty() && new.node_selector != old.node_selector {
        let empty = BTreeMap::new();
        let new_selector = new.node_selector.as_ref().unwrap_or(&empty);
        let kept = old
            .node_selector
            .iter()
            .flatten()
            .all(|(k, v)| new_selector.get(k) == Some(v));
        if kept {
            set_field(&mut spec, "nodeSelector", old_json.get("nodeSelector"));
        } else {
            errs.push(FieldError::invalid(
                path.child("nodeSelector"),
                json(new_selector),
                "only additions to spec.nodeSelector are allowed (no mutations or deletions)",
            ));
            set_field(&mut spec, "nodeSelector", old_json.get("nodeSelector"));
        }
    }
    spec
}

fn validate_pod_ips(status: &PodStatus) -> Errors {
    let mut errs = Vec::new();
    let pod_ips_path = FieldPath::new("status").child("podIPs");
    let pod_ips: Vec<&str> = items(&status.pod_ips)
        .iter()
        .map(|ip| ip.ip.as_str())
        .collect();
    errs.extend(validate_ip_list(
        &pod_ips,
        &pod_ips_path,
        json(&status.pod_ips),
    ));
    let host_ips: Vec<&str> = items(&status.host_ips)
        .iter()
        .map(|ip| ip.ip.as_str())
        .collect();
    let host_ips_path = FieldPath::new("status").child("hostIPs");
    if let Some(first) = host_ips.first() {
        if text(&status.host_ip) != *first {
            errs.push(FieldError::invalid(
                host_ips_path.index(0).child("ip"),
                *first,
                "must be equal to `hostIP`",
            ));
        }
    }
    errs.extend(validate_ip_list(
        &host_ips,
        &host_ips_path,
        json(&status.host_ips),
    ));
    for (i, condition) in items(&status.conditions).iter().enumerate() {
        if !matches!(
            condition.type_.as_str(),
            "PodScheduled" | "Ready" | "Initialized"
        ) {
            errs.extend(validate_qualified_name(
                &condition.type_,
                &FieldPath::new("metadata")
                    .child("conditions")
                    .index(i)
                    .child("Type"),
            ));
        }
    }
    errs
}

/// Valid IPs, at most one per family, no duplicates.
fn validate_ip_list(ips: &[&str], path: &FieldPath, whole: Value) -> Errors {
    let mut errs = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        errs.extend(is_valid_ip(&path.index(i), ip));
    }
    if !errs.is_empty() || ips.len() < 2 {
        return errs;
    }
    let families: Vec<bool> = ips
        .iter()
        .filter_map(|ip| super::common::parse_ip_sloppy(ip))
        .map(|ip| ip.is_ipv4())
        .collect();
    if ips.len() > 2 || families.first() == families.get(1) {
        errs.push(FieldError::invalid(
            path,
            whole,
            "may specify no more than one IP for each IP family",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, ip) in ips.iter().enumerate() {
        if !seen.insert(*ip) {
            errs.push(FieldError::duplicate(
                path.index(i),
                json(&serde_json::json!({"ip": ip})),
            ));
        }
    }
    errs
}

/// Upstream `ValidateContainerStateTransition`: containers that will not be
/// restarted stay terminated.
fn validate_state_transitions(new: &Pod, old: &Pod) -> Errors {
    let mut errs = Vec::new();
    let restart_policy = old.spec.as_ref().map_or("", |s| text(&s.restart_policy));
    if restart_policy == "Always" {
        return errs;
    }
    let empty = PodStatus::default();
    let new_status = new.status.as_ref().unwrap_or(&empty);
    let old_status = old.status.as_ref().unwrap_or(&empty);
    let path = FieldPath::new("status").child("containerStatuses");
    for (i, old_cs) in items(&old_status.container_statuses).iter().enumerate() {
        let Some(terminated) = old_cs.state.as_ref().and_then(|s| s.terminated.as_ref()) else {
            continue;
        };
        if terminated.exit_code != 0 && restart_policy == "OnFailure" {
            continue;
        }
        for new_cs in items(&new_status.container_statuses) {
            let still_terminated = new_cs
                .state
                .as_ref()
                .is_some_and(|s| s.terminated.is_some());
            if new_cs.name == old_cs.name && !still_terminated {
                errs.push(FieldError::forbidden(
                    path.index(i).child("state"),
                    "may not be transitioned to non-terminated state",
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodUpdate` (and, when the status changed, the checks of
/// `ValidatePodStatusUpdate`).
fn validate_pod_update(new: &Pod, old: &Pod) -> Errors {
    let meta_path = FieldPath::new("metadata");
    let spec_path = FieldPath::new("spec");
    let mut errs = validate_object_meta_update(&new.metadata, &old.metadata, &meta_path);
    errs.extend(validate_pod_metadata_and_spec(new));
    errs.extend(validate_annotation_updates(
        new,
        old,
        &meta_path.child("annotations"),
    ));
    if json(&new.status) != json(&old.status) {
        if let Some(status) = &new.status {
            errs.extend(validate_pod_ips(status));
        }
        errs.extend(validate_state_transitions(new, old));
    }
    let new_spec = spec_or_default(new);
    let old_spec = spec_or_default(old);

    let (container_errs, stop) = validate_container_updates(
        &new_spec.containers,
        &old_spec.containers,
        &spec_path.child("containers"),
    );
    errs.extend(container_errs);
    if stop {
        return errs;
    }
    let (container_errs, stop) = validate_container_updates(
        items(&new_spec.init_containers),
        items(&old_spec.init_containers),
        &spec_path.child("initContainers"),
    );
    errs.extend(container_errs);
    if stop {
        return errs;
    }

    let deadline_path = spec_path.child("activeDeadlineSeconds");
    match (
        new_spec.active_deadline_seconds,
        old_spec.active_deadline_seconds,
    ) {
        (Some(new_deadline), old_deadline) => {
            if !(0..=i64::from(i32::MAX)).contains(&new_deadline) {
                errs.push(FieldError::invalid(
                    deadline_path,
                    new_deadline,
                    inclusive_range_error(0, i64::from(i32::MAX)),
                ));
                return errs;
            }
            if old_deadline.is_some_and(|old| old < new_deadline) {
                errs.push(FieldError::invalid(
                    deadline_path,
                    new_deadline,
                    "must be less than or equal to previous value",
                ));
                return errs;
            }
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            deadline_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        (None, None) => {}
    }

    errs.extend(validate_only_added_tolerations(
        items(&new_spec.tolerations),
        items(&old_spec.tolerations),
        &spec_path.child("tolerations"),
    ));
    let old_gates: Vec<&str> = items(&old_spec.scheduling_gates)
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    for (i, gate) in items(&new_spec.scheduling_gates).iter().enumerate() {
        if !old_gates.contains(&gate.name.as_str()) {
            errs.push(FieldError::forbidden(
                spec_path.child("schedulingGates").index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    gate.name
                ),
            ));
        }
    }

    let old_json = normalize(&json(&*old_spec));
    if normalize(&json(&*new_spec)) == old_json {
        return errs;
    }
    let munged = munged_spec(&new_spec, &old_spec, &spec_path, &mut errs);
    if munged != old_json {
        let mut lines = Vec::new();
        diff("spec", &old_json, &munged, &mut lines);
        errs.push(FieldError::forbidden(
            &spec_path,
            format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                lines.join("\n")
            ),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn pod(patch: Value) -> Value {
        let base = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        });
        decode_and_default("pods", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn defaults() {
        let p = pod(
            json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
            "livenessProbe": {"httpGet": {"port": 80}}}]}}),
        );
        let spec = &p["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "500m", "memory": "128Mi"})
        );
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );

        assert_eq!(p["status"]["qosClass"], "Guaranteed");
        let burstable = pod(
            json!({"spec": {"containers": [{"name": "web", "image": "nginx",
            "resources": {"requests": {"cpu": "100m"}}}]}}),
        );
        assert_eq!(burstable["status"]["qosClass"], "Burstable");

        let latest = pod(json!({}));
        assert_eq!(latest["status"]["qosClass"], "BestEffort");
        assert_eq!(latest["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(latest["spec"]["containers"][0]["resources"], json!({}));

        let mirror =
            pod(json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}}));
        assert!(mirror["spec"].get("serviceAccountName").is_none());

        let deprecated = pod(json!({"spec": {"serviceAccount": "builder"}}));
        assert_eq!(deprecated["spec"]["serviceAccountName"], "builder");

        let host = pod(
            json!({"spec": {"hostNetwork": true, "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}),
        );
        assert_eq!(host["spec"]["containers"][0]["ports"][0]["hostPort"], 80);

        let status = pod(json!({"status": {"podIP": "10.244.0.5", "hostIP": "192.168.1.2"}}));
        assert_eq!(status["status"]["podIPs"], json!([{"ip": "10.244.0.5"}]));
        assert_eq!(status["status"]["hostIPs"], json!([{"ip": "192.168.1.2"}]));
        let status = pod(json!({"status": {"podIPs": [{"ip": "10.244.0.6"}]}}));
        assert_eq!(status["status"]["podIP"], "10.244.0.6");
    }

    #[test]
    fn decoding_is_idempotent() {
        let once = pod(
            json!({"spec": {"volumes": [{"name": "v"}], "containers": [{"name": "web", "image": "nginx", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}]}}),
        );
        let twice = decode_and_default("pods", once.clone()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn create_rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"metadata": {"name": "Web"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": null}}),
                vec![("metadata.name", "FieldValueRequired")],
            ),
            (
                json!({"metadata": {"namespace": null}}),
                vec![("metadata.namespace", "FieldValueRequired")],
            ),
            (
                json!({"spec": {"containers": []}}),
                vec![("spec.containers", "FieldValueRequired")],
            ),
            (
                json!({"spec": null}),
                vec![("spec.containers", "FieldValueRequired")],
            ),
            (
                json!({"spec": {"containers": [{"name": "web", "image": " nginx"}]}}),
                vec![("spec.containers[0].image", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"restartPolicy": "Sometimes"}}),
                vec![("spec.restartPolicy", "FieldValueNotSupported")],
            ),
            (
                json!({"spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox"}]}}),
                vec![("spec.ephemeralContainers", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"nodeName": "n1", "schedulingGates": [{"name": "example.com/gate"}]}}),
                vec![("spec.nodeName", "FieldValueForbidden")],
            ),
            (
                json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}}),
                vec![(
                    "metadata.annotations[kubernetes.io/config.mirror]",
                    "FieldValueInvalid",
                )],
            ),
        ];
        for (patch, want) in cases {
            let p = pod(patch.clone());
            assert_errors(&validate_create("pods", &p), &want);
        }
    }

    #[test]
    fn update_rules() {
        let old = pod(
            json!({"metadata": {"uid": "u1"}, "spec": {"activeDeadlineSeconds": 100,
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}}),
        );
        let update = |patch: Value| merge(&old, &patch);
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (json!({"metadata": {"labels": {"a": "b"}}}), vec![]),
            (
                json!({"spec": {"containers": [{"name": "web", "image": "nginx:2", "imagePullPolicy": "Always"}]}}),
                vec![],
            ),
            (json!({"spec": {"activeDeadlineSeconds": 50}}), vec![]),
            (
                json!({"spec": {"activeDeadlineSeconds": 200}}),
                vec![("spec.activeDeadlineSeconds", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 20}, {"key": "new", "operator": "Exists"}]}}),
                vec![],
            ),
            (
                json!({"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}}),
                vec![("spec.tolerations", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"nodeName": "n2"}}),
                vec![("spec", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"containers": [{"name": "web", "image": "nginx", "command": ["sh"]}]}}),
                vec![("spec", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"containers": [{"name": "web", "image": "", "imagePullPolicy": "Always"}]}}),
                vec![
                    ("spec.containers[0].image", "FieldValueRequired"),
                    ("spec.containers[0].image", "FieldValueRequired"),
                ],
            ),
            (
                json!({"metadata": {"name": "other"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"uid": "u2"}}),
                vec![("metadata.uid", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"annotations": {"kubernetes.io/config.mirror": "x"}}, "spec": {"nodeName": null}}),
                vec![
                    (
                        "metadata.annotations[kubernetes.io/config.mirror]",
                        "FieldValueForbidden",
                    ),
                    (
                        "metadata.annotations[kubernetes.io/config.mirror]",
                        "FieldValueInvalid",
                    ),
                ],
            ),
        ];
        for (patch, want) in cases {
            let new = decode_and_default("pods", update(patch.clone())).unwrap();
            assert_errors(&validate_update("pods", &new, &old), &want);
        }

        let added = merge(
            &old,
            &json!({"spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "b", "image": "b"}]}}),
        );
        let added = decode_and_default("pods", added).unwrap();
        let errs = validate_update("pods", &added, &old);
        assert_errors(&errs, &[("spec.containers", "FieldValueForbidden")]);
        assert_eq!(
            errs[0].detail,
            "pod updates may not add or remove containers"
        );

        let moved =
            decode_and_default("pods", update(json!({"spec": {"nodeName": "n2"}}))).unwrap();
        let errs = validate_update("pods", &moved, &old);
        assert!(errs[0].to_string().starts_with(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
        ), "{}", errs[0]);
        assert!(
            errs[0].detail.contains("+  spec.nodeName: \"n2\""),
            "{}",
            errs[0].detail
        );
    }

    #[test]
    fn status_updates() {
        let old = pod(json!({"spec": {"nodeName": "n1", "restartPolicy": "Never"},
            "status": {"containerStatuses": [{"name": "web", "image": "nginx", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0}}}]}}));
        let ok = pod(json!({"spec": {"nodeName": "n1", "restartPolicy": "Never"},
            "status": {"podIP": "10.244.0.5", "containerStatuses": [{"name": "web", "image": "nginx", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0}}}]}}));
        assert_errors(&validate_update("pods", &ok, &old), &[]);
        let bad = pod(json!({"spec": {"nodeName": "n1", "restartPolicy": "Never"},
            "status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "containerStatuses": [{"name": "web", "image": "nginx", "imageID": "", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}}));
        assert_errors(
            &validate_update("pods", &bad, &old),
            &[
                ("status.podIPs", "FieldValueInvalid"),
                ("status.containerStatuses[0].state", "FieldValueForbidden"),
            ],
        );
    }
}
