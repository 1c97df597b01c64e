//! Nodes (`nodes`): the v1 `podCIDR`/`podCIDRs` conversion,
//! `SetDefaults_NodeStatus` (allocatable defaults to capacity), resource
//! rounding, `ValidateNode` and `ValidateNodeUpdate`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::Value;
use tinykube_apimachinery::status::{FieldError, FieldPath};
use tinykube_apimachinery::validation::is_valid_label_value;

use super::common::{
    is_valid_cidr, items, json, name_is_dns_subdomain, parse_cidr, text, validate_label_name,
    validate_object_meta, validate_object_meta_update, Errors,
};
use super::podspec::{
    round_up_resources, validate_resource_quantity, validate_taint_effect_required,
};
use super::Kind;

/// Upstream `validateNodeTaints`.
fn validate_taints(taints: &[Taint], path: &FieldPath) -> Errors {
    let mut errs = Vec::new();
    let mut unique: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (i, taint) in taints.iter().enumerate() {
        let idx = path.index(i);
        errs.extend(validate_label_name(&taint.key, &idx.child("key")));
        let value = text(&taint.value);
        let msgs = is_valid_label_value(value);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                idx.child("value"),
                value,
                msgs.join(";"),
            ));
        }
        errs.extend(validate_taint_effect_required(
            &taint.effect,
            &idx.child("effect"),
        ));
        if !unique.insert((taint.effect.as_str(), taint.key.as_str())) {
            let mut duplicate = FieldError::duplicate(&idx, json(taint));
            duplicate.detail = "taints must be unique by key and effect pair".to_string();
            errs.push(duplicate);
        }
    }
    errs
}

fn validate_resource_list(
    list: Option<&BTreeMap<String, K8sQuantity>>,
    path: &FieldPath,
) -> Errors {
    let mut errs = Vec::new();
    for (name, value) in list.into_iter().flatten() {
        errs.extend(validate_resource_quantity(name, value, &path.child(name)));
    }
    errs
}

fn validate_node_resources(node: &Node) -> Errors {
    let status = node.status.as_ref();
    let path = FieldPath::new("status");
    let mut errs = validate_resource_list(
        status.and_then(|s| s.capacity.as_ref()),
        &path.child("capacity"),
    );
    errs.extend(validate_resource_list(
        status.and_then(|s| s.allocatable.as_ref()),
        &path.child("allocatable"),
    ));
    errs
}

fn pod_cidrs(node: &Node) -> &[String] {
    node.spec
        .as_ref()
        .map(|s| items(&s.pod_cidrs))
        .unwrap_or(&[])
}

