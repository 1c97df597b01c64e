//! EndpointSlices (`endpointslices.discovery.k8s.io`): `SetDefaults_EndpointPort`
//! (name `""`, protocol TCP), `ValidateEndpointSlice` and the update rule that
//! `addressType` is immutable.

use std::collections::BTreeSet;

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_valid_port_num,
};

use super::common::{
    invalid_each, items, json, name_is_dns_subdomain, parse_ip_sloppy, text,
    validate_dns1123_label, validate_immutable, validate_labels, validate_non_special_ip,
    validate_object_meta, validate_object_meta_update, validate_qualified_name, Errors,
};
use super::podspec::validate_protocol;
use super::Kind;

const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;
const MAX_TOPOLOGY_LABELS: usize = 16;
const MAX_HINTS: usize = 8;

/// Upstream `IsFullyQualifiedDomainName`.
fn validate_fqdn(name: &str, path: &FieldPath) -> Errors {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let errs = is_dns1123_subdomain(name);
    if !errs.is_empty() {
        return vec![FieldError::invalid(path, name, errs.join(","))];
    }
    if name.split('.').count() < 2 {
        return vec![FieldError::invalid(
            path,
            name,
            "should be a domain with at least two segments separated by dots",
        )];
    }
    for label in name.split('.') {
        let errs = is_dns1123_label(label);
        if !errs.is_empty() {
            return vec![FieldError::invalid(path, label, errs.join(","))];
        }
    }
    Vec::new()
}

fn validate_endpoint(endpoint: &Endpoint, address_type: &str, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let addresses_path = path.child("addresses");
    if endpoint.addresses.is_empty() {
        errs.push(FieldError::required(
            &addresses_path,
            "must contain at least 1 address",
        ));
    } else if endpoint.addresses.len() > MAX_ADDRESSES {
        errs.push(FieldError::too_many(
            &addresses_path,
            Some(endpoint.addresses.len()),
            Some(MAX_ADDRESSES),
        ));
    }
    for (i, address) in endpoint.addresses.iter().enumerate() {
        let p = addresses_path.index(i);
        match address_type {
            "IPv4" | "IPv6" => {
                let parsed = parse_ip_sloppy(address);
                let family_ok = parsed.is_some_and(|ip| ip.is_ipv4() == (address_type == "IPv4"));
                if family_ok {
                    errs.extend(validate_non_special_ip(address, &p));
                } else {
                    let what = if address_type == "IPv4" {
                        "IPv4"
                    } else {
                        "IPv6"
                    };
                    errs.push(FieldError::invalid(
                        &p,
                        address.as_str(),
                        format!("must be a valid {what} address"),
                    ));
                }
            }
            "FQDN" => errs.extend(validate_fqdn(address, &p)),
            _ => {}
        }
    }
    if let Some(node) = &endpoint.node_name {
        errs.extend(invalid_each(
            &path.child("nodeName"),
            node,
            name_is_dns_subdomain(node, false),
        ));
    }
    let topology_path = path.child("deprecatedTopology");
    if let Some(topology) = &endpoint.deprecated_topology {
        if topology.len() > MAX_TOPOLOGY_LABELS {
            errs.push(FieldError::too_many(
                &topology_path,
                Some(topology.len()),
                Some(MAX_TOPOLOGY_LABELS),
            ));
        }
    }
    errs.extend(validate_labels(
        endpoint.deprecated_topology.as_ref(),
        &topology_path,
    ));
    if let Some(hostname) = &endpoint.hostname {
        errs.extend(validate_dns1123_label(hostname, &path.child("hostname")));
    }
    if let Some(hints) = &endpoint.hints {
        let zones = items(&hints.for_zones);
        let zones_path = path.child("hints").child("forZones");
        if zones.len() > MAX_HINTS {
            errs.push(FieldError::too_many(
                &zones_path,
                Some(zones.len()),
                Some(MAX_HINTS),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, zone) in zones.iter().enumerate() {
            let p = zones_path.index(i).child("name");
            if !seen.insert(zone.name.as_str()) {
                errs.push(FieldError::duplicate(&p, zone.name.as_str()));
            } else {
                errs.extend(invalid_each(
                    &p,
                    &zone.name,
                    tinykube_apimachinery::validation::is_valid_label_value(&zone.name),
                ));
            }
        }
    }
    errs
}

fn validate_ports(ports: &[EndpointPort], path: &FieldPath) -> Errors {
    if ports.len() > MAX_PORTS {
        return vec![FieldError::too_many(
            path,
            Some(ports.len()),
            Some(MAX_PORTS),
        )];
    }
    let mut errs = Vec::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let idx = path.index(i);
        let name = text(&port.name);
        if !name.is_empty() {
            errs.extend(validate_dns1123_label(name, &idx.child("name")));
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(idx.child("name"), name));
        }
        if let Some(number) = port.port {
            for msg in is_valid_port_num(number.into()) {
                errs.push(FieldError::invalid(idx.child("port"), number, msg));
            }
        }
        errs.extend(validate_protocol(&port.protocol, &idx.child("protocol")));
        if let Some(app_protocol) = &port.app_protocol {
            errs.extend(validate_qualified_name(
                app_protocol,
                &idx.child("appProtocol"),
            ));
        }
    }
    errs
}

