//! Endpoints (`endpoints`): `SetDefaults_Endpoints` (port protocol TCP),
//! `ValidateEndpoints` and `ValidateEndpointsUpdate`.

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, Endpoints};
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::is_valid_port_num;

use super::common::{
    default_str, invalid_each, is_valid_ip, items, name_is_dns_subdomain, text,
    validate_dns1123_label, validate_non_special_ip, validate_object_meta,
    validate_object_meta_update, validate_qualified_name, Errors,
};
use super::podspec::validate_protocol;
use super::Kind;

fn validate_address(address: &EndpointAddress, path: &FieldPath) -> Errors {
    let mut errs = is_valid_ip(&path.child("ip"), &address.ip);
    let hostname = text(&address.hostname);
    if !hostname.is_empty() {
        errs.extend(validate_dns1123_label(hostname, &path.child("hostname")));
    }
    if let Some(node) = &address.node_name {
        errs.extend(invalid_each(
            &path.child("nodeName"),
            node,
            name_is_dns_subdomain(node, false),
        ));
    }
    errs.extend(validate_non_special_ip(&address.ip, &path.child("ip")));
    errs
}

fn validate_port(port: &EndpointPort, require_name: bool, path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let name = text(&port.name);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else if !name.is_empty() {
        errs.extend(validate_dns1123_label(name, &path.child("name")));
    }
    for msg in is_valid_port_num(port.port.into()) {
        errs.push(FieldError::invalid(path.child("port"), port.port, msg));
    }
    errs.extend(validate_protocol(&port.protocol, &path.child("protocol")));
    if let Some(app_protocol) = &port.app_protocol {
        errs.extend(validate_qualified_name(
            app_protocol,
            &path.child("appProtocol"),
        ));
    }
    errs
}

fn validate_endpoints(endpoints: &Endpoints) -> Errors {
    let mut errs = validate_object_meta(
        &endpoints.metadata,
        true,
        name_is_dns_subdomain,
        &FieldPath::new("metadata"),
    );
    let path = FieldPath::new("subsets");
    for (i, subset) in items(&endpoints.subsets).iter().enumerate() {
        let idx = path.index(i);
        let (addresses, not_ready) = (items(&subset.addresses), items(&subset.not_ready_addresses));
        if addresses.is_empty() && not_ready.is_empty() {
            errs.push(FieldError::required(
                &idx,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        for (j, address) in addresses.iter().enumerate() {
            errs.extend(validate_address(address, &idx.child("addresses").index(j)));
        }
        for (j, address) in not_ready.iter().enumerate() {
            errs.extend(validate_address(
                address,
                &idx.child("notReadyAddresses").index(j),
            ));
        }
        let ports = items(&subset.ports);
        for (j, port) in ports.iter().enumerate() {
            errs.extend(validate_port(
                port,
                ports.len() > 1,
                &idx.child("ports").index(j),
            ));
        }
    }
    errs
}

impl Kind for Endpoints {
    fn set_defaults(&mut self) {
        for subset in self.subsets.iter_mut().flatten() {
            for port in subset.ports.iter_mut().flatten() {
                default_str(&mut port.protocol, "TCP");
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_endpoints(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let mut errs =
            validate_object_meta_update(&self.metadata, &old.metadata, &FieldPath::new("metadata"));
        errs.extend(validate_endpoints(self));
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create};
    use serde_json::{json, Value};

    fn endpoints(patch: Value) -> Value {
        let base = json!({"metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 80}]}]});
        decode_and_default("endpoints", merge(&base, &patch)).unwrap()
    }

    #[test]
    fn rules() {
        assert_eq!(
            endpoints(json!({}))["subsets"][0]["ports"][0]["protocol"],
            "TCP"
        );
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (json!({"subsets": []}), vec![]),
            (
                json!({"subsets": [{"ports": [{"port": 80}]}]}),
                vec![("subsets[0]", "FieldValueRequired")],
            ),
            (
                json!({"subsets": [{"addresses": [{"ip": "bogus"}, {"ip": "127.0.0.1"}], "ports": [{"port": 0}, {"port": 81, "name": "b"}]}]}),
                vec![
                    ("subsets[0].addresses[0].ip", "FieldValueInvalid"),
                    ("subsets[0].addresses[0].ip", "FieldValueInvalid"),
                    ("subsets[0].addresses[1].ip", "FieldValueInvalid"),
                    ("subsets[0].ports[0].name", "FieldValueRequired"),
                    ("subsets[0].ports[0].port", "FieldValueInvalid"),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(
                &validate_create("endpoints", &endpoints(patch.clone())),
                &want,
            );
        }
    }
}
