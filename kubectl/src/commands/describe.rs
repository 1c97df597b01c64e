//! `kubectl describe`: upstream's describers for pods, deployments, services, nodes and secrets
//! (secret values hidden as `key:  N bytes`), each followed by the object's events, laid out as
//! upstream does: `Label:\tvalue` lines at two-space nesting levels, aligned by one tabwriter
//! (Go's, minimum width 0, padding 2) over the whole description.
//!
//! The describers are pure functions from the object (and its events) to text, so they are
//! tested without a cluster. Other types get the generic describer (metadata and events).

use crate::cli::GlobalFlags;
use crate::commands::get::{
    get_json, get_json_opt, list_items, resolve_targets, resource_path, Selectors,
};
use crate::error::CliError;
use crate::printers::tabwriter::TabWriter;
use crate::resources::Catalog;
use crate::session::Session;
use jiff::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use tinykube_apimachinery::duration::human_duration;
use tinykube_apimachinery::quantity::Quantity;

/// Arguments of `kubectl describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// TYPE [NAME_PREFIX ...], or TYPE/NAME ...
    pub args: Vec<String>,
    /// Label selector to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Describe in all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Show events (default true).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub show_events: Option<bool>,
}

/// Upstream never shows the last-applied annotation in descriptions.
const SKIPPED_ANNOTATIONS: [&str; 1] = ["kubectl.kubernetes.io/last-applied-configuration"];

/// Annotation values longer than this print on their own lines, cut with `...`.
const MAX_ANNOTATION_LEN: usize = 140;

/// Text with `\t` between label and value and a nesting level per line, aligned at the end.
#[derive(Debug, Default)]
pub struct Description {
    text: String,
}

impl Description {
    /// One line at `level` (two spaces per level).
    pub fn line(&mut self, level: usize, text: impl AsRef<str>) {
        for _ in 0..level {
            self.text.push_str("  ");
        }
        self.text.push_str(text.as_ref());
        self.text.push('\n');
    }

    /// `label:\tvalue` at `level`.
    pub fn field(&mut self, level: usize, label: &str, value: impl AsRef<str>) {
        self.line(level, format!("{label}:\t{}", value.as_ref()));
    }

    /// A map printed as upstream's `printLabelsMultiline`: sorted `k=v`, one per line, the
    /// continuation lines in the value column; `<none>` when empty.
    pub fn map_field(&mut self, level: usize, label: &str, map: Option<&Value>, separator: &str) {
        let entries: BTreeMap<&String, String> = map
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k,
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if entries.is_empty() {
            self.field(level, label, "<none>");
            return;
        }
        for (i, (key, value)) in entries.iter().enumerate() {
            if i == 0 {
                self.field(level, label, format!("{key}{separator}{value}"));
            } else {
                self.line(level, format!("\t{key}{separator}{value}"));
            }
        }
    }

    /// Annotations as upstream's `printAnnotationsMultiline`: sorted, the last-applied
    /// annotation skipped, long or multi-line values on their own indented lines.
    pub fn annotations(&mut self, level: usize, annotations: Option<&Value>) {
        let entries: BTreeMap<&String, &str> = annotations
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| !SKIPPED_ANNOTATIONS.contains(&k.as_str()))
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        if entries.is_empty() {
            self.field(level, "Annotations", "<none>");
            return;
        }
        let mut first = true;
        for (key, value) in entries {
            let prefix = if first { "Annotations:\t" } else { "\t" };
            first = false;
            let value = value.strip_suffix('\n').unwrap_or(value);
            if value.len() + key.len() + 2 > MAX_ANNOTATION_LEN || value.contains('\n') {
                self.line(level, format!("{prefix}{key}:"));
                for part in value.split('\n') {
                    let shortened = match part.char_indices().nth(MAX_ANNOTATION_LEN - 2) {
                        Some((at, _)) => format!("{}...", &part[..at]),
                        None => part.to_owned(),
                    };
                    self.line(level, format!("\t  {shortened}"));
                }
            } else {
                self.line(level, format!("{prefix}{key}: {value}"));
            }
        }
    }

    /// The aligned text.
    pub fn render(&self) -> String {
        TabWriter::for_describe().format(&self.text)
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn or_none(value: &str) -> String {
    if value.is_empty() {
        "<none>".to_owned()
    } else {
        value.to_owned()
    }
}

fn array_at<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A label map as `k=v,...` sorted by key (empty when there is none), as upstream prints
/// selectors.
fn selector_text(labels: Option<&Value>) -> String {
    let Some(labels) = labels.and_then(Value::as_object) else {
        return String::new();
    };
    let sorted: BTreeMap<&String, &Value> = labels.iter().collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's `time.RFC1123Z` in UTC, as upstream prints timestamps.
pub fn rfc1123z(timestamp: &str) -> String {
    match timestamp.parse::<Timestamp>() {
        Ok(t) => t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string(),
        Err(_) => timestamp.to_owned(),
    }
}

/// How long ago `timestamp` was, in nanoseconds, as upstream's `time.Since` measures an age.
fn nanos_since(timestamp: &str, now: Timestamp) -> Option<i128> {
    let t: Timestamp = timestamp.parse().ok()?;
    Some(now.as_nanosecond() - t.as_nanosecond())
}

/// The `Events:` section: `<none>`, or upstream's Type/Reason/Age/From/Message table, oldest
/// first.
pub fn describe_events(d: &mut Description, events: &[Value], now: Timestamp) {
    if events.is_empty() {
        d.field(0, "Events", "<none>");
        return;
    }
    let mut events: Vec<&Value> = events.iter().collect();
    let time = |e: &Value| {
        let last = str_at(e, "/lastTimestamp");
        if last.is_empty() {
            let event_time = str_at(e, "/eventTime");
            if event_time.is_empty() {
                str_at(e, "/metadata/creationTimestamp").to_owned()
            } else {
                event_time.to_owned()
            }
        } else {
            last.to_owned()
        }
    };
    events.sort_by_key(|e| time(e).parse::<Timestamp>().ok());
    d.line(0, "Events:");
    d.line(1, "Type\tReason\tAge\tFrom\tMessage");
    d.line(1, "----\t------\t----\t----\t-------");
    for event in events {
        let last = nanos_since(&time(event), now);
        let first = nanos_since(str_at(event, "/firstTimestamp"), now);
        let count = event.get("count").and_then(Value::as_i64).unwrap_or(1);
        let age = match (last, first) {
            (Some(last), Some(first)) if count > 1 => {
                format!(
                    "{} (x{count} over {})",
                    human_duration(last),
                    human_duration(first)
                )
            }
            (Some(last), _) => human_duration(last),
            _ => "<unknown>".to_owned(),
        };
        let mut from = str_at(event, "/source/component").to_owned();
        if from.is_empty() {
            from = str_at(event, "/reportingComponent").to_owned();
        }
        let host = str_at(event, "/source/host");
        if !host.is_empty() {
            from = format!("{from}, {host}");
        }
        let message = str_at(event, "/message").trim().to_owned();
        d.line(
            1,
            format!(
                "{}\t{}\t{age}\t{from}\t{message}",
                str_at(event, "/type"),
                str_at(event, "/reason")
            ),
        );
    }
}

fn describe_metadata(d: &mut Description, object: &Value) {
    d.field(0, "Name", str_at(object, "/metadata/name"));
    if !str_at(object, "/metadata/namespace").is_empty() {
        d.field(0, "Namespace", str_at(object, "/metadata/namespace"));
    }
    d.map_field(0, "Labels", object.pointer("/metadata/labels"), "=");
    d.annotations(0, object.pointer("/metadata/annotations"));
}

/// `describe secret`: values are never printed, only their sizes; upstream shows no events.
pub fn describe_secret(secret: &Value) -> String {
    let mut d = Description::default();
    describe_metadata(&mut d, secret);
    d.line(0, "");
    d.field(0, "Type", str_at(secret, "/type"));
    d.line(0, "");
    d.line(0, "Data");
    d.line(0, "====");
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let size = value.as_str().map(base64_decoded_len).unwrap_or_default();
            d.line(0, format!("{key}:\t{size} bytes"));
        }
    }
    d.render()
}

