//! Pod spec defaulting and validation, shared by Pods and the pod templates
//! of Deployments and ReplicaSets (upstream `pkg/apis/core/v1/defaults.go`
//! and `ValidatePodSpec` in `pkg/apis/core/validation/validation.go`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, KeyToPath, Lifecycle,
    LifecycleHandler, NodeSelectorRequirement, NodeSelectorTerm, ObjectFieldSelector,
    PodAffinityTerm, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceFieldSelector,
    ResourceRequirements, SecurityContext, Toleration, TopologySpreadConstraint, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;
use tinykube_apimachinery::quantity::Quantity;
use tinykube_apimachinery::status::{quote, FieldError, FieldPath};
use tinykube_apimachinery::validation::{
    inclusive_range_error, is_qualified_name, is_valid_label_value, is_valid_port_name,
    is_valid_port_num, regex_error,
};

use super::common::{
    default_str, invalid_each, is_config_map_key, is_valid_ip, items, json, name_is_dns_label,
    name_is_dns_subdomain, text, validate_annotations, validate_dns1123_label,
    validate_dns1123_subdomain, validate_label_name, validate_label_selector, validate_labels,
    validate_nonnegative, validate_qualified_name, Errors,
};

/// How a pod spec is being validated.
#[derive(Debug, Clone, Copy)]
pub(super) struct PodOptions {
    /// The spec belongs to a Pod (not to a template inside another object).
    pub resource_is_pod: bool,
}

pub(super) const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";
const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
const APPARMOR_ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";
const SECCOMP_POD_ANNOTATION: &str = "seccomp.security.alpha.kubernetes.io/pod";
const SECCOMP_CONTAINER_ANNOTATION_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";
const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = i32::MAX as i64;
const DEFAULT_FILE_MODE: i32 = 0o644;

// ---------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------

/// `SetDefaults_Container` and the nested defaults; works for `Container`
/// and `EphemeralContainer`, which share the field names.
macro_rules! default_container {
    ($container:expr) => {{
        let c = $container;
        if c.image_pull_policy.as_deref().is_none_or(str::is_empty) {
            c.image_pull_policy = Some(default_pull_policy(text(&c.image)).to_string());
        }
        default_str(&mut c.termination_message_path, "/dev/termination-log");
        default_str(&mut c.termination_message_policy, "File");
        for port in c.ports.iter_mut().flatten() {
            default_str(&mut port.protocol, "TCP");
        }
        for env in c.env.iter_mut().flatten() {
            if let Some(field_ref) = env.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
                default_str(&mut field_ref.api_version, "v1");
            }
        }
        let resources = c.resources.get_or_insert_with(Default::default);
        for list in [&mut resources.limits, &mut resources.requests]
            .into_iter()
            .flatten()
        {
            round_up_resources(list);
        }
        for probe in [
            &mut c.liveness_probe,
            &mut c.readiness_probe,
            &mut c.startup_probe,
        ]
        .into_iter()
        .flatten()
        {
            default_probe(probe);
        }
        if let Some(lifecycle) = &mut c.lifecycle {
            for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
                .into_iter()
                .flatten()
            {
                if let Some(get) = &mut handler.http_get {
                    default_http_get(get);
                }
            }
        }
    }};
}

/// Upstream's `SetDefaults_PodSpec` and everything `SetObjectDefaults_*`
/// applies inside a pod spec (volumes, containers, probes, resources).
/// Templates get exactly this; Pods also get [`default_pod_extras`].
pub(super) fn default_pod_spec(spec: &mut PodSpec) {
    default_str(&mut spec.dns_policy, "ClusterFirst");
    default_str(&mut spec.restart_policy, "Always");
    spec.security_context.get_or_insert_with(Default::default);
    spec.termination_grace_period_seconds.get_or_insert(30);
    default_str(&mut spec.scheduler_name, "default-scheduler");
    for volume in spec.volumes.iter_mut().flatten() {
        default_volume(volume);
    }
    for container in spec.init_containers.iter_mut().flatten() {
        default_container!(container);
    }
    for container in &mut spec.containers {
        default_container!(container);
    }
    for container in spec.ephemeral_containers.iter_mut().flatten() {
        default_container!(container);
    }
    if let Some(overhead) = &mut spec.overhead {
        round_up_resources(overhead);
    }
}

/// Upstream's `SetDefaults_Pod`: requests default to limits, service links
/// are enabled, host-network ports get host ports.
pub(super) fn default_pod_extras(spec: &mut PodSpec) {
    for container in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(resources) = &mut container.resources {
            if let Some(limits) = resources.limits.as_ref().filter(|l| !l.is_empty()) {
                let requests = resources.requests.get_or_insert_with(BTreeMap::new);
                for (name, value) in limits {
                    requests
                        .entry(name.clone())
                        .or_insert_with(|| value.clone());
                }
            }
        }
    }
    spec.enable_service_links.get_or_insert(true);
    if spec.host_network == Some(true) {
        for container in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            for port in container.ports.iter_mut().flatten() {
                if port.host_port.unwrap_or(0) == 0 {
                    port.host_port = Some(port.container_port);
                }
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise
/// (including images that do not parse, as upstream).
pub(super) fn default_pull_policy(image: &str) -> &'static str {
    if image_tag(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// The tag of an image reference as upstream `parsers.ParseImageName` sees
/// it: `latest` when there is neither tag nor digest, `None` when the
/// reference does not parse.
fn image_tag(image: &str) -> Option<String> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => {
            let (algorithm, hex) = digest.split_once(':')?;
            let algorithm_ok = !algorithm.is_empty()
                && algorithm.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'+' | b'.' | b'_' | b'-')
                });
            if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            (name, Some(digest))
        }
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-'))
            });
        if !tag_ok {
            return None;
        }
    }
    // Split off a registry host (it has a dot or a port, or is localhost).
    let path = match repository.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            let host_ok = first.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
            if !host_ok {
                return None;
            }
            rest
        }
        _ => repository,
    };
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && c.as_bytes()[0].is_ascii_alphanumeric()
            && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    };
    if !path.split('/').all(component_ok) {
        return None;
    }
    match (tag, digest) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, Some(_)) => Some(String::new()),
        (None, None) => Some("latest".to_string()),
    }
}

/// Upstream `SetDefaults_ResourceList`: round every quantity up to milli precision.
pub(super) fn round_up_resources(list: &mut BTreeMap<String, K8sQuantity>) {
    const MILLI: i128 = 1_000_000;
    for value in list.values_mut() {
        let Ok(parsed) = Quantity::parse(&value.0) else {
            continue;
        };
        let nanos = parsed.nanos();
        let rest = nanos % MILLI;
        if rest == 0 {
            continue;
        }
        let step = if nanos > 0 { MILLI } else { -MILLI };
        if let Some(rounded) = (nanos - rest).checked_add(step) {
            value.0 = Quantity::from_nanos(rounded, parsed.format()).to_string();
        }
    }
}

fn default_probe(probe: &mut Probe) {
    for (field, default) in [
        (&mut probe.timeout_seconds, 1),
        (&mut probe.period_seconds, 10),
        (&mut probe.success_threshold, 1),
        (&mut probe.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(default);
        }
    }
    if let Some(get) = &mut probe.http_get {
        default_http_get(get);
    }
}

fn default_http_get(get: &mut HTTPGetAction) {
    default_str(&mut get.path, "/");
    default_str(&mut get.scheme, "HTTP");
}

fn default_field_ref(field_ref: Option<&mut ObjectFieldSelector>) {
    if let Some(field_ref) = field_ref {
        default_str(&mut field_ref.api_version, "v1");
    }
}

fn default_volume(volume: &mut Volume) {
    let has_source = json(&*volume)
        .as_object()
        .is_some_and(|m| m.iter().any(|(k, v)| k != "name" && !v.is_null()));
    if !has_source {
        volume.empty_dir = Some(Default::default());
    }
    if let Some(host_path) = &mut volume.host_path {
        host_path.type_.get_or_insert_with(String::new);
    }
    if let Some(secret) = &mut volume.secret {
        secret.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(config_map) = &mut volume.config_map {
        config_map.default_mode.get_or_insert(DEFAULT_FILE_MODE);
    }
    if let Some(downward) = &mut volume.downward_api {
        downward.default_mode.get_or_insert(DEFAULT_FILE_MODE);
        for item in downward.items.iter_mut().flatten() {
            default_field_ref(item.field_ref.as_mut());
        }
    }
    if let Some(projected) = &mut volume.projected {
        projected.default_mode.get_or_insert(DEFAULT_FILE_MODE);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(downward) = &mut source.downward_api {
                for item in downward.items.iter_mut().flatten() {
                    default_field_ref(item.field_ref.as_mut());
                }
            }
            if let Some(token) = &mut source.service_account_token {
                token.expiration_seconds.get_or_insert(3600);
            }
        }
    }
    if let Some(template) = volume
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        default_str(&mut template.spec.volume_mode, "Filesystem");
        if let Some(resources) = &mut template.spec.resources {
            for list in [&mut resources.limits, &mut resources.requests]
                .into_iter()
                .flatten()
            {
                round_up_resources(list);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Volume names known to the spec, and whether each is backed by a claim
/// (the only kind block devices may use).
type VolumeNames = BTreeMap<String, bool>;

fn validate_file_mode(mode: Option<i32>, path: &FieldPath) -> Errors {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_ERROR)],
        _ => Vec::new(),
    }
}

fn validate_path_no_backsteps(target: &str, path: &FieldPath) -> Errors {
    if target.split('/').any(|part| part == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

fn validate_local_descending_path(target: &str, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(target, path));
    errs
}

fn validate_local_non_reserved_path(target: &str, path: &FieldPath) -> Errors {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
    errs
}

fn validate_key_to_path(item: &KeyToPath, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    if item.key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    }
    if item.path.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &item.path,
        &path.child("path"),
    ));
    errs.extend(validate_file_mode(item.mode, &path.child("mode")));
    errs
}

const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// Upstream `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['a']`.
fn split_subscripted(field_path: &str) -> Option<(&str, &str)> {
    let inner = field_path.strip_suffix("']")?;
    let (path, subscript) = inner.split_once("['")?;
    (!path.is_empty()).then_some((path, subscript))
}

