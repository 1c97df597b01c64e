//! Services (`services`): `SetDefaults_Service`, the IP family defaults the
//! service registry applies, `ValidateService` and `ValidateServiceUpdate`.
//! Allocation (ClusterIP, NodePort ranges) happens elsewhere.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json as json_value, Value};
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::is_valid_port_num;

use super::common::{
    default_str, is_valid_cidr, is_valid_ip, items, json, name_is_dns1035_label, parse_ip_sloppy,
    text, validate_dns1123_label, validate_dns1123_subdomain, validate_labels,
    validate_non_special_ip, validate_object_meta, validate_object_meta_update,
    validate_qualified_name, Errors,
};
use super::podspec::validate_protocol;
use super::Kind;

const KUBELET_PORT: i32 = 10250;
const MAX_CLIENT_IP_AFFINITY_SECONDS: i32 = 86400;

fn is_headless(spec: &ServiceSpec) -> bool {
    matches!(items(&spec.cluster_ips), [only] if only == "None")
}

fn externally_accessible(spec: &ServiceSpec) -> bool {
    matches!(text(&spec.type_), "LoadBalancer" | "NodePort")
        || (text(&spec.type_) == "ClusterIP" && !items(&spec.external_ips).is_empty())
}

fn family_of(ip: &str) -> Option<&'static str> {
    parse_ip_sloppy(ip).map(|ip| if ip.is_ipv4() { "IPv4" } else { "IPv6" })
}

impl Kind for Service {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_with(Default::default);
        default_str(&mut spec.session_affinity, "None");
        match text(&spec.session_affinity) {
            "None" => spec.session_affinity_config = None,
            "ClientIP" => {
                let timeout_missing = spec
                    .session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds)
                    .is_none();
                if timeout_missing {
                    spec.session_affinity_config =
                        Some(k8s_openapi::api::core::v1::SessionAffinityConfig {
                            client_ip: Some(k8s_openapi::api::core::v1::ClientIPConfig {
                                timeout_seconds: Some(10800),
                            }),
                        });
                }
            }
            _ => {}
        }
        default_str(&mut spec.type_, "ClusterIP");
        for port in spec.ports.iter_mut().flatten() {
            default_str(&mut port.protocol, "TCP");
            let unset = matches!(&port.target_port, None | Some(IntOrString::Int(0)))
                || matches!(&port.target_port, Some(IntOrString::String(s)) if s.is_empty());
            if unset {
                port.target_port = Some(IntOrString::Int(port.port));
            }
        }
        if externally_accessible(spec) {
            default_str(&mut spec.external_traffic_policy, "Cluster");
        }
        if spec.internal_traffic_policy.is_none()
            && matches!(text(&spec.type_), "NodePort" | "LoadBalancer" | "ClusterIP")
        {
            spec.internal_traffic_policy = Some("Cluster".to_string());
        }
        if text(&spec.type_) == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
            if let Some(lb) = self.status.as_mut().and_then(|s| s.load_balancer.as_mut()) {
                for ingress in lb.ingress.iter_mut().flatten() {
                    if !text(&ingress.ip).is_empty() && ingress.ip_mode.is_none() {
                        ingress.ip_mode = Some("VIP".to_string());
                    }
                }
            }
        }
        // clusterIP and clusterIPs are kept in step (the registry's normalizeClusterIPs).
        let cluster_ip = text(&spec.cluster_ip).to_string();
        if items(&spec.cluster_ips).is_empty() && !cluster_ip.is_empty() {
            spec.cluster_ips = Some(vec![cluster_ip]);
        } else if cluster_ip.is_empty() {
            if let Some(first) = items(&spec.cluster_ips).first() {
                spec.cluster_ip = Some(first.clone());
            }
        }
        // IP families, as the registry's allocator initialises them on a
        // single-stack IPv4 cluster.
        if text(&spec.type_) != "ExternalName" {
            let headless_selectorless =
                is_headless(spec) && spec.selector.as_ref().is_none_or(|s| s.is_empty());
            if spec.ip_family_policy.is_none() {
                let policy = if headless_selectorless || items(&spec.cluster_ips).len() == 2 {
                    "RequireDualStack"
                } else {
                    "SingleStack"
                };
                spec.ip_family_policy = Some(policy.to_string());
            }
            if items(&spec.ip_families).is_empty() {
                let inferred: Vec<String> = items(&spec.cluster_ips)
                    .iter()
                    .filter_map(|ip| family_of(ip))
                    .map(str::to_string)
                    .collect();
                spec.ip_families = Some(if inferred.is_empty() {
                    vec!["IPv4".to_string()]
                } else {
                    inferred
                });
            }
            let families = spec.ip_families.get_or_insert_with(Vec::new);
            if headless_selectorless
                && families.len() < 2
                && text(&spec.ip_family_policy) != "SingleStack"
            {
                let other = if families.first().map(String::as_str) == Some("IPv6") {
                    "IPv4"
                } else {
                    "IPv6"
                };
                families.push(other.to_string());
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_service(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        let empty = ServiceSpec::default();
        let new_spec = self.spec.as_ref().unwrap_or(&empty);
        let old_spec = old.spec.as_ref().unwrap_or(&empty);
        errs.extend(validate_cluster_ips_update(old_spec, new_spec));
        errs.extend(validate_ip_families_update(old_spec, new_spec));
        if let Some(old_class) = &old_spec.load_balancer_class {
            if text(&old_spec.type_) == "LoadBalancer"
                && text(&new_spec.type_) == "LoadBalancer"
                && new_spec.load_balancer_class.as_ref() != Some(old_class)
            {
                errs.push(FieldError::invalid(
                    FieldPath::new("spec").child("loadBalancerClass"),
                    json(&new_spec.load_balancer_class),
                    "may not change once set",
                ));
            }
        }
        if needs_health_check(old_spec)
            && needs_health_check(new_spec)
            && new_spec.health_check_node_port != old_spec.health_check_node_port
        {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec").child("healthCheckNodePort"),
                "field is immutable",
            ));
        }
        errs.extend(validate_service(self));
        errs
    }
}