/// The decoded size of base64 text, without decoding it.
fn base64_decoded_len(text: &str) -> usize {
    let text = text.trim();
    let padding = text.chars().rev().take_while(|&c| c == '=').count();
    (text.len() / 4 * 3).saturating_sub(padding)
}

fn port_string(port: &Value) -> String {
    let number = port.get("port").and_then(Value::as_i64).unwrap_or_default();
    let protocol = port
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("TCP");
    format!("{number}/{protocol}")
}

/// `describe service`.
pub fn describe_service(
    service: &Value,
    endpoints: Option<&Value>,
    events: &[Value],
    now: Timestamp,
) -> String {
    let mut d = Description::default();
    describe_metadata(&mut d, service);
    d.field(
        0,
        "Selector",
        selector_text(service.pointer("/spec/selector")),
    );
    let service_type = str_at(service, "/spec/type");
    d.field(0, "Type", service_type);
    let policy = str_at(service, "/spec/ipFamilyPolicy");
    if !policy.is_empty() {
        d.field(0, "IP Family Policy", policy);
    }
    let families: Vec<&str> = array_at(service, "/spec/ipFamilies")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !families.is_empty() {
        d.field(0, "IP Families", families.join(","));
    }
    let cluster_ip = str_at(service, "/spec/clusterIP");
    d.field(0, "IP", or_none(cluster_ip));
    let ips: Vec<&str> = array_at(service, "/spec/clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !ips.is_empty() {
        d.field(0, "IPs", ips.join(","));
    }
    for ip in array_at(service, "/spec/externalIPs") {
        d.field(0, "External IPs", ip.as_str().unwrap_or_default());
    }
    for port in array_at(service, "/spec/ports") {
        let name = port.get("name").and_then(Value::as_str).unwrap_or_default();
        let name = if name.is_empty() { "<unset>" } else { name };
        d.field(0, "Port", format!("{name}  {}", port_string(port)));
        let protocol = port
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("TCP");
        let target = match port.get("targetPort") {
            Some(Value::Number(n)) => format!("{n}/{protocol}"),
            Some(Value::String(s)) => format!("{s}/{protocol}"),
            _ => format!(
                "{}/{protocol}",
                port.get("port").and_then(Value::as_i64).unwrap_or_default()
            ),
        };
        d.field(0, "TargetPort", target);
        if let Some(node_port) = port.get("nodePort").and_then(Value::as_i64) {
            d.field(0, "NodePort", format!("{name}  {node_port}/{protocol}"));
        }
        let port_name = port.get("name").and_then(Value::as_str).unwrap_or_default();
        d.field(0, "Endpoints", endpoints_for_port(endpoints, port_name));
    }
    d.field(
        0,
        "Session Affinity",
        str_at(service, "/spec/sessionAffinity"),
    );
    let external_policy = str_at(service, "/spec/externalTrafficPolicy");
    if !external_policy.is_empty() {
        d.field(0, "External Traffic Policy", external_policy);
    }
    let internal_policy = str_at(service, "/spec/internalTrafficPolicy");
    if !internal_policy.is_empty() {
        d.field(0, "Internal Traffic Policy", internal_policy);
    }
    describe_events(&mut d, events, now);
    d.render()
}

/// `ip:port,...` of the Endpoints' ready addresses for one service port, as upstream's
/// `formatEndpoints` (at most three, then `+ N more...`).
fn endpoints_for_port(endpoints: Option<&Value>, port_name: &str) -> String {
    let Some(endpoints) = endpoints else {
        return "<none>".to_owned();
    };
    let mut list = Vec::new();
    for subset in array_at(endpoints, "/subsets") {
        for port in array_at(subset, "/ports") {
            if port.get("name").and_then(Value::as_str).unwrap_or_default() != port_name {
                continue;
            }
            let number = port.get("port").and_then(Value::as_i64).unwrap_or_default();
            for address in array_at(subset, "/addresses") {
                list.push(format!("{}:{number}", str_at(address, "/ip")));
            }
        }
    }
    if list.is_empty() {
        return "<none>".to_owned();
    }
    let shown: Vec<String> = list.iter().take(3).cloned().collect();
    if list.len() > 3 {
        format!("{} + {} more...", shown.join(","), list.len() - 3)
    } else {
        shown.join(",")
    }
}