fn validate_node(node: &Node) -> Errors {
    let meta_path = FieldPath::new("metadata");
    let mut errs = validate_object_meta(&node.metadata, false, name_is_dns_subdomain, &meta_path);
    if let Some(taints) = node.spec.as_ref().map(|s| items(&s.taints)) {
        // Upstream reports taints under `metadata.taints`.
        errs.extend(validate_taints(taints, &meta_path.child("taints")));
    }
    errs.extend(validate_node_resources(node));
    let cidrs = pod_cidrs(node);
    let path = FieldPath::new("spec").child("podCIDRs");
    for (i, cidr) in cidrs.iter().enumerate() {
        errs.extend(is_valid_cidr(&path.index(i), cidr));
    }
    if cidrs.len() > 1 {
        let families: Vec<Option<bool>> = cidrs
            .iter()
            .map(|c| parse_cidr(c).map(|(ip, _)| ip.is_ipv4()))
            .collect();
        if cidrs.len() > 2 || families[0] == families[1] {
            errs.push(FieldError::invalid(
                &path,
                json(cidrs),
                "may specify no more than one CIDR for each IP family",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, cidr) in cidrs.iter().enumerate() {
            if !seen.insert(cidr.as_str()) {
                errs.push(FieldError::duplicate(path.index(i), cidr.as_str()));
            }
        }
    }
    errs
}

impl Kind for Node {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            let pod_cidr = text(&spec.pod_cidr).to_string();
            if items(&spec.pod_cidrs).is_empty() && !pod_cidr.is_empty() {
                spec.pod_cidrs = Some(vec![pod_cidr]);
            }
            if let Some(first) = items(&spec.pod_cidrs).first() {
                spec.pod_cidr = Some(first.clone());
            }
        }
        if let Some(status) = &mut self.status {
            if status.allocatable.is_none() {
                status.allocatable = status.capacity.clone();
            }
            for list in [&mut status.capacity, &mut status.allocatable]
                .into_iter()
                .flatten()
            {
                round_up_resources(list);
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_node(self)
    }

    fn validate_update(&self, _raw: &Value, old: &Self, _old_raw: &Value) -> Errors {
        let meta_path = FieldPath::new("metadata");
        let mut errs = validate_object_meta_update(&self.metadata, &old.metadata, &meta_path);
        errs.extend(validate_node_resources(self));
        let mut addresses = BTreeSet::new();
        for (i, address) in self
            .status
            .iter()
            .flat_map(|s| items(&s.addresses))
            .enumerate()
        {
            if !addresses.insert((address.type_.as_str(), address.address.as_str())) {
                errs.push(FieldError::duplicate(
                    FieldPath::new("status").child("addresses").index(i),
                    json(address),
                ));
            }
        }
        let (old_cidrs, new_cidrs) = (pod_cidrs(old), pod_cidrs(self));
        if !old_cidrs.is_empty() {
            const MSG: &str = "node updates may not change podCIDR except from \"\" to valid";
            let path = FieldPath::new("spec").child("podCIDRs");
            if old_cidrs.len() != new_cidrs.len() {
                errs.push(FieldError::forbidden(&path, MSG));
            } else {
                for (o, n) in old_cidrs.iter().zip(new_cidrs) {
                    if o != n {
                        errs.push(FieldError::forbidden(&path, MSG));
                    }
                }
            }
        }
        let provider = |n: &Node| {
            n.spec
                .as_ref()
                .map(|s| text(&s.provider_id).to_string())
                .unwrap_or_default()
        };
        if !provider(old).is_empty() && provider(old) != provider(self) {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        if let Some(taints) = self.spec.as_ref().map(|s| items(&s.taints)) {
            errs.extend(validate_taints(taints, &meta_path.child("taints")));
        }
        let external = |n: &Node| {
            n.spec
                .as_ref()
                .map(|s| text(&s.external_id).to_string())
                .unwrap_or_default()
        };
        if external(self) != external(old) {
            errs.push(FieldError::forbidden(
                FieldPath::new("spec").child("externalID"),
                "may not be updated",
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::testing::{assert_errors, merge};
    use super::super::{decode_and_default, validate_create, validate_update};
    use serde_json::{json, Value};

    fn node(patch: Value) -> Value {
        decode_and_default(
            "nodes",
            merge(&json!({"metadata": {"name": "node-1"}}), &patch),
        )
        .unwrap()
    }

    #[test]
    fn defaults() {
        let n = node(
            json!({"spec": {"podCIDR": "10.244.1.0/24"}, "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"}}}),
        );
        assert_eq!(n["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
        assert_eq!(
            n["status"]["allocatable"],
            json!({"cpu": "2", "memory": "4Gi", "pods": "110"})
        );
        let n = node(json!({"spec": {"podCIDRs": ["10.244.2.0/24"]}}));
        assert_eq!(n["spec"]["podCIDR"], "10.244.2.0/24");
    }

    #[test]
    fn rules() {
        let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({}), vec![]),
            (
                json!({"metadata": {"name": "Node_1"}}),
                vec![("metadata.name", "FieldValueInvalid")],
            ),
            (
                json!({"metadata": {"namespace": "default"}}),
                vec![("metadata.namespace", "FieldValueForbidden")],
            ),
            (
                json!({"spec": {"podCIDRs": ["10.244.1.0/33"]}}),
                vec![("spec.podCIDRs[0]", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"podCIDRs": ["10.244.1.0/24", "10.244.2.0/24"]}}),
                vec![("spec.podCIDRs", "FieldValueInvalid")],
            ),
            (
                json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}, {"key": "", "effect": ""}]}}),
                vec![
                    ("metadata.taints[1]", "FieldValueDuplicate"),
                    ("metadata.taints[2].key", "FieldValueInvalid"),
                    ("metadata.taints[2].key", "FieldValueInvalid"),
                    ("metadata.taints[2].effect", "FieldValueRequired"),
                ],
            ),
            (
                json!({"status": {"capacity": {"cpu": "-1", "pods": "1500m"}}}),
                vec![
                    ("status.capacity.cpu", "FieldValueInvalid"),
                    ("status.allocatable.cpu", "FieldValueInvalid"),
                    ("status.capacity.pods", "FieldValueInvalid"),
                    ("status.allocatable.pods", "FieldValueInvalid"),
                ],
            ),
        ];
        for (patch, want) in cases {
            assert_errors(&validate_create("nodes", &node(patch.clone())), &want);
        }
    }

    #[test]
    fn updates() {
        let old = node(json!({"spec": {"podCIDR": "10.244.1.0/24"}}));
        let same = node(json!({"spec": {"podCIDR": "10.244.1.0/24", "unschedulable": true}}));
        assert_errors(&validate_update("nodes", &same, &old), &[]);
        let moved = node(json!({"spec": {"podCIDR": "10.244.9.0/24"}}));
        assert_errors(
            &validate_update("nodes", &moved, &old),
            &[("spec.podCIDRs", "FieldValueForbidden")],
        );
        let fresh = node(json!({}));
        assert_errors(&validate_update("nodes", &old, &fresh), &[]);
        let dup = merge(
            &old,
            &json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "InternalIP", "address": "10.0.0.1"}]}}),
        );
        assert_errors(
            &validate_update("nodes", &dup, &old),
            &[("status.addresses[1]", "FieldValueDuplicate")],
        );
    }
}