fn validate_object_field_selector(
    selector: &ObjectFieldSelector,
    expressions: &[&str],
    path: &FieldPath,
) -> Errors {
    let api_version = text(&selector.api_version);
    if api_version.is_empty() {
        return vec![FieldError::required(path.child("apiVersion"), "")];
    }
    let field_path = selector.field_path.as_str();
    if field_path.is_empty() {
        return vec![FieldError::required(path.child("fieldPath"), "")];
    }
    let conversion_error = |detail: String| {
        vec![FieldError::invalid(
            path.child("fieldPath"),
            field_path,
            format!("error converting fieldPath: {detail}"),
        )]
    };
    if api_version != "v1" {
        return conversion_error(format!("unsupported pod version: {api_version}"));
    }
    if let Some((base, subscript)) = split_subscripted(field_path) {
        return match base {
            "metadata.annotations" => validate_qualified_name(&subscript.to_lowercase(), path),
            "metadata.labels" => validate_qualified_name(subscript, path),
            _ => conversion_error(format!("field path not supported: {base}")),
        };
    }
    const CONVERTIBLE: &[&str] = &[
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    ];
    let internal = if field_path == "spec.host" {
        "spec.nodeName"
    } else if CONVERTIBLE.contains(&field_path) {
        field_path
    } else {
        return conversion_error(format!("field label not supported: {field_path}"));
    };
    if !expressions.contains(&internal) {
        return vec![FieldError::not_supported(
            path.child("fieldPath"),
            internal,
            expressions,
        )];
    }
    Vec::new()
}

fn validate_resource_field_selector(
    selector: &ResourceFieldSelector,
    path: &FieldPath,
    volume: bool,
) -> Errors {
    if volume && text(&selector.container_name).is_empty() {
        return vec![FieldError::required(path.child("containerName"), "")];
    }
    if selector.resource.is_empty() {
        return vec![FieldError::required(path.child("resource"), "")];
    }
    let known = RESOURCE_FIELD_PATHS.contains(&selector.resource.as_str())
        || selector.resource.starts_with("requests.hugepages-")
        || selector.resource.starts_with("limits.hugepages-");
    if !known {
        return vec![FieldError::not_supported(
            path.child("resource"),
            selector.resource.as_str(),
            RESOURCE_FIELD_PATHS,
        )];
    }
    Vec::new()
}

fn validate_downward_api_file(
    file: &k8s_openapi::api::core::v1::DownwardAPIVolumeFile,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    if file.path.is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &file.path,
        &path.child("path"),
    ));
    if let Some(field_ref) = &file.field_ref {
        errs.extend(validate_object_field_selector(
            field_ref,
            VOLUME_FIELD_PATHS,
            &path.child("fieldRef"),
        ));
        if file.resource_field_ref.is_some() {
            errs.push(FieldError::invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(resource_ref) = &file.resource_field_ref {
        errs.extend(validate_resource_field_selector(
            resource_ref,
            &path.child("resourceFieldRef"),
            true,
        ));
    } else {
        errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        ));
    }
    errs.extend(validate_file_mode(file.mode, &path.child("mode")));
    errs
}