fn describe_container(
    d: &mut Description,
    container: &Value,
    status: Option<&Value>,
    level: usize,
    name_indent: &str,
) {
    d.line(
        level,
        format!("{name_indent}{}:", str_at(container, "/name")),
    );
    let inner = level + 1;
    if let Some(status) = status {
        d.field(inner, "Container ID", str_at(status, "/containerID"));
    }
    d.field(inner, "Image", str_at(container, "/image"));
    if let Some(status) = status {
        d.field(inner, "Image ID", str_at(status, "/imageID"));
    }
    let ports = array_at(container, "/ports");
    if ports.is_empty() {
        d.field(inner, "Port", "<none>");
        d.field(inner, "Host Port", "<none>");
    } else {
        let list = |key: &str| {
            ports
                .iter()
                .map(|p| {
                    format!(
                        "{}/{}",
                        p.get(key).and_then(Value::as_i64).unwrap_or_default(),
                        p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        d.field(inner, "Port", list("containerPort"));
        d.field(inner, "Host Port", list("hostPort"));
    }
    for (label, key) in [("Command", "/command"), ("Args", "/args")] {
        let values = array_at(container, key);
        if !values.is_empty() {
            d.line(inner, format!("{label}:"));
            for value in values {
                d.line(inner + 1, value.as_str().unwrap_or_default());
            }
        }
    }
    if let Some(status) = status {
        describe_container_state(d, inner, "State", status.get("state"));
        if status
            .pointer("/lastState")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            describe_container_state(d, inner, "Last State", status.get("lastState"));
        }
        let ready = status
            .get("ready")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        d.field(inner, "Ready", if ready { "True" } else { "False" });
        d.field(
            inner,
            "Restart Count",
            status
                .get("restartCount")
                .and_then(Value::as_i64)
                .unwrap_or_default()
                .to_string(),
        );
    }
    for (label, key) in [
        ("Limits", "/resources/limits"),
        ("Requests", "/resources/requests"),
    ] {
        if let Some(map) = container.pointer(key).and_then(Value::as_object) {
            if !map.is_empty() {
                d.line(inner, format!("{label}:"));
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                for (resource, quantity) in sorted {
                    d.field(inner + 1, resource, quantity.as_str().unwrap_or_default());
                }
            }
        }
    }
    let env = array_at(container, "/env");
    if env.is_empty() {
        d.field(inner, "Environment", "<none>");
    } else {
        d.line(inner, "Environment:");
        for variable in env {
            let name = str_at(variable, "/name");
            match variable.get("value").and_then(Value::as_str) {
                Some(value) => d.field(inner + 1, name, value),
                None => d.field(inner + 1, name, "<set to the key of a reference>"),
            }
        }
    }
    let mounts = array_at(container, "/volumeMounts");
    if mounts.is_empty() {
        d.field(inner, "Mounts", "<none>");
    } else {
        d.line(inner, "Mounts:");
        for mount in mounts {
            let mode = if mount
                .get("readOnly")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                "ro"
            } else {
                "rw"
            };
            d.line(
                inner + 1,
                format!(
                    "{} from {} ({mode})",
                    str_at(mount, "/mountPath"),
                    str_at(mount, "/name")
                ),
            );
        }
    }
}

fn describe_container_state(d: &mut Description, level: usize, label: &str, state: Option<&Value>) {
    let state = state.and_then(Value::as_object);
    if let Some(running) = state.and_then(|s| s.get("running")) {
        d.field(level, label, "Running");
        d.field(
            level + 1,
            "Started",
            rfc1123z(str_at(running, "/startedAt")),
        );
    } else if let Some(waiting) = state.and_then(|s| s.get("waiting")) {
        d.field(level, label, "Waiting");
        let reason = str_at(waiting, "/reason");
        if !reason.is_empty() {
            d.field(level + 1, "Reason", reason);
        }
    } else if let Some(terminated) = state.and_then(|s| s.get("terminated")) {
        d.field(level, label, "Terminated");
        let reason = str_at(terminated, "/reason");
        if !reason.is_empty() {
            d.field(level + 1, "Reason", reason);
        }
        d.field(
            level + 1,
            "Exit Code",
            terminated
                .get("exitCode")
                .and_then(Value::as_i64)
                .unwrap_or_default()
                .to_string(),
        );
        d.field(
            level + 1,
            "Started",
            rfc1123z(str_at(terminated, "/startedAt")),
        );
        d.field(
            level + 1,
            "Finished",
            rfc1123z(str_at(terminated, "/finishedAt")),
        );
    } else {
        d.field(level, label, "Waiting");
    }
}

fn controller_of(object: &Value) -> Option<String> {
    array_at(object, "/metadata/ownerReferences")
        .iter()
        .find(|r| {
            r.get("controller")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .map(|r| format!("{}/{}", str_at(r, "/kind"), str_at(r, "/name")))
}

/// `describe pod`.
pub fn describe_pod(pod: &Value, events: &[Value], now: Timestamp) -> String {
    let mut d = Description::default();
    d.field(0, "Name", str_at(pod, "/metadata/name"));
    d.field(0, "Namespace", str_at(pod, "/metadata/namespace"));
    if let Some(priority) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        d.field(0, "Priority", priority.to_string());
    }
    let service_account = str_at(pod, "/spec/serviceAccountName");
    d.field(0, "Service Account", service_account);
    let node = str_at(pod, "/spec/nodeName");
    let host_ip = str_at(pod, "/status/hostIP");
    d.field(
        0,
        "Node",
        if node.is_empty() {
            "<none>".to_owned()
        } else {
            format!("{node}/{host_ip}")
        },
    );
    let start = str_at(pod, "/status/startTime");
    if !start.is_empty() {
        d.field(0, "Start Time", rfc1123z(start));
    }
    d.map_field(0, "Labels", pod.pointer("/metadata/labels"), "=");
    d.annotations(0, pod.pointer("/metadata/annotations"));
    let phase = str_at(pod, "/status/phase");
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        d.field(0, "Status", "Terminating");
    } else {
        d.field(0, "Status", phase);
    }
    for (label, key) in [("Reason", "/status/reason"), ("Message", "/status/message")] {
        let value = str_at(pod, key);
        if !value.is_empty() {
            d.field(0, label, value);
        }
    }
    d.field(0, "IP", str_at(pod, "/status/podIP"));
    let ips = array_at(pod, "/status/podIPs");
    if ips.is_empty() {
        d.field(0, "IPs", "<none>");
    } else {
        d.line(0, "IPs:");
        for ip in ips {
            d.field(1, "IP", str_at(ip, "/ip"));
        }
    }
    if let Some(controller) = controller_of(pod) {
        d.field(0, "Controlled By", controller);
    }
    let statuses = |key: &str| -> BTreeMap<String, Value> {
        array_at(pod, key)
            .iter()
            .map(|s| (str_at(s, "/name").to_owned(), s.clone()))
            .collect()
    };
    let init_statuses = statuses("/status/initContainerStatuses");
    let init = array_at(pod, "/spec/initContainers");
    if !init.is_empty() {
        d.line(0, "Init Containers:");
        for container in init {
            describe_container(
                &mut d,
                container,
                init_statuses.get(str_at(container, "/name")),
                1,
                "",
            );
        }
    }
    let container_statuses = statuses("/status/containerStatuses");
    d.line(0, "Containers:");
    for container in array_at(pod, "/spec/containers") {
        describe_container(
            &mut d,
            container,
            container_statuses.get(str_at(container, "/name")),
            1,
            "",
        );
    }
    let conditions = array_at(pod, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus");
        for condition in conditions {
            d.line(
                1,
                format!(
                    "{} \t{}",
                    str_at(condition, "/type"),
                    str_at(condition, "/status")
                ),
            );
        }
    }
    describe_volumes(&mut d, pod.pointer("/spec/volumes"), 0);
    let qos = str_at(pod, "/status/qosClass");
    if !qos.is_empty() {
        d.field(0, "QoS Class", qos);
    }
    d.map_field(0, "Node-Selectors", pod.pointer("/spec/nodeSelector"), "=");
    describe_tolerations(&mut d, pod.pointer("/spec/tolerations"), 0);
    describe_events(&mut d, events, now);
    d.render()
}

fn describe_volumes(d: &mut Description, volumes: Option<&Value>, level: usize) {
    let volumes = volumes
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if volumes.is_empty() {
        d.field(level, "Volumes", "<none>");
        return;
    }
    d.line(level, "Volumes:");
    for volume in volumes {
        d.line(level + 1, format!("{}:", str_at(volume, "/name")));
        let source = volume
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() != "name"));
        match source {
            Some((kind, body)) => {
                let described = match kind.as_str() {
                    "emptyDir" => "EmptyDir (a temporary directory that shares a pod's lifetime)",
                    "hostPath" => "HostPath (bare host directory volume)",
                    "secret" => "Secret (a volume populated by a Secret)",
                    "configMap" => "ConfigMap (a volume populated by a ConfigMap)",
                    "projected" => {
                        "Projected (a volume that contains injected data from multiple sources)"
                    }
                    _ => kind.as_str(),
                };
                d.field(level + 2, "Type", described);
                if let Some(map) = body.as_object() {
                    let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                    for (key, value) in sorted {
                        if let Some(text) = value.as_str() {
                            let mut label = key.clone();
                            if let Some(first) = label.get_mut(0..1) {
                                first.make_ascii_uppercase();
                            }
                            d.field(level + 2, &label, text);
                        }
                    }
                }
            }
            None => d.field(level + 2, "Type", "<unknown>"),
        }
    }
}