fn validate_slice(slice: &EndpointSlice) -> Errors {
    let mut errs = validate_object_meta(
        &slice.metadata,
        true,
        name_is_dns_subdomain,
        &FieldPath::new("metadata"),
    );
    let type_path = FieldPath::new("addressType");
    if slice.address_type.is_empty() {
        errs.push(FieldError::required(&type_path, ""));
    } else if !ADDRESS_TYPES.contains(&slice.address_type.as_str()) {
        errs.push(FieldError::not_supported(
            &type_path,
            slice.address_type.as_str(),
            ADDRESS_TYPES,
        ));
    }
    let endpoints_path = FieldPath::new("endpoints");
    if slice.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many(
            &endpoints_path,
            Some(slice.endpoints.len()),
            Some(MAX_ENDPOINTS),
        ));
    } else {
        for (i, endpoint) in slice.endpoints.iter().enumerate() {
            errs.extend(validate_endpoint(
                endpoint,
                &slice.address_type,
                &endpoints_path.index(i),
            ));
        }
    }
    errs.extend(validate_ports(
        items(&slice.ports),
        &FieldPath::new("ports"),
    ));
    errs
}

impl Kind for EndpointSlice {
    fn set_defaults(&mut self) {
        for port in self.ports.iter_mut().flatten() {
            port.name.get_or_insert_with(String::new);
            port.protocol.get_or_insert_with(|| "TCP".to_string());
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_slice(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(validate_slice(self));
        errs.extend(validate_immutable(
            json(&self.address_type),
            json(&old.address_type),
            &FieldPath::new("addressType"),
        ));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn slice(patch: Value) -> Value {
        let base = json!({"metadata": {"name": "web-x1", "namespace": "default"}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": true}}],
            "ports": [{"port": 80}]});
        decode_and_default("endpointslices.discovery.k8s.io", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn defaults() {
        assert_eq!(
            slice(json!({}))["ports"][0],
            json!({"name": "", "port": 80, "protocol": "TCP"})
        );
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"addressType": ""}),
                vec![("addressType", "FieldValueRequired")],
            ),
            (
                json!({"addressType": "IPv5"}),
                vec![("addressType", "FieldValueNotSupported")],
            ),
            (
                json!({"endpoints": [{"addresses": []}]}),
                vec![("endpoints[0].addresses", "FieldValueRequired")],
            ),
            (
                json!({"endpoints": [{"addresses": ["fd00::1"]}]}),
                vec![("endpoints[0].addresses[0]", "FieldValueInvalid")],
            ),
            (
                json!({"addressType": "FQDN", "endpoints": [{"addresses": ["example.com"]}]}),
                vec![],
            ),
            (
                json!({"addressType": "FQDN", "endpoints": [{"addresses": ["localhost"]}]}),
                vec![("endpoints[0].addresses[0]", "FieldValueInvalid")],
            ),
            (
                json!({"ports": [{"port": 80, "name": "http"}, {"port": 81, "name": "http", "protocol": "ICMP"}]}),
                vec![
                    ("ports[1].name", "FieldValueDuplicate"),
                    ("ports[1].protocol", "FieldValueNotSupported"),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("endpointslices.discovery.k8s.io", &slice(patch.clone())),
                &want,
            );
        }
        let old = slice(json!({}));
        let retyped =
            slice(json!({"addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}]}));
        assert_errors(
            &validate_update("endpointslices.discovery.k8s.io", &retyped, &old),
            &[("addressType", "FieldValueInvalid")],
        );
    }
}