fn needs_health_check(spec: &ServiceSpec) -> bool {
    text(&spec.type_) == "LoadBalancer" && text(&spec.external_traffic_policy) == "Local"
}

fn validate_service_port(
    port: &ServicePort,
    require_name: bool,
    names: &mut BTreeSet<String>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    let name = text(&port.name);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate_dns1123_label(name, &path.child("name")));
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        }
    }
    for msg in is_valid_port_num(port.port.into()) {
        errs.push(FieldError::invalid(path.child("port"), port.port, msg));
    }
    errs.extend(validate_protocol(&port.protocol, &path.child("protocol")));
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(0));
    match &target {
        IntOrString::Int(n) => {
            for msg in is_valid_port_num((*n).into()) {
                errs.push(FieldError::invalid(path.child("targetPort"), *n, msg));
            }
        }
        IntOrString::String(s) => {
            for msg in tinykube_apimachinery::validation::is_valid_port_name(s) {
                errs.push(FieldError::invalid(
                    path.child("targetPort"),
                    s.as_str(),
                    msg,
                ));
            }
        }
    }
    if let Some(app_protocol) = &port.app_protocol {
        errs.extend(validate_qualified_name(
            app_protocol,
            &path.child("appProtocol"),
        ));
    }
    errs
}

/// Upstream `ValidateServiceClusterIPsRelatedFields`.
fn validate_cluster_ips_related(spec: &ServiceSpec) -> Errors {
    let mut errs = Vec::new();
    let spec_path = FieldPath::new("spec");
    let ips_path = spec_path.child("clusterIPs");
    let families_path = spec_path.child("ipFamilies");
    let cluster_ip = text(&spec.cluster_ip);
    let cluster_ips = items(&spec.cluster_ips);
    if !cluster_ip.is_empty() {
        match cluster_ips.first() {
            None => errs.push(FieldError::required(&ips_path, "")),
            Some(first) if first != cluster_ip => {
                errs.push(FieldError::invalid(
                    &ips_path,
                    json(cluster_ips),
                    "first value must match `clusterIP`",
                ));
            }
            Some(_) => {}
        }
    } else if !cluster_ips.is_empty() {
        errs.push(FieldError::invalid(
            &ips_path,
            json(cluster_ips),
            "must be empty when `clusterIP` is not specified",
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, family) in items(&spec.ip_families).iter().enumerate() {
        if !matches!(family.as_str(), "IPv4" | "IPv6") {
            errs.push(FieldError::not_supported(
                families_path.index(i),
                family.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
        if !seen.insert(family.as_str()) {
            errs.push(FieldError::duplicate(
                families_path.index(i),
                family.as_str(),
            ));
        }
    }
    if let Some(policy) = &spec.ip_family_policy {
        const POLICIES: &[&str] = &["PreferDualStack", "RequireDualStack", "SingleStack"];
        if !POLICIES.contains(&policy.as_str()) {
            errs.push(FieldError::not_supported(
                spec_path.child("ipFamilyPolicy"),
                policy.as_str(),
                POLICIES,
            ));
        }
    }
    let mut invalid_ips = false;
    for (i, ip) in cluster_ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if cluster_ips.len() > 1 {
                invalid_ips = true;
                errs.push(FieldError::invalid(
                    &ips_path,
                    json(cluster_ips),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        let ip_errs = is_valid_ip(&ips_path.index(i), ip);
        invalid_ips |= !ip_errs.is_empty();
        errs.extend(ip_errs);
    }
    if cluster_ips.len() > 2 {
        errs.push(FieldError::invalid(
            &ips_path,
            json(cluster_ips),
            "may only hold up to 2 values",
        ));
    }
    if invalid_ips {
        return errs;
    }
    if cluster_ips.len() > 1 && family_of(&cluster_ips[0]) == family_of(&cluster_ips[1]) {
        errs.push(FieldError::invalid(
            &ips_path,
            json(cluster_ips),
            "may specify no more than one IP for each IP family",
        ));
    }
    if !is_headless(spec) {
        for (i, (ip, family)) in cluster_ips.iter().zip(items(&spec.ip_families)).enumerate() {
            let actual = family_of(ip);
            if family == "IPv4" && actual == Some("IPv6") {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    ip.as_str(),
                    format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if family == "IPv6" && actual != Some("IPv6") {
                errs.push(FieldError::invalid(
                    ips_path.index(i),
                    ip.as_str(),
                    format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

/// Upstream `ValidateService`.
fn validate_service(service: &Service) -> Errors {
    let meta_path = FieldPath::new("metadata");
    let spec_path = FieldPath::new("spec");
    let mut errs = validate_object_meta(&service.metadata, true, name_is_dns1035_label, &meta_path);
    let empty = ServiceSpec::default();
    let spec = service.spec.as_ref().unwrap_or(&empty);
    let type_ = text(&spec.type_);
    let ports = items(&spec.ports);
    let headless = is_headless(spec);

    if let Some(annotations) = &service.metadata.annotations {
        const HINTS: &str = "service.kubernetes.io/topology-aware-hints";
        const MODE: &str = "service.kubernetes.io/topology-mode";
        if let (Some(hints), Some(mode)) = (annotations.get(HINTS), annotations.get(MODE)) {
            if hints != mode {
                errs.push(FieldError::invalid(
                    meta_path.child("annotations").key(MODE),
                    mode.as_str(),
                    format!("must match annotations[{HINTS}] when both are specified"),
                ));
            }
        }
    }

    if ports.is_empty() && !headless && type_ != "ExternalName" {
        errs.push(FieldError::required(spec_path.child("ports"), ""));
    }
    match type_ {
        "LoadBalancer" => {
            for (i, port) in ports.iter().enumerate() {
                if port.port == KUBELET_PORT {
                    errs.push(FieldError::invalid(
                        spec_path.child("ports").index(i),
                        port.port,
                        format!("may not expose port {KUBELET_PORT} externally since it is used by kubelet"),
                    ));
                }
            }
            if headless {
                errs.push(FieldError::invalid(
                    spec_path.child("clusterIPs").index(0),
                    "None",
                    "may not be set to 'None' for LoadBalancer services",
                ));
            }
        }
        "NodePort" if headless => {
            errs.push(FieldError::invalid(
                spec_path.child("clusterIPs").index(0),
                "None",
                "may not be set to 'None' for NodePort services",
            ));
        }
        "ExternalName" => {
            if !items(&spec.cluster_ips).is_empty() {
                errs.push(FieldError::forbidden(
                    spec_path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            if !items(&spec.ip_families).is_empty() {
                errs.push(FieldError::forbidden(
                    spec_path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                ));
            }
            if spec.ip_family_policy.is_some() {
                errs.push(FieldError::forbidden(
                    spec_path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = text(&spec.external_name);
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(FieldError::required(spec_path.child("externalName"), ""));
            } else {
                errs.extend(validate_dns1123_subdomain(
                    cname,
                    &spec_path.child("externalName"),
                ));
            }
        }
        _ => {}
    }

    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        errs.extend(validate_service_port(
            port,
            ports.len() > 1,
            &mut names,
            &spec_path.child("ports").index(i),
        ));
    }
    if spec.selector.is_some() {
        errs.extend(validate_labels(
            spec.selector.as_ref(),
            &spec_path.child("selector"),
        ));
    }

    let affinity = text(&spec.session_affinity);
    if affinity.is_empty() {
        errs.push(FieldError::required(spec_path.child("sessionAffinity"), ""));
    } else if !matches!(affinity, "ClientIP" | "None") {
        errs.push(FieldError::not_supported(
            spec_path.child("sessionAffinity"),
            affinity,
            &["ClientIP", "None"],
        ));
    }
    let config_path = spec_path.child("sessionAffinityConfig");
    if affinity == "ClientIP" {
        const WHEN: &str = "when session affinity type is ClientIP";
        match &spec.session_affinity_config {
            None => errs.push(FieldError::required(&config_path, WHEN)),
            Some(config) => match &config.client_ip {
                None => errs.push(FieldError::required(config_path.child("clientIP"), WHEN)),
                Some(client_ip) => match client_ip.timeout_seconds {
                    None => errs.push(FieldError::required(config_path.child("clientIP").child("timeoutSeconds"), WHEN)),
                    Some(t) if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS => errs.push(FieldError::invalid(
                        config_path.child("clientIP").child("timeoutSeconds"),
                        t,
                        format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
                    )),
                    Some(_) => {}
                },
            },
        }
    } else if affinity == "None" && spec.session_affinity_config.is_some() {
        errs.push(FieldError::forbidden(
            &config_path,
            "must not be set when session affinity is None",
        ));
    }

    errs.extend(validate_cluster_ips_related(spec));

    for (i, ip) in items(&spec.external_ips).iter().enumerate() {
        let p = spec_path.child("externalIPs").index(i);
        let ip_errs = is_valid_ip(&p, ip);
        if ip_errs.is_empty() {
            errs.extend(validate_non_special_ip(ip, &p));
        } else {
            errs.extend(ip_errs);
        }
    }

    const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
    if type_.is_empty() {
        errs.push(FieldError::required(spec_path.child("type"), ""));
    } else if !TYPES.contains(&type_) {
        errs.push(FieldError::not_supported(
            spec_path.child("type"),
            type_,
            TYPES,
        ));
    }
    if type_ == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if port.node_port.unwrap_or(0) != 0 {
                errs.push(FieldError::forbidden(
                    spec_path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let protocol = text(&port.protocol);
        let node_port = port.node_port.unwrap_or(0);
        if node_port != 0 && !node_ports.insert((protocol, node_port)) {
            errs.push(FieldError::duplicate(
                spec_path.child("ports").index(i).child("nodePort"),
                node_port,
            ));
        }
        if !port_keys.insert((protocol, port.port)) {
            errs.push(FieldError::duplicate(
                spec_path.child("ports").index(i),
                json_value!({"port": port.port, "protocol": protocol}),
            ));
        }
    }

    let source_ranges = items(&spec.load_balancer_source_ranges);
    if !source_ranges.is_empty() {
        let p = spec_path.child("LoadBalancerSourceRanges");
        if type_ != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &p,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        for (i, range) in source_ranges.iter().enumerate() {
            errs.extend(is_valid_cidr(&p.index(i), range.trim()));
        }
    } else if let Some(ranges) = service
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("service.beta.kubernetes.io/load-balancer-source-ranges"))
    {
        let p = meta_path
            .child("annotations")
            .key("service.beta.kubernetes.io/load-balancer-source-ranges");
        if type_ != "LoadBalancer" {
            errs.push(FieldError::forbidden(
                &p,
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
        let ranges = ranges.trim();
        if !ranges.is_empty() {
            for range in ranges.split(',') {
                errs.extend(is_valid_cidr(&p, range.trim()));
            }
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && type_ != "LoadBalancer" {
        errs.push(FieldError::forbidden(
            spec_path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    if type_ == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        errs.push(FieldError::required(
            FieldPath::new("allocateLoadBalancerNodePorts"),
            "",
        ));
    }
    if let Some(class) = &spec.load_balancer_class {
        if type_ == "LoadBalancer" {
            errs.extend(validate_qualified_name(
                class,
                &spec_path.child("loadBalancerClass"),
            ));
        } else {
            errs.push(FieldError::forbidden(
                spec_path.child("loadBalancerClass"),
                "may only be used when service type is 'LoadBalancer'",
            ));
        }
    }

    let external_policy = text(&spec.external_traffic_policy);
    if !externally_accessible(spec) {
        if !external_policy.is_empty() {
            errs.push(FieldError::invalid(
                spec_path.child("externalTrafficPolicy"),
                external_policy,
                "may only be set for externally-accessible services",
            ));
        }
    } else if external_policy.is_empty() {
        errs.push(FieldError::required(
            spec_path.child("externalTrafficPolicy"),
            "",
        ));
    } else if !matches!(external_policy, "Cluster" | "Local") {
        errs.push(FieldError::not_supported(
            spec_path.child("externalTrafficPolicy"),
            external_policy,
            &["Cluster", "Local"],
        ));
    }
    let health_port = spec.health_check_node_port.unwrap_or(0);
    if !needs_health_check(spec) {
        if health_port != 0 {
            errs.push(FieldError::invalid(
                spec_path.child("healthCheckNodePort"),
                health_port,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        }
    } else if health_port == 0 {
        errs.push(FieldError::required(
            spec_path.child("healthCheckNodePort"),
            "",
        ));
    } else {
        for msg in is_valid_port_num(health_port.into()) {
            errs.push(FieldError::invalid(
                spec_path.child("healthCheckNodePort"),
                health_port,
                msg,
            ));
        }
    }

    match &spec.internal_traffic_policy {
        None if matches!(type_, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(
                spec_path.child("internalTrafficPolicy"),
                "",
            ));
        }
        Some(policy) if !matches!(policy.as_str(), "Cluster" | "Local") => {
            errs.push(FieldError::not_supported(
                spec_path.child("internalTrafficPolicy"),
                policy.as_str(),
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    if let Some(distribution) = &spec.traffic_distribution {
        if distribution != "PreferClose" {
            errs.push(FieldError::not_supported(
                spec_path.child("trafficDistribution"),
                distribution.as_str(),
                &["PreferClose"],
            ));
        }
    }
    errs
}

/// Upstream `validateUpgradeDowngradeClusterIPs`.
fn validate_cluster_ips_update(old: &ServiceSpec, new: &ServiceSpec) -> Errors {
    let mut errs = Vec::new();
    if text(&new.type_) == "ExternalName" || text(&old.type_) == "ExternalName" {
        return errs;
    }
    if is_headless(old) && is_headless(new) {
        return errs;
    }
    let path = FieldPath::new("spec").child("clusterIPs");
    let (old_ips, new_ips) = (items(&old.cluster_ips), items(&new.cluster_ips));
    let whole = json(new_ips);
    if old_ips.len() == new_ips.len() {
        for (i, (o, n)) in old_ips.iter().zip(new_ips).enumerate() {
            if o != n {
                errs.push(FieldError::invalid(
                    path.index(i),
                    whole.clone(),
                    "may not change once set",
                ));
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            errs.push(FieldError::invalid(
                path.index(0),
                whole.clone(),
                "primary clusterIP can not be unset",
            ));
        }
        if let (Some(o), Some(n)) = (old_ips.first(), new_ips.first()) {
            if o != n {
                errs.push(FieldError::invalid(
                    path.index(0),
                    whole.clone(),
                    "may not change once set",
                ));
            }
        }
        if new_ips.len() == 1 && text(&new.ip_family_policy) != "SingleStack" {
            errs.push(FieldError::invalid(
                path.index(0),
                whole,
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP",
            ));
        }
    } else if let (Some(o), Some(n)) = (old_ips.first(), new_ips.first()) {
        if o != n {
            errs.push(FieldError::invalid(
                path.index(0),
                whole,
                "may not change once set",
            ));
        }
    }
    errs
}

/// Upstream `validateUpgradeDowngradeIPFamilies`.
fn validate_ip_families_update(old: &ServiceSpec, new: &ServiceSpec) -> Errors {
    let mut errs = Vec::new();
    if text(&new.type_) == "ExternalName" || text(&old.type_) == "ExternalName" {
        return errs;
    }
    if is_headless(old) != is_headless(new) || is_headless(new) {
        return errs;
    }
    let path = FieldPath::new("spec").child("ipFamilies");
    let (old_f, new_f) = (items(&old.ip_families), items(&new.ip_families));
    if old_f.len() == new_f.len() {
        for (o, n) in old_f.iter().zip(new_f) {
            if o != n {
                errs.push(FieldError::invalid(
                    path.index(0),
                    json(new_f),
                    "may not change once set",
                ));
            }
        }
    } else if old_f.len() > new_f.len() {
        if new_f.is_empty() {
            errs.push(FieldError::invalid(
                path.index(0),
                json(new_f),
                "primary ipFamily can not be unset",
            ));
        }
        if let (Some(o), Some(n)) = (old_f.first(), new_f.first()) {
            if o != n {
                errs.push(FieldError::invalid(
                    path.index(0),
                    json(&new.cluster_ips),
                    "may not change once set",
                ));
            }
        }
        if new_f.len() == 1 && text(&new.ip_family_policy) != "SingleStack" {
            errs.push(FieldError::invalid(
                FieldPath::new("spec").child("clusterIPs").index(0),
                json(&new.cluster_ips),
                "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if let (Some(o), Some(n)) = (old_f.first(), new_f.first()) {
        if o != n {
            errs.push(FieldError::invalid(
                path.index(0),
                json(&new.cluster_ips),
                "may not change once set",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn service(patch: Value) -> Value {
        let base = json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        });
        decode_and_default("services", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn defaults() {
        let s = service(json!({}));
        let spec = &s["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(
            spec["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
        assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(spec.get("externalTrafficPolicy").is_none());

        let np = service(
            json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}}),
        );
        assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(np["spec"]["ports"][0]["targetPort"], "http");

        let lb = service(json!({"spec": {"type": "LoadBalancer"}}));
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);

        let affinity = service(json!({"spec": {"sessionAffinity": "ClientIP"}}));
        assert_eq!(
            affinity["spec"]["sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 10800}})
        );

        let fixed = service(json!({"spec": {"clusterIP": "10.96.0.10"}}));
        assert_eq!(fixed["spec"]["clusterIPs"], json!(["10.96.0.10"]));

        let headless = service(json!({"spec": {"clusterIP": "None", "selector": null}}));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));

        let external = service(
            json!({"spec": {"type": "ExternalName", "externalName": "example.com", "ports": null}}),
        );
        assert!(external["spec"].get("ipFamilies").is_none());
        assert!(external["spec"].get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn create_rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"metadata": {"name": "1web"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"name": "web.svc"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"ports": null}}),
                vec![("spec.ports", "FieldValueRequired")],
            ),
            (
                json!({"spec": {"ports": null, "clusterIP": "None"}}),
                vec![],
            ),
            (
                json!({"spec": {"ports": [{"port": 0}]}}),
                vec![
                    ("spec.ports[0].port", "FieldValueInvalid"),
                    ("spec.ports[0].targetPort", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"spec": {"ports": [{"port": 70000}]}}),
                vec![
                    ("spec.ports[0].port", "FieldValueInvalid"),
                    ("spec.ports[0].targetPort", "FieldValueInvalid"),
                ],
            ),
            (
                json!({"spec": {"ports": [{"port": 80}, {"port": 443, "name": "https"}]}}),
                vec![("spec.ports[0].name", "FieldValueRequired")],
            ),
            (
                json!({"spec": {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "a"}]}}),
                vec![
                    ("spec.ports[1].name", "FieldValueDuplicate"),
                    ("spec.ports[1]", "FieldValueDuplicate"),
                ],
            ),
            (
                json!({"spec": {"type": "Magic"}}),
                vec![("spec.type", "FieldValueNotSupported")],
            ),
            (
                json!({"spec": {"sessionAffinity": "Sticky"}}),
                vec![("spec.sessionAffinity", "FieldValueNotSupported")],
            ),
            (
                json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}),
                vec![("spec.ports[0].nodePort", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}}),
                vec![],
            ),
            (
                json!({"spec": {"type": "ExternalName", "externalName": "", "ports": null}}),
                vec![("spec.externalName", "FieldValueRequired")],
            ),
            (
                json!({"spec": {"clusterIP": "10.96.0.300"}}),
                vec![("spec.clusterIPs[0]", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"externalIPs": ["127.0.0.1"]}}),
                vec![("spec.externalIPs[0]", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"selector": {"app": "a b"}}}),
                vec![("spec.selector", "FieldValueInvalid")],
            ),
        ];
        for (patch, want) in cases {
            let s = service(patch.clone());
            assert_errors(&validate_create("services", &s), &want);
        }
    }

    #[test]
    fn update_rules() {
        let old = service(json!({"spec": {"clusterIP": "10.96.0.10"}}));
        let ok = merge(&old, &json!({"spec": {"ports": [{"port": 8080}]}}));
        assert_errors(
            &validate_update(
                "services",
                &decode_and_default("services", ok).unwrap(),
                &old,
            ),
            &[],
        );
        let moved = decode_and_default(
            "services",
            merge(
                &old,
                &json!({"spec": {"clusterIP": "10.96.0.11", "clusterIPs": null}}),
            ),
        )
        .unwrap();
        let errs = validate_update("services", &moved, &old);
        assert_errors(&errs, &[("spec.clusterIPs[0]", "FieldValueInvalid")]);
        assert_eq!(errs[0].detail, "may not change once set");
        let unset = decode_and_default(
            "services",
            merge(
                &old,
                &json!({"spec": {"clusterIP": null, "clusterIPs": null}}),
            ),
        )
        .unwrap();
        assert_errors(
            &validate_update("services", &unset, &old),
            &[("spec.clusterIPs[0]", "FieldValueInvalid")],
        );
    }
}