fn describe_tolerations(d: &mut Description, tolerations: Option<&Value>, level: usize) {
    let tolerations = tolerations
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if tolerations.is_empty() {
        d.field(level, "Tolerations", "<none>");
        return;
    }
    for (i, toleration) in tolerations.iter().enumerate() {
        let mut text = str_at(toleration, "/key").to_owned();
        let value = str_at(toleration, "/value");
        if !value.is_empty() {
            text.push('=');
            text.push_str(value);
        }
        let effect = str_at(toleration, "/effect");
        if !effect.is_empty() {
            text.push(':');
            text.push_str(effect);
        } else if text.is_empty() {
            text = "op=Exists".to_owned();
        }
        if let Some(seconds) = toleration.get("tolerationSeconds").and_then(Value::as_i64) {
            text.push_str(&format!(" for {seconds}s"));
        }
        if i == 0 {
            d.field(level, "Tolerations", text);
        } else {
            d.line(level, format!("\t{text}"));
        }
    }
}

/// `describe deployment`.
pub fn describe_deployment(
    deployment: &Value,
    replica_sets: &[Value],
    events: &[Value],
    now: Timestamp,
) -> String {
    let mut d = Description::default();
    d.field(0, "Name", str_at(deployment, "/metadata/name"));
    d.field(0, "Namespace", str_at(deployment, "/metadata/namespace"));
    d.field(
        0,
        "CreationTimestamp",
        rfc1123z(str_at(deployment, "/metadata/creationTimestamp")),
    );
    d.map_field(0, "Labels", deployment.pointer("/metadata/labels"), "=");
    d.annotations(0, deployment.pointer("/metadata/annotations"));
    d.field(
        0,
        "Selector",
        selector_text(deployment.pointer("/spec/selector/matchLabels")),
    );
    let number = |pointer: &str| {
        deployment
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or_default()
    };
    d.field(
        0,
        "Replicas",
        format!(
            "{} desired | {} updated | {} total | {} available | {} unavailable",
            deployment
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1),
            number("/status/updatedReplicas"),
            number("/status/replicas"),
            number("/status/availableReplicas"),
            number("/status/unavailableReplicas"),
        ),
    );
    let strategy = str_at(deployment, "/spec/strategy/type");
    d.field(0, "StrategyType", strategy);
    d.field(
        0,
        "MinReadySeconds",
        number("/spec/minReadySeconds").to_string(),
    );
    if strategy == "RollingUpdate" {
        let value =
            |key: &str| match deployment.pointer(&format!("/spec/strategy/rollingUpdate/{key}")) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => "25%".to_owned(),
            };
        d.field(
            0,
            "RollingUpdateStrategy",
            format!(
                "{} max unavailable, {} max surge",
                value("maxUnavailable"),
                value("maxSurge")
            ),
        );
    }
    d.line(0, "Pod Template:");
    let template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_default();
    d.map_field(1, "Labels", template.pointer("/metadata/labels"), "=");
    if template
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
    {
        d.annotations(1, template.pointer("/metadata/annotations"));
    }
    let service_account = str_at(&template, "/spec/serviceAccountName");
    if !service_account.is_empty() {
        d.field(1, "Service Account", service_account);
    }
    d.line(1, "Containers:");
    for container in array_at(&template, "/spec/containers") {
        // Upstream indents template container names by one extra space.
        describe_container(&mut d, container, None, 1, " ");
    }
    describe_volumes(&mut d, template.pointer("/spec/volumes"), 1);
    d.map_field(
        1,
        "Node-Selectors",
        template.pointer("/spec/nodeSelector"),
        "=",
    );
    describe_tolerations(&mut d, template.pointer("/spec/tolerations"), 1);
    let conditions = array_at(deployment, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(1, "Type\tStatus\tReason");
        d.line(1, "----\t------\t------");
        for condition in conditions {
            d.line(
                1,
                format!(
                    "{} \t{}\t{}",
                    str_at(condition, "/type"),
                    str_at(condition, "/status"),
                    str_at(condition, "/reason")
                ),
            );
        }
    }
    let revision = |rs: &Value| {
        str_at(
            rs,
            "/metadata/annotations/deployment.kubernetes.io~1revision",
        )
        .parse::<i64>()
        .unwrap_or(0)
    };
    let mut owned: Vec<&Value> = replica_sets.iter().collect();
    owned.sort_by_key(|rs| revision(rs));
    if let Some(newest) = owned.last() {
        let old: Vec<&&Value> = owned[..owned.len() - 1]
            .iter()
            .filter(|rs| {
                rs.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    > 0
            })
            .collect();
        let format_rs = |rs: &Value| {
            format!(
                "{} ({}/{} replicas created)",
                str_at(rs, "/metadata/name"),
                rs.pointer("/status/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                rs.pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            )
        };
        d.field(
            0,
            "OldReplicaSets",
            if old.is_empty() {
                "<none>".to_owned()
            } else {
                old.iter()
                    .map(|rs| format_rs(rs))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        d.field(0, "NewReplicaSet", format_rs(newest));
    }
    describe_events(&mut d, events, now);
    d.render()
}

/// `describe node`.
pub fn describe_node(
    node: &Value,
    lease: Option<&Value>,
    pods: &[Value],
    events: &[Value],
    now: Timestamp,
) -> String {
    let mut d = Description::default();
    d.field(0, "Name", str_at(node, "/metadata/name"));
    let roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .keys()
                .filter_map(|k| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    d.field(
        0,
        "Roles",
        if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles.join(",")
        },
    );
    d.map_field(0, "Labels", node.pointer("/metadata/labels"), "=");
    d.annotations(0, node.pointer("/metadata/annotations"));
    d.field(
        0,
        "CreationTimestamp",
        rfc1123z(str_at(node, "/metadata/creationTimestamp")),
    );
    let taints = array_at(node, "/spec/taints");
    if taints.is_empty() {
        d.field(0, "Taints", "<none>");
    } else {
        for (i, taint) in taints.iter().enumerate() {
            let value = str_at(taint, "/value");
            let text = if value.is_empty() {
                format!("{}:{}", str_at(taint, "/key"), str_at(taint, "/effect"))
            } else {
                format!(
                    "{}={value}:{}",
                    str_at(taint, "/key"),
                    str_at(taint, "/effect")
                )
            };
            if i == 0 {
                d.field(0, "Taints", text);
            } else {
                d.line(0, format!("\t{text}"));
            }
        }
    }
    let unschedulable = node
        .pointer("/spec/unschedulable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    d.field(0, "Unschedulable", unschedulable.to_string());
    d.line(0, "Lease:");
    let lease_field = |pointer: &str, time: bool| {
        let value = lease.map(|l| str_at(l, pointer)).unwrap_or_default();
        match value {
            "" => "<unset>".to_owned(),
            value if time => rfc1123z(value),
            value => value.to_owned(),
        }
    };
    d.field(
        1,
        "HolderIdentity",
        lease_field("/spec/holderIdentity", false),
    );
    d.field(1, "AcquireTime", lease_field("/spec/acquireTime", true));
    d.field(1, "RenewTime", lease_field("/spec/renewTime", true));
    let conditions = array_at(node, "/status/conditions");
    if !conditions.is_empty() {
        d.line(0, "Conditions:");
        d.line(
            1,
            "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage",
        );
        d.line(
            1,
            "----\t------\t-----------------\t------------------\t------\t-------",
        );
        for condition in conditions {
            d.line(
                1,
                format!(
                    "{} \t{} \t{} \t{} \t{} \t{}",
                    str_at(condition, "/type"),
                    str_at(condition, "/status"),
                    rfc1123z(str_at(condition, "/lastHeartbeatTime")),
                    rfc1123z(str_at(condition, "/lastTransitionTime")),
                    str_at(condition, "/reason"),
                    str_at(condition, "/message")
                ),
            );
        }
    }
    d.line(0, "Addresses:");
    for address in array_at(node, "/status/addresses") {
        d.field(1, str_at(address, "/type"), str_at(address, "/address"));
    }
    for (label, key) in [
        ("Capacity", "/status/capacity"),
        ("Allocatable", "/status/allocatable"),
    ] {
        let list = resource_list(node.pointer(key));
        if !list.is_empty() {
            d.line(0, format!("{label}:"));
            for (resource, quantity) in &list {
                d.field(1, resource, quantity.to_string());
            }
        }
    }
    d.line(0, "System Info:");
    for (label, key) in [
        ("Machine ID", "machineID"),
        ("System UUID", "systemUUID"),
        ("Boot ID", "bootID"),
        ("Kernel Version", "kernelVersion"),
        ("OS Image", "osImage"),
        ("Operating System", "operatingSystem"),
        ("Architecture", "architecture"),
        ("Container Runtime Version", "containerRuntimeVersion"),
        ("Kubelet Version", "kubeletVersion"),
        ("Kube-Proxy Version", "kubeProxyVersion"),
    ] {
        d.field(1, label, str_at(node, &format!("/status/nodeInfo/{key}")));
    }
    let pod_cidr = str_at(node, "/spec/podCIDR");
    if !pod_cidr.is_empty() {
        d.field(0, "PodCIDR", pod_cidr);
    }
    let cidrs: Vec<&str> = array_at(node, "/spec/podCIDRs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !cidrs.is_empty() {
        d.field(0, "PodCIDRs", cidrs.join(","));
    }
    let provider = str_at(node, "/spec/providerID");
    if !provider.is_empty() {
        d.field(0, "ProviderID", provider);
    }
    let running: Vec<&Value> = pods
        .iter()
        .filter(|p| !matches!(str_at(p, "/status/phase"), "Succeeded" | "Failed"))
        .collect();
    describe_node_resources(&mut d, node, &running, now);
    describe_events(&mut d, events, now);
    d.render()
}

/// A `ResourceList` (name -> quantity) sorted by name; values that do not parse are left out.
fn resource_list(list: Option<&Value>) -> BTreeMap<String, Quantity> {
    list.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(name, value)| {
                    Some((name.clone(), Quantity::parse(value.as_str()?).ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Upstream's `addResourceList`: the first quantity of a name is copied, later ones added.
fn add_resources(total: &mut BTreeMap<String, Quantity>, more: &BTreeMap<String, Quantity>) {
    for (name, quantity) in more {
        match total.get_mut(name) {
            Some(sum) => *sum += quantity,
            None => {
                total.insert(name.clone(), quantity.clone());
            }
        }
    }
}

/// Upstream's `maxResourceList`: each name keeps the larger quantity.
fn max_resources(total: &mut BTreeMap<String, Quantity>, other: &BTreeMap<String, Quantity>) {
    for (name, quantity) in other {
        if total.get(name).is_none_or(|current| quantity > current) {
            total.insert(name.clone(), quantity.clone());
        }
    }
}

/// A pod's effective requests or limits (`kind` is `requests` or `limits`), as kubectl's
/// `PodRequestsAndLimits` computes them: the containers' sum (requests at least what the
/// kubelet allocated), restartable init containers added, the largest other init container
/// when that is more, and the pod overhead (for limits, only on resources already limited).
pub fn pod_resources(pod: &Value, kind: &str) -> BTreeMap<String, Quantity> {
    let of = |container: &Value| resource_list(container.pointer(&format!("/resources/{kind}")));
    let mut total = BTreeMap::new();
    for container in array_at(pod, "/spec/containers") {
        let mut wanted = of(container);
        if kind == "requests" {
            let allocated = array_at(pod, "/status/containerStatuses")
                .iter()
                .find(|s| s.get("name") == container.get("name"))
                .map(|s| resource_list(s.pointer("/allocatedResources")))
                .unwrap_or_default();
            max_resources(&mut wanted, &allocated);
        }
        add_resources(&mut total, &wanted);
    }
    let mut restartable = BTreeMap::new();
    let mut init = BTreeMap::new();
    for container in array_at(pod, "/spec/initContainers") {
        let wanted = of(container);
        let effective = if str_at(container, "/restartPolicy") == "Always" {
            add_resources(&mut total, &wanted);
            add_resources(&mut restartable, &wanted);
            restartable.clone()
        } else {
            let mut effective = BTreeMap::new();
            add_resources(&mut effective, &wanted);
            add_resources(&mut effective, &restartable);
            effective
        };
        max_resources(&mut init, &effective);
    }
    max_resources(&mut total, &init);
    let overhead = resource_list(pod.pointer("/spec/overhead"));
    if kind == "requests" {
        add_resources(&mut total, &overhead);
    } else {
        for (name, quantity) in &overhead {
            if let Some(limit) = total.get_mut(name) {
                *limit += quantity;
            }
        }
    }
    total
}

/// `part` as a whole percentage of `whole` (upstream's `int64(float64(a) / float64(b) * 100)`),
/// 0 when there is no whole.
fn percent(part: i64, whole: i64) -> i64 {
    if whole == 0 {
        0
    } else {
        (part as f64 / whole as f64 * 100.0) as i64
    }
}

/// Upstream's `describeNodeResource`: the node's non-terminated pods with their CPU and
/// memory against the allocatable, then the totals.
fn describe_node_resources(d: &mut Description, node: &Value, pods: &[&Value], now: Timestamp) {
    let mut allocatable = resource_list(node.pointer("/status/allocatable"));
    if allocatable.is_empty() {
        allocatable = resource_list(node.pointer("/status/capacity"));
    }
    let zero = Quantity::zero();
    let cpu_of = |list: &BTreeMap<String, Quantity>| list.get("cpu").unwrap_or(&zero).milli_value();
    let bytes_of =
        |list: &BTreeMap<String, Quantity>, name: &str| list.get(name).unwrap_or(&zero).value();
    let cpu_total = cpu_of(&allocatable);
    let memory_total = bytes_of(&allocatable, "memory");
    d.field(
        0,
        "Non-terminated Pods",
        format!("({} in total)", pods.len()),
    );
    d.line(
        1,
        "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge",
    );
    d.line(
        1,
        "---------\t----\t\t------------\t----------\t---------------\t-------------\t---",
    );
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    for pod in pods {
        let pod_requests = pod_resources(pod, "requests");
        let pod_limits = pod_resources(pod, "limits");
        let shown = |list: &BTreeMap<String, Quantity>, name: &str| {
            list.get(name).unwrap_or(&zero).to_string()
        };
        let age = nanos_since(str_at(pod, "/metadata/creationTimestamp"), now)
            .map(human_duration)
            .unwrap_or_else(|| "<unknown>".to_owned());
        d.line(
            1,
            format!(
                "{}\t{}\t\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{} ({}%)\t{age}",
                str_at(pod, "/metadata/namespace"),
                str_at(pod, "/metadata/name"),
                shown(&pod_requests, "cpu"),
                percent(cpu_of(&pod_requests), cpu_total),
                shown(&pod_limits, "cpu"),
                percent(cpu_of(&pod_limits), cpu_total),
                shown(&pod_requests, "memory"),
                percent(bytes_of(&pod_requests, "memory"), memory_total),
                shown(&pod_limits, "memory"),
                percent(bytes_of(&pod_limits, "memory"), memory_total),
            ),
        );
        add_resources(&mut requests, &pod_requests);
        add_resources(&mut limits, &pod_limits);
    }
    d.line(0, "Allocated resources:");
    d.line(
        1,
        "(Total limits may be over 100 percent, i.e., overcommitted.)",
    );
    d.line(1, "Resource\tRequests\tLimits");
    d.line(1, "--------\t--------\t------");
    let total = |list: &BTreeMap<String, Quantity>, name: &str| {
        let quantity = list.get(name).unwrap_or(&zero);
        let whole = if name == "cpu" {
            percent(quantity.milli_value(), cpu_total)
        } else {
            percent(quantity.value(), bytes_of(&allocatable, name))
        };
        format!("{quantity} ({whole}%)")
    };
    for name in ["cpu", "memory", "ephemeral-storage"] {
        d.line(
            1,
            format!(
                "{name}\t{}\t{}",
                total(&requests, name),
                total(&limits, name)
            ),
        );
    }
    let huge_pages: Vec<&String> = allocatable
        .keys()
        .filter(|name| name.starts_with("hugepages-"))
        .collect();
    for name in huge_pages {
        d.line(
            1,
            format!(
                "{name}\t{}\t{}",
                total(&requests, name),
                total(&limits, name)
            ),
        );
    }
    // Everything else but the pod count is an extended resource: amounts only.
    let extended: Vec<&String> = allocatable
        .keys()
        .filter(|name| {
            !["cpu", "memory", "ephemeral-storage", "pods"].contains(&name.as_str())
                && !name.starts_with("hugepages-")
        })
        .collect();
    for name in extended {
        d.line(
            1,
            format!(
                "{name}\t{}\t{}",
                requests.get(name).unwrap_or(&zero),
                limits.get(name).unwrap_or(&zero)
            ),
        );
    }
}

/// Metadata and events for types without their own describer.
pub fn describe_generic(object: &Value, events: &[Value], now: Timestamp) -> String {
    let mut d = Description::default();
    describe_metadata(&mut d, object);
    d.field(0, "API Version", str_at(object, "/apiVersion"));
    d.field(0, "Kind", str_at(object, "/kind"));
    describe_events(&mut d, events, now);
    d.render()
}

/// The events about one object, from the core events API.
async fn events_for(
    session: &Session,
    catalog: &Catalog,
    object: &Value,
) -> Result<Vec<Value>, CliError> {
    let events_type = catalog.resolve("events")?;
    let namespace = str_at(object, "/metadata/namespace");
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    let mut fields = vec![
        format!("involvedObject.name={}", str_at(object, "/metadata/name")),
        format!("involvedObject.kind={}", str_at(object, "/kind")),
    ];
    if !str_at(object, "/metadata/namespace").is_empty() {
        fields.push(format!("involvedObject.namespace={namespace}"));
    }
    let uid = str_at(object, "/metadata/uid");
    if !uid.is_empty() {
        fields.push(format!("involvedObject.uid={uid}"));
    }
    let selectors = Selectors {
        labels: String::new(),
        fields: fields.join(","),
    };
    // Events about cluster-scoped objects live in `default`.
    let path = resource_path(events_type, Some(namespace), None);
    list_items(&session.client, &path, &selectors).await
}

async fn describe_one(
    session: &Session,
    catalog: &Catalog,
    object: &Value,
    show_events: bool,
) -> Result<String, CliError> {
    let now = Timestamp::now();
    let kind = str_at(object, "/kind");
    // Secrets are described without events: not worth a request.
    let events = if show_events && kind != "Secret" {
        events_for(session, catalog, object).await?
    } else {
        Vec::new()
    };
    let namespace = str_at(object, "/metadata/namespace").to_owned();
    let name = str_at(object, "/metadata/name").to_owned();
    Ok(match kind {
        "Pod" => describe_pod(object, &events, now),
        "Secret" => describe_secret(object),
        "Service" => {
            let endpoints_type = catalog.resolve("endpoints")?;
            let path = resource_path(endpoints_type, Some(&namespace), Some(&name));
            let endpoints = get_json_opt(&session.client, &path).await?;
            describe_service(object, endpoints.as_ref(), &events, now)
        }
        "Deployment" => {
            let rs_type = catalog.resolve("replicasets.apps")?;
            let path = resource_path(rs_type, Some(&namespace), None);
            let uid = str_at(object, "/metadata/uid");
            let owned: Vec<Value> = list_items(&session.client, &path, &Selectors::default())
                .await?
                .into_iter()
                .filter(|rs| {
                    array_at(rs, "/metadata/ownerReferences")
                        .iter()
                        .any(|r| str_at(r, "/uid") == uid)
                })
                .collect();
            describe_deployment(object, &owned, &events, now)
        }
        "Node" => {
            let pods_type = catalog.resolve("pods")?;
            let path = resource_path(pods_type, None, None);
            let selectors = Selectors {
                labels: String::new(),
                fields: format!("spec.nodeName={name}"),
            };
            let pods = list_items(&session.client, &path, &selectors).await?;
            let leases_type = catalog.resolve("leases.coordination.k8s.io")?;
            let path = resource_path(leases_type, Some("kube-node-lease"), Some(&name));
            let lease = get_json_opt(&session.client, &path).await?;
            describe_node(object, lease.as_ref(), &pods, &events, now)
        }
        _ => describe_generic(object, &events, now),
    })
}

pub async fn run(flags: &GlobalFlags, args: DescribeArgs) -> Result<(), CliError> {
    if args.args.is_empty() {
        return Err(CliError::usage(
            "You must specify the type of resource to describe. Use \"kubectl api-resources\" for a complete list of supported resources.",
        ));
    }
    let session = Session::connect(flags).await?;
    let catalog = Catalog::discover(&session.client).await?;
    let targets = resolve_targets(&catalog, &args.args)?;
    let namespace = (!args.all_namespaces).then(|| session.namespace.clone());
    let show_events = args.show_events.unwrap_or(true);
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for target in &targets {
        let ns = namespace.as_deref();
        match &target.name {
            Some(name) => {
                let path = resource_path(&target.resource, ns, Some(name));
                match get_json(&session.client, &path, "application/json").await {
                    Ok(object) => objects.push(object),
                    // Upstream falls back to objects whose names start with the argument.
                    Err(e) if e.is_not_found() => {
                        let path = resource_path(&target.resource, ns, None);
                        let matching: Vec<Value> =
                            list_items(&session.client, &path, &Selectors::default())
                                .await?
                                .into_iter()
                                .filter(|o| str_at(o, "/metadata/name").starts_with(name.as_str()))
                                .collect();
                        if matching.is_empty() {
                            errors.push(e);
                        }
                        objects.extend(matching);
                    }
                    Err(e) => errors.push(e),
                }
            }
            None => {
                let path = resource_path(&target.resource, ns, None);
                let selectors = Selectors {
                    labels: args.selector.clone().unwrap_or_default(),
                    fields: String::new(),
                };
                objects.extend(list_items(&session.client, &path, &selectors).await?);
            }
        }
    }
    let mut descriptions = Vec::new();
    for object in &objects {
        descriptions.push(describe_one(&session, &catalog, object, show_events).await?);
    }
    // Upstream separates descriptions with one blank line.
    print!("{}", descriptions.join("\n\n"));
    if objects.is_empty() && errors.is_empty() {
        let all_namespaced = targets.iter().all(|t| t.resource.namespaced) && !args.all_namespaces;
        if all_namespaced {
            eprintln!("No resources found in {} namespace.", session.namespace);
        } else {
            eprintln!("No resources found");
        }
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(CliError::Many(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-11-23T19:00:00Z".parse().unwrap()
    }

    #[test]
    fn pod_resources_add_containers_and_take_the_largest_init() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "50m"}}}
            ],
            "initContainers": [
                {"name": "big", "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}},
                {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"memory": "8Mi"}}}
            ],
            "overhead": {"cpu": "10m", "memory": "1Mi"}
        }});
        let shown = |list: BTreeMap<String, Quantity>| -> Vec<(String, String)> {
            list.into_iter().map(|(k, v)| (k, v.to_string())).collect()
        };
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            shown(pod_resources(&pod, "requests")),
            vec![pair("cpu", "1010m"), pair("memory", "41Mi")]
        );
        assert_eq!(
            shown(pod_resources(&pod, "limits")),
            vec![pair("cpu", "210m")]
        );
        assert_eq!(percent(150, 2000), 7);
        assert_eq!(percent(1, 0), 0);
    }

    #[test]
    fn nodes_show_lease_system_info_and_allocated_resources() {
        let node = json!({"kind": "Node", "metadata": {"name": "n1", "creationTimestamp": "2026-11-23T18:00:00Z"},
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            "status": {"capacity": {"cpu": "2", "memory": "2Gi", "pods": "110"}, "allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "nodeInfo": {"machineID": "m", "kernelVersion": "6.1", "kubeletVersion": "v1.33.0"}}});
        let lease =
            json!({"spec": {"holderIdentity": "n1", "renewTime": "2026-11-23T18:59:50.123456Z"}});
        let pod = json!({"metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2026-11-23T18:59:00Z"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}}}]},
            "status": {"phase": "Running"}});
        let done = json!({"metadata": {"name": "q", "namespace": "default"}, "spec": {"containers": []}, "status": {"phase": "Succeeded"}});
        let text = describe_node(&node, Some(&lease), &[pod, done], &[], now());
        let expected = "\
Lease:
  HolderIdentity:  n1
  AcquireTime:     <unset>
  RenewTime:       Mon, 23 Nov 2026 18:59:50 +0000