fn validate_projected(
    projected: &k8s_openapi::api::core::v1::ProjectedVolumeSource,
    path: &FieldPath,
) -> Errors {
    let mut errs = validate_file_mode(projected.default_mode, &path.child("defaultMode"));
    let mut all_paths = BTreeSet::new();
    for (i, source) in items(&projected.sources).iter().enumerate() {
        let src_path = path.child("sources").index(i);
        let mut count = 0;
        let mut key_paths =
            |name: &str, kps: &[KeyToPath], proj_path: &FieldPath, errs: &mut Errors| {
                for (j, item) in kps.iter().enumerate() {
                    errs.extend(validate_key_to_path(
                        item,
                        &proj_path.child("items").index(j),
                    ));
                    if !item.path.is_empty() && !all_paths.insert(item.path.clone()) {
                        errs.push(FieldError::invalid(
                            path,
                            name,
                            "conflicting duplicate paths",
                        ));
                    }
                }
            };
        if let Some(secret) = &source.secret {
            count += 1;
            let proj_path = src_path.child("secret");
            if secret.name.is_empty() {
                errs.push(FieldError::required(proj_path.child("name"), ""));
            }
            key_paths(&secret.name, items(&secret.items), &proj_path, &mut errs);
        }
        if let Some(config_map) = &source.config_map {
            count += 1;
            let proj_path = src_path.child("configMap");
            if config_map.name.is_empty() {
                errs.push(FieldError::required(proj_path.child("name"), ""));
            }
            key_paths(
                &config_map.name,
                items(&config_map.items),
                &proj_path,
                &mut errs,
            );
        }
        if let Some(downward) = &source.downward_api {
            count += 1;
            let proj_path = src_path.child("downwardAPI");
            for file in items(&downward.items) {
                errs.extend(validate_downward_api_file(file, &proj_path));
                if !file.path.is_empty() && !all_paths.insert(file.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        file.path.as_str(),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(token) = &source.service_account_token {
            count += 1;
            let proj_path = src_path.child("serviceAccountToken");
            let expiration = token.expiration_seconds.unwrap_or(0);
            if expiration < 600 {
                errs.push(FieldError::invalid(
                    proj_path.child("expirationSeconds"),
                    expiration,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if expiration > 1 << 32 {
                errs.push(FieldError::invalid(
                    proj_path.child("expirationSeconds"),
                    expiration,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if token.path.is_empty() {
                errs.push(FieldError::required(path.child("path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(
                    &token.path,
                    &path.child("path"),
                ));
            }
        }
        if source.cluster_trust_bundle.is_some() {
            count += 1;
        }
        if count > 1 {
            errs.push(FieldError::forbidden(
                src_path,
                "may not specify more than 1 volume type",
            ));
        }
    }
    errs
}

/// Volume sources in upstream's checking order: (JSON key, name used in the
/// "more than 1 volume type" error, which upstream spells differently twice).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

fn validate_volume_source(volume: &Volume, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let encoded = json(volume);
    let mut count = 0;
    for (key, name) in VOLUME_SOURCES {
        if encoded.get(*key).is_none_or(Value::is_null) {
            continue;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                path.child(name),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        match *key {
            "emptyDir" => {
                let negative = volume
                    .empty_dir
                    .as_ref()
                    .and_then(|e| e.size_limit.as_ref())
                    .and_then(|q| Quantity::parse(&q.0).ok())
                    .is_some_and(|q| q.nanos() < 0);
                if negative {
                    errs.push(FieldError::forbidden(
                        path.child("emptyDir").child("sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    ));
                }
            }
            "hostPath" => {
                if let Some(host_path) = &volume.host_path {
                    let p = path.child("hostPath");
                    if host_path.path.is_empty() {
                        errs.push(FieldError::required(p.child("path"), ""));
                    } else {
                        errs.extend(validate_path_no_backsteps(
                            &host_path.path,
                            &p.child("path"),
                        ));
                        if let Some(t) = &host_path.type_ {
                            if !HOST_PATH_TYPES.contains(&t.as_str()) {
                                errs.push(FieldError::not_supported(
                                    p.child("type"),
                                    t.as_str(),
                                    HOST_PATH_TYPES,
                                ));
                            }
                        }
                    }
                }
            }
            "secret" => {
                if let Some(secret) = &volume.secret {
                    let p = path.child("secret");
                    if text(&secret.secret_name).is_empty() {
                        errs.push(FieldError::required(p.child("secretName"), ""));
                    }
                    errs.extend(validate_file_mode(
                        secret.default_mode,
                        &p.child("defaultMode"),
                    ));
                    for (i, item) in items(&secret.items).iter().enumerate() {
                        errs.extend(validate_key_to_path(item, &p.child("items").index(i)));
                    }
                }
            }
            "configMap" => {
                if let Some(config_map) = &volume.config_map {
                    let p = path.child("configMap");
                    if config_map.name.is_empty() {
                        errs.push(FieldError::required(p.child("name"), ""));
                    }
                    errs.extend(validate_file_mode(
                        config_map.default_mode,
                        &p.child("defaultMode"),
                    ));
                    for (i, item) in items(&config_map.items).iter().enumerate() {
                        errs.extend(validate_key_to_path(item, &p.child("items").index(i)));
                    }
                }
            }
            "persistentVolumeClaim"
                if volume
                    .persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.claim_name.is_empty()) =>
            {
                errs.push(FieldError::required(
                    path.child("persistentVolumeClaim").child("claimName"),
                    "",
                ));
            }
            "downwardAPI" => {
                if let Some(downward) = &volume.downward_api {
                    let p = path.child("downwardAPI");
                    errs.extend(validate_file_mode(
                        downward.default_mode,
                        &p.child("defaultMode"),
                    ));
                    for file in items(&downward.items) {
                        errs.extend(validate_downward_api_file(file, &p));
                    }
                }
            }
            "projected" => {
                if let Some(projected) = &volume.projected {
                    errs.extend(validate_projected(projected, &path.child("projected")));
                }
            }
            "nfs" => {
                if let Some(nfs) = &volume.nfs {
                    let p = path.child("nfs");
                    if nfs.server.is_empty() {
                        errs.push(FieldError::required(p.child("server"), ""));
                    }
                    if nfs.path.is_empty() {
                        errs.push(FieldError::required(p.child("path"), ""));
                    }
                    if !nfs.path.starts_with('/') {
                        errs.push(FieldError::invalid(
                            p.child("path"),
                            nfs.path.as_str(),
                            "must be an absolute path",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

fn validate_volumes(volumes: &[Volume], path: &FieldPath) -> (VolumeNames, Errors) {
    let mut names = VolumeNames::new();
    let mut errs = Vec::new();
    for (i, volume) in volumes.iter().enumerate() {
        let idx = path.index(i);
        let name_path = idx.child("name");
        let mut el = validate_volume_source(volume, &idx);
        if volume.name.is_empty() {
            el.push(FieldError::required(&name_path, ""));
        } else {
            el.extend(validate_dns1123_label(&volume.name, &name_path));
        }
        if names.contains_key(&volume.name) {
            el.push(FieldError::duplicate(&name_path, volume.name.as_str()));
        }
        if el.is_empty() {
            let claim_backed =
                volume.persistent_volume_claim.is_some() || volume.ephemeral.is_some();
            names.insert(volume.name.clone(), claim_backed);
        } else {
            errs.extend(el);
        }
    }
    (names, errs)
}

fn validate_container_ports(ports: &[ContainerPort], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let idx = path.index(i);
        let name = text(&port.name);
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(invalid_each(&idx.child("name"), name, msgs));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(idx.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(idx.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(port.container_port.into()) {
                errs.push(FieldError::invalid(
                    idx.child("containerPort"),
                    port.container_port,
                    msg,
                ));
            }
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            for msg in is_valid_port_num(host_port.into()) {
                errs.push(FieldError::invalid(idx.child("hostPort"), host_port, msg));
            }
        }
        errs.extend(validate_protocol(&port.protocol, &idx.child("protocol")));
    }
    errs
}

/// `protocol`: required, one of TCP, UDP, SCTP.
pub(super) fn validate_protocol(protocol: &Option<String>, path: &FieldPath) -> Errors {
    const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
    let protocol = text(protocol);
    if protocol.is_empty() {
        vec![FieldError::required(path, "")]
    } else if !PROTOCOLS.contains(&protocol) {
        vec![FieldError::not_supported(path, protocol, PROTOCOLS)]
    } else {
        Vec::new()
    }
}

/// Upstream `IsRelaxedEnvVarName` (the `RelaxedEnvironmentVariableValidation`
/// gate is on by default in 1.33).
fn is_relaxed_env_var_name(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push("environment variable name must be non-empty".to_string());
    }
    if name
        .bytes()
        .any(|b| !(0x20..=0x7e).contains(&b) || b == b'=')
    {
        errs.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_string(),
        );
    }
    errs
}

fn validate_key_selector(name: &str, key: &str, path: &FieldPath) -> Errors {
    let mut errs = invalid_each(
        &path.child("name"),
        name,
        name_is_dns_subdomain(name, false),
    );
    if key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    } else {
        errs.extend(invalid_each(
            &path.child("key"),
            key,
            is_config_map_key(key),
        ));
    }
    errs
}

fn validate_env(vars: &[EnvVar], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let idx = path.index(i);
        if var.name.is_empty() {
            errs.push(FieldError::required(idx.child("name"), ""));
        } else {
            errs.extend(invalid_each(
                &idx.child("name"),
                &var.name,
                is_relaxed_env_var_name(&var.name),
            ));
        }
        let Some(from) = &var.value_from else {
            continue;
        };
        let from_path = idx.child("valueFrom");
        let mut sources = 0;
        if let Some(field_ref) = &from.field_ref {
            sources += 1;
            errs.extend(validate_object_field_selector(
                field_ref,
                ENV_FIELD_PATHS,
                &from_path.child("fieldRef"),
            ));
        }
        if let Some(resource_ref) = &from.resource_field_ref {
            sources += 1;
            errs.extend(validate_resource_field_selector(
                resource_ref,
                &from_path.child("resourceFieldRef"),
                false,
            ));
        }
        if let Some(r) = &from.config_map_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &r.name,
                &r.key,
                &from_path.child("configMapKeyRef"),
            ));
        }
        if let Some(r) = &from.secret_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(
                &r.name,
                &r.key,
                &from_path.child("secretKeyRef"),
            ));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !text(&var.value).is_empty() {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &from_path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_env_from(sources: &[EnvFromSource], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let idx = path.index(i);
        let prefix = text(&source.prefix);
        if !prefix.is_empty() {
            errs.extend(invalid_each(
                &idx.child("prefix"),
                prefix,
                is_relaxed_env_var_name(prefix),
            ));
        }
        let mut count = 0;
        for (present, name, child) in [
            (
                source.config_map_ref.is_some(),
                source.config_map_ref.as_ref().map(|r| r.name.as_str()),
                "configMapRef",
            ),
            (
                source.secret_ref.is_some(),
                source.secret_ref.as_ref().map(|r| r.name.as_str()),
                "secretRef",
            ),
        ] {
            if !present {
                continue;
            }
            count += 1;
            let name = name.unwrap_or("");
            let name_path = idx.child(child).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(name_path, ""));
            } else {
                errs.extend(invalid_each(
                    &name_path,
                    name,
                    name_is_dns_subdomain(name, true),
                ));
            }
        }
        if count == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_volume_mounts(
    mounts: &[VolumeMount],
    devices: &BTreeMap<&str, &str>,
    volumes: &VolumeNames,
    privileged: bool,
    path: &FieldPath,
) -> Errors {
    const PROPAGATIONS: &[&str] = &["Bidirectional", "HostToContainer", "None"];
    const RECURSIVE_READ_ONLY: &[&str] = &["Disabled", "Enabled", "IfPossible"];
    let mut errs = Vec::new();
    let mut mount_points = BTreeSet::new();
    for (i, mount) in mounts.iter().enumerate() {
        let idx = path.index(i);
        if mount.name.is_empty() {
            errs.push(FieldError::required(idx.child("name"), ""));
        }
        if !volumes.contains_key(&mount.name) {
            errs.push(FieldError::not_found(
                idx.child("name"),
                mount.name.as_str(),
            ));
        }
        if mount.mount_path.is_empty() {
            errs.push(FieldError::required(idx.child("mountPath"), ""));
        }
        if !mount_points.insert(mount.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                idx.child("mountPath"),
                mount.mount_path.as_str(),
                "must be unique",
            ));
        }
        if devices.contains_key(mount.name.as_str()) {
            errs.push(FieldError::invalid(
                idx.child("name"),
                mount.name.as_str(),
                "must not already exist in volumeDevices",
            ));
        }
        if devices.values().any(|p| *p == mount.mount_path) {
            errs.push(FieldError::invalid(
                idx.child("mountPath"),
                mount.mount_path.as_str(),
                "must not already exist as a path in volumeDevices",
            ));
        }
        let sub_path = text(&mount.sub_path);
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &path.child("subPath"),
            ));
        }
        let sub_path_expr = text(&mount.sub_path_expr);
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    idx.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_path_expr,
                &path.child("subPathExpr"),
            ));
        }
        if let Some(propagation) = &mount.mount_propagation {
            let p = path.child("mountPropagation");
            if !PROPAGATIONS.contains(&propagation.as_str()) {
                errs.push(FieldError::not_supported(
                    &p,
                    propagation.as_str(),
                    PROPAGATIONS,
                ));
            }
            if propagation == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &p,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = &mount.recursive_read_only {
            let p = path.child("recursiveReadOnly");
            match rro.as_str() {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if mount.read_only != Some(true) {
                        errs.push(FieldError::forbidden(
                            &p,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if mount
                        .mount_propagation
                        .as_deref()
                        .is_some_and(|m| m != "None")
                    {
                        errs.push(FieldError::forbidden(
                            &p,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(&p, other, RECURSIVE_READ_ONLY)),
            }
        }
    }
    errs
}

fn validate_volume_devices(
    devices: &[k8s_openapi::api::core::v1::VolumeDevice],
    mounts: &BTreeMap<&str, &str>,
    volumes: &VolumeNames,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let mut paths = BTreeSet::new();
    let mut names = BTreeSet::new();
    for (i, device) in devices.iter().enumerate() {
        let idx = path.index(i);
        if device.name.is_empty() {
            errs.push(FieldError::required(idx.child("name"), ""));
        }
        if !names.insert(device.name.as_str()) {
            errs.push(FieldError::invalid(
                idx.child("name"),
                device.name.as_str(),
                "must be unique",
            ));
        }
        match volumes.get(&device.name) {
            Some(false) => errs.push(FieldError::invalid(
                idx.child("name"),
                device.name.as_str(),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            Some(true) => {}
            None => errs.push(FieldError::not_found(idx.child("name"), device.name.as_str())),
        }
        if device.device_path.is_empty() {
            errs.push(FieldError::required(idx.child("devicePath"), ""));
        }
        if !paths.insert(device.device_path.as_str()) {
            errs.push(FieldError::invalid(
                idx.child("devicePath"),
                device.device_path.as_str(),
                "must be unique",
            ));
        }
        if mounts.contains_key(device.name.as_str()) {
            errs.push(FieldError::invalid(
                idx.child("name"),
                device.name.as_str(),
                "must not already exist in volumeMounts",
            ));
        }
    }
    errs
}

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

fn is_extended_resource(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_integer_resource(name: &str) -> bool {
    const INTEGER: &[&str] = &[
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    ];
    INTEGER.contains(&name) || is_extended_resource(name)
}

fn is_standard_resource(name: &str) -> bool {
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    ];
    STANDARD.contains(&name) || is_hugepages(name) || name.starts_with("requests.hugepages-")
}

/// Upstream `validateContainerResourceName`.
fn validate_container_resource_name(name: &str, path: &FieldPath) -> Errors {
    let mut errs = validate_qualified_name(name, path);
    if errs.is_empty() && !name.contains('/') && !is_standard_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    if !name.contains('/') {
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// Upstream `ValidateResourceQuantityValue`: non-negative, whole numbers for
/// integer resources.
pub(super) fn validate_resource_quantity(
    name: &str,
    value: &K8sQuantity,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let Ok(quantity) = Quantity::parse(&value.0) else {
        return vec![FieldError::invalid(
            path,
            value.0.as_str(),
            "must be a valid resource quantity",
        )];
    };
    if quantity.nanos() < 0 {
        errs.push(FieldError::invalid(
            path,
            quantity.to_string(),
            super::common::IS_NEGATIVE,
        ));
    }
    if is_integer_resource(name) && quantity.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(
            path,
            quantity.to_string(),
            "must be an integer",
        ));
    }
    errs
}

/// Upstream `ValidateResourceRequirements` for containers.
fn validate_resources(resources: &ResourceRequirements, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = BTreeMap::new();
    let limits = resources.limits.as_ref().unwrap_or(&empty);
    let requests = resources.requests.as_ref().unwrap_or(&empty);
    let mut cpu_or_memory = false;
    let mut hugepages = false;
    for (name, value) in limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity(name, value, &p));
        hugepages |= is_hugepages(name);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    for (name, value) in requests {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_resource_quantity(name, value, &p));
        let request = Quantity::parse(&value.0).ok();
        match limits.get(name) {
            Some(limit) => {
                let limit = Quantity::parse(&limit.0).ok();
                if let (Some(request), Some(limit)) = (request, limit) {
                    if request != limit && !is_overcommit_allowed(name) {
                        errs.push(FieldError::invalid(
                            &req_path,
                            request.to_string(),
                            format!("must be equal to {name} limit of {limit}"),
                        ));
                    } else if request > limit {
                        errs.push(FieldError::invalid(
                            &req_path,
                            request.to_string(),
                            format!("must be less than or equal to {name} limit of {limit}"),
                        ));
                    }
                }
            }
            None if !is_overcommit_allowed(name) => errs.push(FieldError::required(
                &lim_path,
                "Limit must be set for non overcommitable resources",
            )),
            None => {}
        }
        hugepages |= is_hugepages(name);
        cpu_or_memory |= matches!(name.as_str(), "cpu" | "memory");
    }
    if hugepages && !cpu_or_memory {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs
}

fn validate_resize_policy(
    policies: &[k8s_openapi::api::core::v1::ContainerResizePolicy],
    path: &FieldPath,
    pod_restart_policy: &str,
) -> Errors {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, policy) in policies.iter().enumerate() {
        if !seen.insert(policy.resource_name.as_str()) {
            errs.push(FieldError::duplicate(
                path.index(i),
                policy.resource_name.as_str(),
            ));
        }
        match policy.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(path, other, &["cpu", "memory"])),
        }
        match policy.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(
                path,
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart_policy == "Never" && policy.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path,
                policy.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs
}

/// Upstream `IsValidUserID` / `IsValidGroupID`.
fn validate_id(id: Option<i64>, path: &FieldPath) -> Errors {
    match id {
        Some(id) if !(0..=MAX_INT32).contains(&id) => {
            vec![FieldError::invalid(
                path,
                id,
                inclusive_range_error(0, MAX_INT32),
            )]
        }
        _ => Vec::new(),
    }
}

fn validate_seccomp_profile(
    profile: Option<&k8s_openapi::api::core::v1::SeccompProfile>,
    path: &FieldPath,
) -> Errors {
    const TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    let Some(profile) = profile else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    match profile.type_.as_str() {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            path.child("type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(path.child("type"), other, TYPES)),
    }
    if profile.type_ == "Localhost" {
        match &profile.localhost_profile {
            None => errs.push(FieldError::required(
                path.child("localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(p) => errs.extend(validate_local_descending_path(
                p,
                &path.child("localhostProfile"),
            )),
        }
    } else if profile.localhost_profile.is_some() {
        errs.push(FieldError::invalid(
            path.child("localhostProfile"),
            json(profile),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn validate_app_armor_profile(
    profile: Option<&k8s_openapi::api::core::v1::AppArmorProfile>,
    path: &FieldPath,
) -> Errors {
    const TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
    let Some(profile) = profile else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    match profile.type_.as_str() {
        "Localhost" => match &profile.localhost_profile {
            None => errs.push(FieldError::required(
                path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(p) if p.trim() != p => errs.push(FieldError::invalid(
                path.child("localhostProfile"),
                p.as_str(),
                "must not be padded with whitespace",
            )),
            Some(p) if p.is_empty() => errs.push(FieldError::required(
                path.child("localhostProfile"),
                "must be set when AppArmor type is Localhost",
            )),
            Some(_) => {}
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(p) = &profile.localhost_profile {
                errs.push(FieldError::invalid(
                    path.child("localhostProfile"),
                    p.as_str(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            path.child("type"),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(FieldError::not_supported(path.child("type"), other, TYPES)),
    }
    errs
}

/// Upstream `ValidateSecurityContext` (container level). Privileged
/// containers are allowed (as with `--allow-privileged=true`).
fn validate_security_context(sc: Option<&SecurityContext>, path: &FieldPath) -> Errors {
    let Some(sc) = sc else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    errs.extend(validate_id(sc.run_as_user, &path.child("runAsUser")));
    errs.extend(validate_id(sc.run_as_group, &path.child("runAsGroup")));
    if let Some(proc_mount) = &sc.proc_mount {
        match proc_mount.as_str() {
            "Default" => {}
            "Unmasked" => errs.push(FieldError::invalid(
                path.child("procMount"),
                "Unmasked",
                "`hostUsers` must be false to use `Unmasked`",
            )),
            other => errs.push(FieldError::not_supported(
                path.child("procMount"),
                other,
                &["Default", "Unmasked"],
            )),
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc
            .capabilities
            .as_ref()
            .is_some_and(|c| items(&c.add).iter().any(|cap| cap == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(FieldError::invalid(
                path,
                json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_app_armor_profile(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    errs
}

fn is_valid_sysctl_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let segment_ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_'))
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    name.split(['.', '/']).all(segment_ok)
}

fn validate_pod_security_context(sc: Option<&PodSecurityContext>, path: &FieldPath) -> Errors {
    let Some(sc) = sc else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    errs.extend(validate_id(sc.fs_group, &path.child("fsGroup")));
    errs.extend(validate_id(sc.run_as_user, &path.child("runAsUser")));
    errs.extend(validate_id(sc.run_as_group, &path.child("runAsGroup")));
    for (i, gid) in items(&sc.supplemental_groups).iter().enumerate() {
        errs.extend(validate_id(
            Some(*gid),
            &path.child("supplementalGroups").index(i),
        ));
    }
    let mut names = BTreeSet::new();
    for (i, sysctl) in items(&sc.sysctls).iter().enumerate() {
        let p = path.child("sysctls").index(i).child("name");
        if sysctl.name.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if !is_valid_sysctl_name(&sysctl.name) {
            errs.push(FieldError::invalid(
                p,
                sysctl.name.as_str(),
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if !names.insert(sysctl.name.as_str()) {
            errs.push(FieldError::duplicate(p, sysctl.name.as_str()));
        }
    }
    if let Some(policy) = &sc.fs_group_change_policy {
        if !matches!(policy.as_str(), "Always" | "OnRootMismatch") {
            errs.push(FieldError::not_supported(
                path.child("fsGroupChangePolicy"),
                policy.as_str(),
                &["Always", "OnRootMismatch"],
            ));
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.seccomp_profile.as_ref(),
        &path.child("seccompProfile"),
    ));
    errs.extend(validate_app_armor_profile(
        sc.app_armor_profile.as_ref(),
        &path.child("appArmorProfile"),
    ));
    if let Some(policy) = &sc.supplemental_groups_policy {
        if !matches!(policy.as_str(), "Merge" | "Strict") {
            errs.push(FieldError::not_supported(
                path.child("supplementalGroupsPolicy"),
                policy.as_str(),
                &["Merge", "Strict"],
            ));
        }
    }
    errs
}

fn validate_port_num_or_name(port: &IntOrString, path: &FieldPath) -> Errors {
    match port {
        IntOrString::Int(n) => is_valid_port_num((*n).into())
            .into_iter()
            .map(|msg| FieldError::invalid(path, *n, msg))
            .collect(),
        IntOrString::String(s) => invalid_each(path, s, is_valid_port_name(s)),
    }
}

fn is_http_header_name(name: &str) -> Vec<String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Vec::new()
    } else {
        vec![regex_error(
            "a valid HTTP header must consist of alphanumeric characters or '-'",
            "[-A-Za-z0-9]+",
            &["X-Header-Name"],
        )]
    }
}

fn validate_http_get(get: &HTTPGetAction, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    if text(&get.path).is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_port_num_or_name(&get.port, &path.child("port")));
    let scheme = text(&get.scheme);
    if !matches!(scheme, "HTTP" | "HTTPS") {
        errs.push(FieldError::not_supported(
            path.child("scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in items(&get.http_headers) {
        errs.extend(invalid_each(
            &path.child("httpHeaders"),
            &header.name,
            is_http_header_name(&header.name),
        ));
    }
    errs
}

/// The handler fields shared by probes and lifecycle hooks.
struct Handler<'a> {
    exec: Option<&'a k8s_openapi::api::core::v1::ExecAction>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_socket: Option<&'a k8s_openapi::api::core::v1::TCPSocketAction>,
    grpc: Option<&'a k8s_openapi::api::core::v1::GRPCAction>,
    sleep: Option<&'a k8s_openapi::api::core::v1::SleepAction>,
}

fn validate_handler(handler: Handler<'_>, grace: Option<i64>, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let mut count = 0;
    let mut check = |present: bool, name: &str, errs: &mut Errors| -> bool {
        if !present {
            return false;
        }
        if count > 0 {
            errs.push(FieldError::forbidden(
                path.child(name),
                "may not specify more than 1 handler type",
            ));
            return false;
        }
        count += 1;
        true
    };
    if check(handler.exec.is_some(), "exec", &mut errs)
        && handler.exec.is_some_and(|e| items(&e.command).is_empty())
    {
        errs.push(FieldError::required(
            path.child("exec").child("command"),
            "",
        ));
    }
    if check(handler.http_get.is_some(), "httpGet", &mut errs) {
        if let Some(get) = handler.http_get {
            errs.extend(validate_http_get(get, &path.child("httpGet")));
        }
    }
    if check(handler.tcp_socket.is_some(), "tcpSocket", &mut errs) {
        if let Some(tcp) = handler.tcp_socket {
            errs.extend(validate_port_num_or_name(
                &tcp.port,
                &path.child("tcpSocket").child("port"),
            ));
        }
    }
    if check(handler.grpc.is_some(), "grpc", &mut errs) {
        if let Some(grpc) = handler.grpc {
            errs.extend(validate_port_num_or_name(
                &IntOrString::Int(grpc.port),
                &path.child("grpc").child("port"),
            ));
        }
    }
    if check(handler.sleep.is_some(), "sleep", &mut errs) {
        if let Some(sleep) = handler.sleep {
            let grace = grace.unwrap_or(0);
            if sleep.seconds < 0 || sleep.seconds > grace {
                errs.push(FieldError::invalid(
                    path.child("sleep"),
                    sleep.seconds,
                    format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
                ));
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    errs
}

fn validate_lifecycle(lifecycle: &Lifecycle, grace: Option<i64>, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let hooks: [(&Option<LifecycleHandler>, &str); 2] = [
        (&lifecycle.post_start, "postStart"),
        (&lifecycle.pre_stop, "preStop"),
    ];
    for (hook, name) in hooks {
        if let Some(h) = hook {
            let handler = Handler {
                exec: h.exec.as_ref(),
                http_get: h.http_get.as_ref(),
                tcp_socket: h.tcp_socket.as_ref(),
                grpc: None,
                sleep: h.sleep.as_ref(),
            };
            errs.extend(validate_handler(handler, grace, &path.child(name)));
        }
    }
    errs
}

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(
    probe: Option<&Probe>,
    kind: ProbeKind,
    grace: Option<i64>,
    path: &FieldPath,
) -> Errors {
    let Some(probe) = probe else {
        return Vec::new();
    };
    let handler = Handler {
        exec: probe.exec.as_ref(),
        http_get: probe.http_get.as_ref(),
        tcp_socket: probe.tcp_socket.as_ref(),
        grpc: probe.grpc.as_ref(),
        sleep: None,
    };
    let mut errs = validate_handler(handler, grace, path);
    for (value, name) in [
        (probe.initial_delay_seconds, "initialDelaySeconds"),
        (probe.timeout_seconds, "timeoutSeconds"),
        (probe.period_seconds, "periodSeconds"),
        (probe.success_threshold, "successThreshold"),
        (probe.failure_threshold, "failureThreshold"),
    ] {
        errs.extend(validate_nonnegative(
            value.unwrap_or(0).into(),
            &path.child(name),
        ));
    }
    if let Some(tgps) = probe.termination_grace_period_seconds {
        if tgps <= 0 {
            errs.push(FieldError::invalid(
                path.child("terminationGracePeriodSeconds"),
                tgps,
                "must be greater than 0",
            ));
        }
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let success = probe.success_threshold.unwrap_or(0);
            if success != 1 {
                errs.push(FieldError::invalid(
                    path.child("successThreshold"),
                    success,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(tgps) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    path.child("terminationGracePeriodSeconds"),
                    tgps,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

fn validate_probes(container: &Container, grace: Option<i64>, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    if let Some(lifecycle) = &container.lifecycle {
        errs.extend(validate_lifecycle(
            lifecycle,
            grace,
            &path.child("lifecycle"),
        ));
    }
    errs.extend(validate_probe(
        container.liveness_probe.as_ref(),
        ProbeKind::Liveness,
        grace,
        &path.child("livenessProbe"),
    ));
    errs.extend(validate_probe(
        container.readiness_probe.as_ref(),
        ProbeKind::Readiness,
        grace,
        &path.child("readinessProbe"),
    ));
    errs.extend(validate_probe(
        container.startup_probe.as_ref(),
        ProbeKind::Startup,
        grace,
        &path.child("startupProbe"),
    ));
    errs
}

/// Upstream `validateContainerCommon`.
fn validate_container_common(
    container: &Container,
    volumes: &VolumeNames,
    path: &FieldPath,
    pod_restart_policy: &str,
) -> Errors {
    const TERMINATION_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
    const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
    let mut errs = Vec::new();
    if container.name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        errs.extend(validate_dns1123_label(&container.name, &path.child("name")));
    }
    if text(&container.image).is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    }
    match text(&container.termination_message_policy) {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(
            path.child("terminationMessagePolicy"),
            "",
        )),
        other => errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy"),
            other,
            TERMINATION_POLICIES,
        )),
    }
    let mounts: BTreeMap<&str, &str> = items(&container.volume_mounts)
        .iter()
        .map(|m| (m.name.as_str(), m.mount_path.as_str()))
        .collect();
    let devices: BTreeMap<&str, &str> = items(&container.volume_devices)
        .iter()
        .map(|d| (d.name.as_str(), d.device_path.as_str()))
        .collect();
    errs.extend(validate_container_ports(
        items(&container.ports),
        &path.child("ports"),
    ));
    errs.extend(validate_env(items(&container.env), &path.child("env")));
    errs.extend(validate_env_from(
        items(&container.env_from),
        &path.child("envFrom"),
    ));
    let privileged = container
        .security_context
        .as_ref()
        .is_some_and(|sc| sc.privileged == Some(true));
    errs.extend(validate_volume_mounts(
        items(&container.volume_mounts),
        &devices,
        volumes,
        privileged,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_volume_devices(
        items(&container.volume_devices),
        &mounts,
        volumes,
        &path.child("volumeDevices"),
    ));
    match text(&container.image_pull_policy) {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("imagePullPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("imagePullPolicy"),
            other,
            PULL_POLICIES,
        )),
    }
    if let Some(resources) = &container.resources {
        errs.extend(validate_resources(resources, &path.child("resources")));
    }
    errs.extend(validate_resize_policy(
        items(&container.resize_policy),
        &path.child("resizePolicy"),
        pod_restart_policy,
    ));
    errs.extend(validate_security_context(
        container.security_context.as_ref(),
        &path.child("securityContext"),
    ));
    errs
}

/// Conflicting `hostPort`s (`protocol/hostIP/port`) within `containers`.
fn check_host_port_conflicts<'a>(
    containers: impl Iterator<Item = (usize, &'a Container)>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, container) in containers {
        for (j, port) in items(&container.ports).iter().enumerate() {
            let host_port = port.host_port.unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                text(&port.protocol),
                text(&port.host_ip),
                host_port
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    path.index(i).child("ports").index(j).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

fn validate_containers(
    containers: &[Container],
    volumes: &VolumeNames,
    grace: Option<i64>,
    path: &FieldPath,
    restart_policy: &str,
) -> Errors {
    if containers.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, container) in containers.iter().enumerate() {
        let idx = path.index(i);
        errs.extend(validate_container_common(
            container,
            volumes,
            &idx,
            restart_policy,
        ));
        if !names.insert(container.name.as_str()) {
            errs.push(FieldError::duplicate(
                idx.child("name"),
                container.name.as_str(),
            ));
        }
        errs.extend(validate_probes(container, grace, &idx));
        if container.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                idx.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(check_host_port_conflicts(
        containers.iter().enumerate(),
        path,
    ));
    errs
}

fn validate_init_containers(
    containers: &[Container],
    regular: &[Container],
    volumes: &VolumeNames,
    grace: Option<i64>,
    path: &FieldPath,
    restart_policy: &str,
) -> Errors {
    let mut errs = Vec::new();
    let mut names: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, container) in containers.iter().enumerate() {
        let idx = path.index(i);
        errs.extend(validate_container_common(
            container,
            volumes,
            &idx,
            restart_policy,
        ));
        let mut restart_always = false;
        if let Some(policy) = &container.restart_policy {
            if policy != "Always" {
                errs.push(FieldError::not_supported(
                    idx.child("restartPolicy"),
                    policy.as_str(),
                    &["Always"],
                ));
            }
            restart_always = policy == "Always";
        }
        if names.contains(container.name.as_str()) {
            errs.push(FieldError::duplicate(
                idx.child("name"),
                container.name.as_str(),
            ));
        } else if !container.name.is_empty() {
            names.insert(container.name.as_str());
        }
        // Upstream checks each init container on its own, always at index 0.
        errs.extend(check_host_port_conflicts(
            std::iter::once((0, container)),
            path,
        ));
        if restart_always {
            errs.extend(validate_probes(container, grace, &idx));
        } else {
            const WHY: &str = "may not be set for init containers without restartPolicy=Always";
            for (present, name) in [
                (container.lifecycle.is_some(), "lifecycle"),
                (container.liveness_probe.is_some(), "livenessProbe"),
                (container.readiness_probe.is_some(), "readinessProbe"),
                (container.startup_probe.is_some(), "startupProbe"),
            ] {
                if present {
                    errs.push(FieldError::forbidden(idx.child(name), WHY));
                }
            }
        }
        if !items(&container.resize_policy).is_empty() {
            errs.push(FieldError::invalid(
                idx.child("resizePolicy"),
                json(&container.resize_policy),
                "must not be set for init containers",
            ));
        }
    }
    errs
}

fn validate_ephemeral_containers(
    spec: &PodSpec,
    volumes: &VolumeNames,
    path: &FieldPath,
    restart_policy: &str,
) -> Errors {
    let mut errs = Vec::new();
    let others: BTreeSet<&str> = spec
        .containers
        .iter()
        .chain(items(&spec.init_containers))
        .map(|c| c.name.as_str())
        .collect();
    let mut names = others.clone();
    for (i, ephemeral) in items(&spec.ephemeral_containers).iter().enumerate() {
        let idx = path.index(i);
        let container: Container = serde_json::from_value(json(ephemeral)).unwrap_or_default();
        errs.extend(validate_container_common(
            &container,
            volumes,
            &idx,
            restart_policy,
        ));
        errs.extend(validate_container_only_for_pod(&container, &idx));
        if !names.insert(ephemeral.name.as_str()) {
            errs.push(FieldError::duplicate(
                idx.child("name"),
                ephemeral.name.as_str(),
            ));
        }
        let target = text(&ephemeral.target_container_name);
        if !target.is_empty() && !others.contains(target) {
            errs.push(FieldError::not_found(
                idx.child("targetContainerName"),
                target,
            ));
        }
        const FORBIDDEN: &str = "cannot be set for an Ephemeral Container";
        for (present, name) in [
            (ephemeral.ports.is_some(), "ports"),
            (
                ephemeral
                    .resources
                    .as_ref()
                    .is_some_and(|r| *r != ResourceRequirements::default()),
                "resources",
            ),
            (ephemeral.liveness_probe.is_some(), "livenessProbe"),
            (ephemeral.readiness_probe.is_some(), "readinessProbe"),
            (ephemeral.startup_probe.is_some(), "startupProbe"),
            (ephemeral.lifecycle.is_some(), "lifecycle"),
            (ephemeral.resize_policy.is_some(), "resizePolicy"),
            (ephemeral.restart_policy.is_some(), "restartPolicy"),
        ] {
            if present {
                errs.push(FieldError::forbidden(idx.child(name), FORBIDDEN));
            }
        }
        for (j, mount) in items(&ephemeral.volume_mounts).iter().enumerate() {
            let mount_path = idx.child("volumeMounts").index(j);
            if !text(&mount.sub_path).is_empty() {
                errs.push(FieldError::forbidden(
                    mount_path.child("subPath"),
                    FORBIDDEN,
                ));
            }
            if !text(&mount.sub_path_expr).is_empty() {
                errs.push(FieldError::forbidden(
                    mount_path.child("subPathExpr"),
                    FORBIDDEN,
                ));
            }
        }
    }
    errs
}

/// Upstream `validateContainerOnlyForPod`: no whitespace around the image.
pub(super) fn validate_container_only_for_pod(container: &Container, path: &FieldPath) -> Errors {
    let image = text(&container.image);
    if image.trim() != image {
        vec![FieldError::invalid(
            path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        )]
    } else {
        Vec::new()
    }
}

fn validate_node_selector_requirement(req: &NodeSelectorRequirement, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let values = items(&req.values);
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    path.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    path.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    path.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(&req.key, &path.child("key")));
    errs
}

fn validate_node_field_requirement(req: &NodeSelectorRequirement, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    match req.operator.as_str() {
        "In" | "NotIn" => {
            if items(&req.values).len() != 1 {
                errs.push(FieldError::required(
                    path.child("values"),
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            path.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    if req.key != "metadata.name" {
        errs.push(FieldError::invalid(
            path.child("key"),
            req.key.as_str(),
            "not a valid field selector key",
        ));
    } else {
        for (i, value) in items(&req.values).iter().enumerate() {
            errs.extend(invalid_each(
                &path.child("values").index(i),
                value,
                name_is_dns_subdomain(value, false),
            ));
        }
    }
    errs
}

fn validate_node_selector_term(term: &NodeSelectorTerm, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    for (j, req) in items(&term.match_expressions).iter().enumerate() {
        errs.extend(validate_node_selector_requirement(
            req,
            &path.child("matchExpressions").index(j),
        ));
    }
    for (j, req) in items(&term.match_fields).iter().enumerate() {
        errs.extend(validate_node_field_requirement(
            req,
            &path.child("matchFields").index(j),
        ));
    }
    errs
}

fn validate_pod_affinity_term(term: &PodAffinityTerm, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    if let Some(selector) = &term.label_selector {
        errs.extend(validate_label_selector(
            selector,
            &path.child("labelSelector"),
        ));
    }
    if let Some(selector) = &term.namespace_selector {
        errs.extend(validate_label_selector(
            selector,
            &path.child("namespaceSelector"),
        ));
    }
    for name in items(&term.namespaces) {
        errs.extend(invalid_each(
            &path.child("namespace"),
            name,
            name_is_dns_label(name, false),
        ));
    }
    if term.topology_key.is_empty() {
        errs.push(FieldError::required(
            path.child("topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(validate_label_name(
        &term.topology_key,
        &path.child("topologyKey"),
    ));
    errs
}

fn validate_pod_affinity_terms(
    required: &Option<Vec<PodAffinityTerm>>,
    preferred: &Option<Vec<k8s_openapi::api::core::v1::WeightedPodAffinityTerm>>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    for (i, term) in items(required).iter().enumerate() {
        errs.extend(validate_pod_affinity_term(
            term,
            &path
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .index(i),
        ));
    }
    for (i, weighted) in items(preferred).iter().enumerate() {
        let p = path
            .child("preferredDuringSchedulingIgnoredDuringExecution")
            .index(i);
        if !(1..=100).contains(&weighted.weight) {
            errs.push(FieldError::invalid(
                p.child("weight"),
                weighted.weight,
                "must be in the range 1-100",
            ));
        }
        errs.extend(validate_pod_affinity_term(
            &weighted.pod_affinity_term,
            &p.child("podAffinityTerm"),
        ));
    }
    errs
}

fn validate_affinity(affinity: Option<&Affinity>, path: &FieldPath) -> Errors {
    let Some(affinity) = affinity else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if let Some(node) = &affinity.node_affinity {
        let p = path.child("nodeAffinity");
        if let Some(required) = &node.required_during_scheduling_ignored_during_execution {
            let terms_path = p
                .child("requiredDuringSchedulingIgnoredDuringExecution")
                .child("nodeSelectorTerms");
            if required.node_selector_terms.is_empty() {
                errs.push(FieldError::required(
                    &terms_path,
                    "must have at least one node selector term",
                ));
            }
            for (i, term) in required.node_selector_terms.iter().enumerate() {
                errs.extend(validate_node_selector_term(term, &terms_path.index(i)));
            }
        }
        for (i, term) in items(&node.preferred_during_scheduling_ignored_during_execution)
            .iter()
            .enumerate()
        {
            let tp = p
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            if !(1..=100).contains(&term.weight) {
                errs.push(FieldError::invalid(
                    tp.child("weight"),
                    term.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_node_selector_term(
                &term.preference,
                &tp.child("preference"),
            ));
        }
    }
    if let Some(pod) = &affinity.pod_affinity {
        errs.extend(validate_pod_affinity_terms(
            &pod.required_during_scheduling_ignored_during_execution,
            &pod.preferred_during_scheduling_ignored_during_execution,
            &path.child("podAffinity"),
        ));
    }
    if let Some(anti) = &affinity.pod_anti_affinity {
        errs.extend(validate_pod_affinity_terms(
            &anti.required_during_scheduling_ignored_during_execution,
            &anti.preferred_during_scheduling_ignored_during_execution,
            &path.child("podAntiAffinity"),
        ));
    }
    errs
}

fn validate_taint_effect(effect: &str, allow_empty: bool, path: &FieldPath) -> Errors {
    const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
    if effect.is_empty() && !allow_empty {
        return vec![FieldError::required(path, "")];
    }
    if EFFECTS.contains(&effect) {
        Vec::new()
    } else {
        vec![FieldError::not_supported(path, effect, EFFECTS)]
    }
}

/// Upstream `validateTaintEffect` for Node taints.
pub(super) fn validate_taint_effect_required(effect: &str, path: &FieldPath) -> Errors {
    validate_taint_effect(effect, false, path)
}

/// Upstream `ValidateTolerations`.
pub(super) fn validate_tolerations(tolerations: &[Toleration], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    for (i, toleration) in tolerations.iter().enumerate() {
        let idx = path.index(i);
        let key = text(&toleration.key);
        let operator = text(&toleration.operator);
        let effect = text(&toleration.effect);
        let value = text(&toleration.value);
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &idx.child("key")));
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                idx.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if toleration.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                idx.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        idx.child("operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        idx.child("operator"),
                        json(toleration),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                idx.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() {
            errs.extend(validate_taint_effect(effect, true, &idx.child("effect")));
        }
    }
    errs
}

fn validate_dns_config(spec: &PodSpec, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let dns_policy = text(&spec.dns_policy);
    if dns_policy == "None" {
        match &spec.dns_config {
            None => {
                return vec![FieldError::required(
                    path,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )];
            }
            Some(config) if items(&config.nameservers).is_empty() => {
                return vec![FieldError::required(
                    path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )];
            }
            Some(_) => {}
        }
    }
    let Some(config) = &spec.dns_config else {
        return errs;
    };
    let nameservers = items(&config.nameservers);
    if nameservers.len() > 3 {
        errs.push(FieldError::invalid(
            path.child("nameservers"),
            json(nameservers),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        errs.extend(is_valid_ip(&path.child("nameservers").index(i), ns));
    }
    let searches = items(&config.searches);
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            path.child("searches"),
            json(searches),
            "must not have more than 32 search paths",
        ));
    }
    if searches.join(" ").len() > 2048 {
        errs.push(FieldError::invalid(
            path.child("searches"),
            json(searches),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, search) in searches.iter().enumerate() {
        let search = search.strip_suffix('.').unwrap_or(search);
        errs.extend(validate_dns1123_subdomain(
            search,
            &path.child("searches").index(i),
        ));
    }
    for (i, option) in items(&config.options).iter().enumerate() {
        if text(&option.name).is_empty() {
            errs.push(FieldError::required(
                path.child("options").index(i),
                "must not be empty",
            ));
        }
    }
    errs
}

fn validate_topology_spread_constraints(
    constraints: &[TopologySpreadConstraint],
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    for (i, c) in constraints.iter().enumerate() {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                p.child("maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            errs.extend(validate_label_name(
                &c.topology_key,
                &p.child("topologyKey"),
            ));
        }
        if !matches!(
            c.when_unsatisfiable.as_str(),
            "DoNotSchedule" | "ScheduleAnyway"
        ) {
            errs.push(FieldError::not_supported(
                p.child("whenUnsatisfiable"),
                c.when_unsatisfiable.as_str(),
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        let repeated = constraints[i + 1..].iter().any(|o| {
            o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable
        });
        if repeated {
            errs.push(FieldError::duplicate(
                p.child("{topologyKey, whenUnsatisfiable}"),
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(min_domains) = c.min_domains {
            if min_domains <= 0 {
                errs.push(FieldError::invalid(
                    p.child("minDomains"),
                    min_domains,
                    "must be greater than 0",
                ));
            }
            if c.when_unsatisfiable != "DoNotSchedule" {
                errs.push(FieldError::invalid(
                    p.child("minDomains"),
                    min_domains,
                    format!(
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {}",
                        c.when_unsatisfiable
                    ),
                ));
            }
        }
        for (policy, name) in [
            (&c.node_affinity_policy, "nodeAffinityPolicy"),
            (&c.node_taints_policy, "nodeTaintsPolicy"),
        ] {
            if let Some(policy) = policy {
                if !matches!(policy.as_str(), "Honor" | "Ignore") {
                    errs.push(FieldError::not_supported(
                        p.child(name),
                        policy.as_str(),
                        &["Honor", "Ignore"],
                    ));
                }
            }
        }
        if let Some(selector) = &c.label_selector {
            errs.extend(validate_label_selector(selector, &p.child("labelSelector")));
        }
    }
    errs
}

/// Upstream `ValidatePodSpec`.
pub(super) fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, opts: PodOptions) -> Errors {
    const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
    const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    let mut errs = Vec::new();
    if spec.termination_grace_period_seconds.is_none() {
        errs.push(FieldError::required(
            path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let grace = spec.termination_grace_period_seconds;
    let restart_policy = text(&spec.restart_policy);
    let (volumes, volume_errs) = validate_volumes(items(&spec.volumes), &path.child("volumes"));
    errs.extend(volume_errs);
    errs.extend(validate_containers(
        &spec.containers,
        &volumes,
        grace,
        &path.child("containers"),
        restart_policy,
    ));
    errs.extend(validate_init_containers(
        items(&spec.init_containers),
        &spec.containers,
        &volumes,
        grace,
        &path.child("initContainers"),
        restart_policy,
    ));
    errs.extend(validate_ephemeral_containers(
        spec,
        &volumes,
        &path.child("ephemeralContainers"),
        restart_policy,
    ));
    if spec.host_network == Some(true) {
        for (i, container) in spec.containers.iter().enumerate() {
            for (j, port) in items(&container.ports).iter().enumerate() {
                let host_port = port.host_port.unwrap_or(0);
                if (opts.resource_is_pod || host_port != 0) && host_port != port.container_port {
                    errs.push(FieldError::invalid(
                        path.child("containers")
                            .index(i)
                            .child("ports")
                            .index(j)
                            .child("hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    match restart_policy {
        "Always" | "OnFailure" | "Never" => {}
        "" => errs.push(FieldError::required(path.child("restartPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            other,
            RESTART_POLICIES,
        )),
    }
    match text(&spec.dns_policy) {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => errs.push(FieldError::required(path.child("dnsPolicy"), "")),
        other => errs.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            other,
            DNS_POLICIES,
        )),
    }
    errs.extend(validate_labels(
        spec.node_selector.as_ref(),
        &path.child("nodeSelector"),
    ));
    let sc_path = path.child("securityContext");
    errs.extend(validate_pod_security_context(
        spec.security_context.as_ref(),
        &sc_path,
    ));
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            sc_path.child("shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    errs.extend(validate_affinity(
        spec.affinity.as_ref(),
        &path.child("affinity"),
    ));
    errs.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    for (i, gate) in items(&spec.readiness_gates).iter().enumerate() {
        errs.extend(validate_qualified_name(
            &gate.condition_type,
            &path.child("readinessGates").index(i).child("conditionType"),
        ));
    }
    let mut gates = BTreeSet::new();
    for (i, gate) in items(&spec.scheduling_gates).iter().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.extend(validate_qualified_name(&gate.name, &p));
        if !gates.insert(gate.name.as_str()) {
            errs.push(FieldError::duplicate(&p, gate.name.as_str()));
        }
    }
    errs.extend(validate_topology_spread_constraints(
        items(&spec.topology_spread_constraints),
        &path.child("topologySpreadConstraints"),
    ));
    for (value, name, check) in [
        (
            &spec.service_account_name,
            "serviceAccountName",
            name_is_dns_subdomain as fn(&str, bool) -> Vec<String>,
        ),
        (&spec.node_name, "nodeName", name_is_dns_subdomain),
        (
            &spec.priority_class_name,
            "priorityClassName",
            name_is_dns_subdomain,
        ),
        (
            &spec.runtime_class_name,
            "runtimeClassName",
            name_is_dns_subdomain,
        ),
    ] {
        let value = text(value);
        if !value.is_empty() || (name == "runtimeClassName" && spec.runtime_class_name.is_some()) {
            errs.extend(invalid_each(&path.child(name), value, check(value, false)));
        }
    }
    if let Some(deadline) = spec.active_deadline_seconds {
        if !(1..=MAX_INT32).contains(&deadline) {
            errs.push(FieldError::invalid(
                path.child("activeDeadlineSeconds"),
                deadline,
                inclusive_range_error(1, MAX_INT32),
            ));
        }
    }
    for (value, name) in [(&spec.hostname, "hostname"), (&spec.subdomain, "subdomain")] {
        let value = text(value);
        if !value.is_empty() {
            errs.extend(validate_dns1123_label(value, &path.child(name)));
        }
    }
    errs.extend(validate_tolerations(
        items(&spec.tolerations),
        &path.child("tolerations"),
    ));
    for (i, alias) in items(&spec.host_aliases).iter().enumerate() {
        let p = path.child("hostAliases").index(i);
        errs.extend(is_valid_ip(&p.child("ip"), &alias.ip));
        for (j, hostname) in items(&alias.hostnames).iter().enumerate() {
            errs.extend(validate_dns1123_subdomain(
                hostname,
                &p.child("hostnames").index(j),
            ));
        }
    }
    if let Some(policy) = &spec.preemption_policy {
        match policy.as_str() {
            "PreemptLowerPriority" | "Never" => {}
            "" => errs.push(FieldError::required(path.child("preemptionPolicy"), "")),
            other => errs.push(FieldError::not_supported(
                path.child("preemptionPolicy"),
                other,
                &["PreemptLowerPriority", "Never"],
            )),
        }
    }
    if let Some(overhead) = &spec.overhead {
        let p = path.child("overhead");
        for (name, value) in overhead {
            let kp = p.child("limits").key(name);
            errs.extend(validate_container_resource_name(name, &kp));
            errs.extend(validate_resource_quantity(name, value, &kp));
        }
    }
    if let Some(os) = &spec.os {
        match os.name.as_str() {
            "linux" | "windows" => {}
            "" => errs.push(FieldError::required(path.child("os").child("name"), "")),
            other => errs.push(FieldError::not_supported(
                path.child("os").child("name"),
                other,
                &["linux", "windows"],
            )),
        }
    }
    errs
}

fn pod_spec_has_container(spec: &PodSpec, name: &str) -> bool {
    spec.containers
        .iter()
        .chain(items(&spec.init_containers))
        .any(|c| c.name == name)
        || items(&spec.ephemeral_containers)
            .iter()
            .any(|c| c.name == name)
}

fn validate_seccomp_annotation(profile: &str, path: &FieldPath) -> Errors {
    if matches!(profile, "runtime/default" | "docker/default" | "unconfined") {
        return Vec::new();
    }
    match profile.strip_prefix("localhost/") {
        Some(local) => validate_local_descending_path(local, path),
        None => vec![FieldError::invalid(
            path,
            profile,
            "must be a valid seccomp profile",
        )],
    }
}

/// Upstream `ValidatePodSpecificAnnotations`; `path` is `metadata.annotations`
/// (or a template's `annotations`).
pub(super) fn validate_pod_specific_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    spec: &PodSpec,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let Some(annotations) = annotations else {
        return errs;
    };
    if let Some(value) = annotations.get(MIRROR_POD_ANNOTATION) {
        if text(&spec.node_name).is_empty() {
            errs.push(FieldError::invalid(
                path.key(MIRROR_POD_ANNOTATION),
                value.as_str(),
                "must set spec.nodeName if mirror pod annotation is set",
            ));
        }
    }
    if let Some(cost) = annotations.get(DELETION_COST_ANNOTATION) {
        if cost.parse::<i32>().is_err() {
            errs.push(FieldError::invalid(
                path.key(DELETION_COST_ANNOTATION),
                cost.as_str(),
                "must be a 32bit integer",
            ));
        }
    }
    if let Some(profile) = annotations.get(SECCOMP_POD_ANNOTATION) {
        errs.extend(validate_seccomp_annotation(
            profile,
            &path.child(SECCOMP_POD_ANNOTATION),
        ));
    }
    for (key, value) in annotations {
        if key.starts_with(SECCOMP_CONTAINER_ANNOTATION_PREFIX) {
            errs.extend(validate_seccomp_annotation(value, &path.child(key)));
        }
        if let Some(container) = key.strip_prefix(APPARMOR_ANNOTATION_PREFIX) {
            if !pod_spec_has_container(spec, container) {
                errs.push(FieldError::invalid(
                    path.key(key),
                    container,
                    "container not found",
                ));
            }
            let format_ok = value.is_empty()
                || value == "runtime/default"
                || value == "unconfined"
                || value.starts_with("localhost/");
            if !format_ok {
                errs.push(FieldError::invalid(
                    path.key(key),
                    value.as_str(),
                    format!("invalid AppArmor profile name: {}", quote(value)),
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidatePodTemplateSpec` (labels and annotations are checked at
/// `<path>.labels` / `<path>.annotations`, as upstream does).
pub(super) fn validate_pod_template_spec(template: &PodTemplateSpec, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let default_spec;
    let spec = match &template.spec {
        Some(spec) => spec,
        None => {
            default_spec = PodSpec::default();
            &default_spec
        }
    };
    let meta = template.metadata.as_ref();
    let labels = meta.and_then(|m| m.labels.as_ref());
    let annotations = meta.and_then(|m| m.annotations.as_ref());
    errs.extend(validate_labels(labels, &path.child("labels")));
    errs.extend(validate_annotations(
        annotations,
        &path.child("annotations"),
    ));
    errs.extend(validate_pod_specific_annotations(
        annotations,
        spec,
        &path.child("annotations"),
    ));
    errs.extend(validate_pod_spec(
        spec,
        &path.child("spec"),
        PodOptions {
            resource_is_pod: false,
        },
    ));
    if !items(&spec.ephemeral_containers).is_empty() {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::assert_errors;
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> PodSpec {
        let mut spec: PodSpec = serde_json::from_value(value).unwrap();
        default_pod_spec(&mut spec);
        spec
    }

    fn errors(value: Value) -> Errors {
        validate_pod_spec(
            &spec(value),
            &FieldPath::new("spec"),
            PodOptions {
                resource_is_pod: true,
            },
        )
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("docker.io/library/nginx", "Always"),
            ("registry:5000/team/app", "Always"),
            ("registry:5000/team/app:v1", "IfNotPresent"),
            ("localhost/app:latest", "Always"),
            (
                "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "IfNotPresent",
            ),
            ("Nginx", "IfNotPresent"),
            ("", "IfNotPresent"),
            ("bad image", "IfNotPresent"),
            ("日本", "IfNotPresent"),
        ];
        for (image, want) in cases {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn round_up_to_milli() {
        let mut list = BTreeMap::from([
            ("cpu".to_string(), K8sQuantity("0.0001".to_string())),
            ("memory".to_string(), K8sQuantity("100m".to_string())),
            ("x".to_string(), K8sQuantity("1Gi".to_string())),
        ]);
        round_up_resources(&mut list);
        assert_eq!(list["cpu"].0, "1m");
        assert_eq!(list["memory"].0, "100m");
        assert_eq!(list["x"].0, "1Gi");
    }

    #[test]
    fn volume_defaults() {
        let s = spec(json!({"containers": [], "volumes": [
            {"name": "a"},
            {"name": "b", "secret": {"secretName": "s"}},
            {"name": "c", "hostPath": {"path": "/x"}},
            {"name": "d", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}, {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}}]}},
        ]}));
        let v = json(&s.volumes);
        assert_eq!(v[0]["emptyDir"], json!({}));
        assert_eq!(v[1]["secret"]["defaultMode"], 420);
        assert_eq!(v[2]["hostPath"]["type"], "");
        assert_eq!(v[3]["projected"]["defaultMode"], 420);
        assert_eq!(
            v[3]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3600
        );
        assert_eq!(
            v[3]["projected"]["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
            "v1"
        );
    }

    #[test]
    fn container_rules() {
        let base = json!({"name": "c", "image": "nginx"});
        let with = |patch: Value| {
            let mut c = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            json!({"containers": [c]})
        };
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (with(json!({})), vec![]),
            (
                json!({"containers": []}),
                vec![("spec.containers", "FieldValueRequired")],
            ),
            (
                with(json!({"name": ""})),
                vec![("spec.containers[0].name", "FieldValueRequired")],
            ),
            (
                with(json!({"name": "Web_1"})),
                vec![("spec.containers[0].name", "FieldValueInvalid")],
            ),
            (
                with(json!({"image": ""})),
                vec![("spec.containers[0].image", "FieldValueRequired")],
            ),
            (
                json!({"containers": [base.clone(), base.clone()]}),
                vec![("spec.containers[1].name", "FieldValueDuplicate")],
            ),
            (
                with(
                    json!({"ports": [{"containerPort": 0}, {"containerPort": 70000, "protocol": "ICMP"}, {"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]}),
                ),
                vec![
                    (
                        "spec.containers[0].ports[0].containerPort",
                        "FieldValueRequired",
                    ),
                    (
                        "spec.containers[0].ports[1].containerPort",
                        "FieldValueInvalid",
                    ),
                    (
                        "spec.containers[0].ports[1].protocol",
                        "FieldValueNotSupported",
                    ),
                    ("spec.containers[0].ports[3].name", "FieldValueDuplicate"),
                ],
            ),
            (
                with(
                    json!({"ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}]}),
                ),
                vec![(
                    "spec.containers[0].ports[1].hostPort",
                    "FieldValueDuplicate",
                )],
            ),
            (
                with(json!({"imagePullPolicy": "Sometimes", "terminationMessagePolicy": "Maybe"})),
                vec![
                    (
                        "spec.containers[0].imagePullPolicy",
                        "FieldValueNotSupported",
                    ),
                    (
                        "spec.containers[0].terminationMessagePolicy",
                        "FieldValueNotSupported",
                    ),
                ],
            ),
            (
                with(
                    json!({"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}),
                ),
                vec![("spec.containers[0].resources.requests", "FieldValueInvalid")],
            ),
            (
                with(json!({"resources": {"requests": {"cpu": "-1"}}})),
                vec![(
                    "spec.containers[0].resources.requests[cpu]",
                    "FieldValueInvalid",
                )],
            ),
            (
                with(json!({"resources": {"limits": {"gpu": "1", "example.com/dev": "1500m"}}})),
                vec![
                    (
                        "spec.containers[0].resources.limits[gpu]",
                        "FieldValueInvalid",
                    ),
                    (
                        "spec.containers[0].resources.limits[gpu]",
                        "FieldValueInvalid",
                    ),
                    (
                        "spec.containers[0].resources.limits[example.com/dev]",
                        "FieldValueInvalid",
                    ),
                ],
            ),
            (
                with(json!({"resources": {"requests": {"example.com/dev": "1"}}})),
                vec![("spec.containers[0].resources.limits", "FieldValueRequired")],
            ),
            (
                with(
                    json!({"env": [{"name": ""}, {"name": "A=B"}, {"name": "X", "valueFrom": {}}, {"name": "Y", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]}),
                ),
                vec![
                    ("spec.containers[0].env[0].name", "FieldValueRequired"),
                    ("spec.containers[0].env[1].name", "FieldValueInvalid"),
                    ("spec.containers[0].env[2].valueFrom", "FieldValueInvalid"),
                    ("spec.containers[0].env[3].valueFrom", "FieldValueInvalid"),
                    (
                        "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath",
                        "FieldValueInvalid",
                    ),
                ],
            ),
            (
                with(
                    json!({"env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}]}),
                ),
                vec![(
                    "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
                    "FieldValueNotSupported",
                )],
            ),
            (
                with(json!({"envFrom": [{}, {"configMapRef": {"name": "cm"}, "prefix": "P_"}]})),
                vec![("spec.containers[0].envFrom", "FieldValueInvalid")],
            ),
            (
                with(
                    json!({"volumeMounts": [{"name": "missing", "mountPath": "/a"}, {"name": "", "mountPath": ""}]}),
                ),
                vec![
                    (
                        "spec.containers[0].volumeMounts[0].name",
                        "FieldValueNotFound",
                    ),
                    (
                        "spec.containers[0].volumeMounts[1].name",
                        "FieldValueRequired",
                    ),
                    (
                        "spec.containers[0].volumeMounts[1].name",
                        "FieldValueNotFound",
                    ),
                    (
                        "spec.containers[0].volumeMounts[1].mountPath",
                        "FieldValueRequired",
                    ),
                ],
            ),
            (
                with(
                    json!({"livenessProbe": {"httpGet": {"port": 0}, "successThreshold": 2}, "readinessProbe": {}}),
                ),
                vec![
                    (
                        "spec.containers[0].livenessProbe.httpGet.port",
                        "FieldValueInvalid",
                    ),
                    (
                        "spec.containers[0].livenessProbe.successThreshold",
                        "FieldValueInvalid",
                    ),
                    ("spec.containers[0].readinessProbe", "FieldValueRequired"),
                ],
            ),
            (
                with(json!({"livenessProbe": {"exec": {}, "tcpSocket": {"port": "http"}}})),
                vec![
                    (
                        "spec.containers[0].livenessProbe.exec.command",
                        "FieldValueRequired",
                    ),
                    (
                        "spec.containers[0].livenessProbe.tcpSocket",
                        "FieldValueForbidden",
                    ),
                ],
            ),
            (
                with(json!({"restartPolicy": "Always"})),
                vec![("spec.containers[0].restartPolicy", "FieldValueForbidden")],
            ),
            (
                with(
                    json!({"securityContext": {"runAsUser": -1, "privileged": true, "allowPrivilegeEscalation": false}}),
                ),
                vec![
                    (
                        "spec.containers[0].securityContext.runAsUser",
                        "FieldValueInvalid",
                    ),
                    ("spec.containers[0].securityContext", "FieldValueInvalid"),
                ],
            ),
        ];
        for (value, want) in cases {
            assert_errors(&errors(value.clone()), &want);
        }
    }

    #[test]
    fn spec_rules() {
        let c = json!([{"name": "c", "image": "nginx"}]);
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({"containers": c, "restartPolicy": "Sometimes"}), vec![("spec.restartPolicy", "FieldValueNotSupported")]),
            (json!({"containers": c, "dnsPolicy": "Magic"}), vec![("spec.dnsPolicy", "FieldValueNotSupported")]),
            (json!({"containers": c, "dnsPolicy": "None"}), vec![("spec.dnsConfig", "FieldValueRequired")]),
            (json!({"containers": c, "nodeSelector": {"a": "b c"}}), vec![("spec.nodeSelector", "FieldValueInvalid")]),
            (json!({"containers": c, "activeDeadlineSeconds": 0}), vec![("spec.activeDeadlineSeconds", "FieldValueInvalid")]),
            (json!({"containers": c, "serviceAccountName": "Bad"}), vec![("spec.serviceAccountName", "FieldValueInvalid")]),
            (json!({"containers": c, "nodeName": "node_1"}), vec![("spec.nodeName", "FieldValueInvalid")]),
            (json!({"containers": c, "hostname": "a.b"}), vec![("spec.hostname", "FieldValueInvalid")]),
            (
                json!({"containers": c, "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}, {"key": "k", "effect": "Never"}]}),
                vec![
                    ("spec.tolerations[0].operator", "FieldValueInvalid"),
                    ("spec.tolerations[1].operator", "FieldValueInvalid"),
                    ("spec.tolerations[2].effect", "FieldValueInvalid"),
                    ("spec.tolerations[3].effect", "FieldValueNotSupported"),
                ],
            ),
            (
                json!({"containers": c, "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}, {"name": "Bad", "secret": {}}, {"name": "h", "hostPath": {"path": "/a/../b", "type": "Weird"}}, {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}]}),
                vec![
                    ("spec.volumes[4].hostPath", "FieldValueForbidden"),
                    ("spec.volumes[1].name", "FieldValueDuplicate"),
                    ("spec.volumes[2].name", "FieldValueInvalid"),
                    ("spec.volumes[2].secret.secretName", "FieldValueRequired"),
                    ("spec.volumes[3].hostPath.path", "FieldValueInvalid"),
                    ("spec.volumes[3].hostPath.type", "FieldValueNotSupported"),
                ],
            ),
            (
                json!({"containers": c, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Near"}]}]}}, "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "podAffinityTerm": {"topologyKey": ""}}]}}}),
                vec![
                    ("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", "FieldValueInvalid"),
                    ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "FieldValueInvalid"),
                    ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey", "FieldValueRequired"),
                    ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey", "FieldValueInvalid"),
                    ("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "hostPort": 81}]}], "hostNetwork": true}),
                vec![("spec.containers[0].ports[0].hostPort", "FieldValueInvalid")],
            ),
            (
                json!({"containers": c, "initContainers": [{"name": "c", "image": "i", "livenessProbe": {"exec": {"command": ["x"]}}}]}),
                vec![
                    ("spec.initContainers[0].name", "FieldValueDuplicate"),
                    ("spec.initContainers[0].livenessProbe", "FieldValueForbidden"),
                ],
            ),
            (
                json!({"containers": c, "topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Whatever"}]}),
                vec![
                    ("spec.topologySpreadConstraints[0].maxSkew", "FieldValueInvalid"),
                    ("spec.topologySpreadConstraints[0].whenUnsatisfiable", "FieldValueNotSupported"),
                ],
            ),
            (
                json!({"containers": c, "securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward", "value": "1"}, {"name": "Bad!", "value": "1"}]}}),
                vec![("spec.securityContext.sysctls[1].name", "FieldValueInvalid")],
            ),
        ];
        for (value, want) in cases {
            assert_errors(&errors(value.clone()), &want);
        }
    }

    #[test]
    fn error_messages_match_upstream() {
        let errs = errors(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "1"}}}]}),
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
        );
        let errs = errors(
            json!({"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Sometimes"}),
        );
        assert_eq!(
            errs[0].to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
    }
}