Addresses:
  InternalIP:  10.0.0.1
Capacity:
  cpu:     2
  memory:  2Gi
  pods:    110
Allocatable:
  cpu:     2
  memory:  2Gi
  pods:    110
System Info:
  Machine ID:                 m
  System UUID:                
  Boot ID:                    
  Kernel Version:             6.1
  OS Image:                   
  Operating System:           
  Architecture:               
  Container Runtime Version:  
  Kubelet Version:            v1.33.0
  Kube-Proxy Version:         
PodCIDR:                      10.244.0.0/24
PodCIDRs:                     10.244.0.0/24
Non-terminated Pods:          (1 in total)
  Namespace                   Name    CPU Requests  CPU Limits  Memory Requests  Memory Limits  Age
  ---------                   ----    ------------  ----------  ---------------  -------------  ---
  default                     p       100m (5%)     0 (0%)      512Mi (25%)      0 (0%)         60s
Allocated resources:
  (Total limits may be over 100 percent, i.e., overcommitted.)
  Resource           Requests     Limits
  --------           --------     ------
  cpu                100m (5%)    0 (0%)
  memory             512Mi (25%)  0 (0%)
  ephemeral-storage  0 (0%)       0 (0%)
Events:              <none>
";
        let from_lease = &text[text.find("Lease:").unwrap()..];
        assert_eq!(from_lease, expected, "{text}");
    }

    #[test]
    fn secrets_show_sizes_not_values() {
        let secret = json!({"kind": "Secret", "metadata": {"name": "s1", "namespace": "default"}, "type": "Opaque", "data": {"a": "Yg==", "cc": "ZGRkZA=="}});
        assert_eq!(
            describe_secret(&secret),
            "Name:         s1\nNamespace:    default\nLabels:       <none>\nAnnotations:  <none>\n\nType:  Opaque\n\nData\n====\na:   1 bytes\ncc:  4 bytes\n"
        );
    }

    #[test]
    fn services_list_ports_and_endpoints() {
        let service = json!({"kind": "Service", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "type": "ClusterIP", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
                     "clusterIP": "10.103.127.121", "clusterIPs": ["10.103.127.121"], "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                     "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}});
        assert_eq!(
            describe_service(&service, None, &[], now()),
            "Name:                     web\nNamespace:                default\nLabels:                   app=web\nAnnotations:              <none>\nSelector:                 app=web\nType:                     ClusterIP\nIP Family Policy:         SingleStack\nIP Families:              IPv4\nIP:                       10.103.127.121\nIPs:                      10.103.127.121\nPort:                     <unset>  80/TCP\nTargetPort:               80/TCP\nEndpoints:                <none>\nSession Affinity:         None\nInternal Traffic Policy:  Cluster\nEvents:                   <none>\n"
        );
        let endpoints = json!({"subsets": [{"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}], "ports": [{"port": 80}]}]});
        assert_eq!(
            endpoints_for_port(Some(&endpoints), ""),
            "10.244.0.5:80,10.244.0.6:80"
        );
    }

    #[test]
    fn events_print_as_a_table_oldest_first() {
        let events = vec![
            json!({"type": "Normal", "reason": "Started", "message": "Started container c", "source": {"component": "kubelet", "host": "n1"},
                   "lastTimestamp": "2026-11-23T18:59:50Z", "firstTimestamp": "2026-11-23T18:59:50Z", "count": 1}),
            json!({"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned default/p to n1", "source": {"component": "default-scheduler"},
                   "lastTimestamp": "2026-11-23T18:58:00Z", "firstTimestamp": "2026-11-23T18:50:00Z", "count": 3}),
        ];
        let mut d = Description::default();
        describe_events(&mut d, &events, now());
        assert_eq!(
            d.render(),
            "Events:\n  Type    Reason     Age               From               Message\n  ----    ------     ----              ----               -------\n  Normal  Scheduled  2m (x3 over 10m)  default-scheduler  Successfully assigned default/p to n1\n  Normal  Started    10s               kubelet, n1        Started container c\n"
        );
    }

    #[test]
    fn labels_continue_in_the_value_column() {
        let mut d = Description::default();
        d.field(0, "Name", "p");
        d.map_field(0, "Labels", Some(&json!({"b": "2", "a": "1"})), "=");
        assert_eq!(d.render(), "Name:    p\nLabels:  a=1\n         b=2\n");
    }

    #[test]
    fn deployments_describe_their_template() {
        let deployment = json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2026-11-23T18:55:02Z", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "busybox", "image": "busybox", "command": ["sleep", "3600"]}]}}}});
        let text = describe_deployment(&deployment, &[], &[], now());
        let expected_start = "Name:                   web\nNamespace:              default\nCreationTimestamp:      Mon, 23 Nov 2026 18:55:02 +0000\nLabels:                 app=web\nAnnotations:            <none>\nSelector:               app=web\nReplicas:               2 desired | 0 updated | 0 total | 0 available | 0 unavailable\nStrategyType:           RollingUpdate\nMinReadySeconds:        0\nRollingUpdateStrategy:  25% max unavailable, 25% max surge\nPod Template:\n  Labels:  app=web\n  Containers:\n   busybox:\n    Image:      busybox\n    Port:       <none>\n    Host Port:  <none>\n    Command:\n      sleep\n      3600\n    Environment:   <none>\n    Mounts:        <none>\n  Volumes:         <none>\n  Node-Selectors:  <none>\n  Tolerations:     <none>\nEvents:            <none>\n";
        assert_eq!(text, expected_start);
    }
}
