//! Kubernetes strategic merge patch, as upstream's `k8s.io/apimachinery/pkg/util/strategicpatch`
//! applies and computes it, driven by the merge keys and strategies of [`crate::patch_meta`]:
//!
//! - [`apply`]: applies a patch to an object, as kube-apiserver does for
//!   `application/strategic-merge-patch+json` (`StrategicMergeMapPatch` with
//!   `MergeParallelList` and `IgnoreUnmatchedNulls`);
//! - [`three_way`]: the patch `kubectl apply` sends (`CreateThreeWayMergePatch`), and
//!   [`two_way`]: the patch `kubectl edit` and `kubectl set image` send
//!   (`CreateTwoWayMergePatch`).
//!
//! The semantics, in short:
//! - maps merge key by key; a `null` value deletes the key;
//! - lists of a field tagged `patchStrategy: merge` merge: lists of objects by the field's merge
//!   key (matching elements merge recursively, new ones are added), lists of primitives as a set
//!   union; every other list is replaced;
//! - directives: `$patch: replace | delete` in a map or a list element (`merge` is rejected in a
//!   list), `$retainKeys: [..]` (clear the keys of the live map not listed),
//!   `$deleteFromPrimitiveList/<field>: [..]` and `$setElementOrder/<field>: [..]` (the order of
//!   the merged list: patch order first, then the live order for items only the server has).
//!
//! A three-way patch is the difference from the live object (`current`) to the user's new
//! configuration (`modified`) without deletions, merged with the deletions from the previously
//! applied configuration (`original`, the last-applied annotation) to `modified`: fields set on
//! the server by someone else survive, fields the user removed from the file go away. The two
//! halves are merged by the same code that applies a patch, with upstream's options for merging
//! two patches (directives are carried over rather than carried out).
//!
//! Upstream walks Go maps, so the order in which the keys of one map are processed is random
//! there; here it is the (sorted) order of `serde_json::Map`. Only patches that both set and
//! delete the same primitive in one list could tell the difference. Upstream compares Go types:
//! integers and floats are different types, and so they are here.

mod diff;
mod go;
mod merge;
mod order;

use serde_json::{Map, Value};

use crate::patch_meta::TypeDef;
use diff::{diff_maps, DiffOptions};
use go::{go_format, GoType};
use merge::{merge_map, MergeOptions};

/// A JSON object.
pub type Object = Map<String, Value>;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// Why a patch could not be applied or computed, in upstream's words (`mergepatch` errors and
/// those of `strategicpatch`); values are printed as Go's `%v` prints them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StrategicMergeError {
    /// An item of a list merged by key lacks the key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// A value is not of the Go type the patch needs there (a map, a list).
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    /// The item at this position of a `$setElementOrder` list of a list of maps is not a map.
    #[error("value for key {0} is not a map")]
    NotAMapAt(usize),
    /// A merging list holds lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A merging list holds items of different types (or nulls).
    #[error("list element types are not identical: {0}")]
    MixedList(String),
    /// An element type was asked of lists that are all empty.
    #[error("no elements in any of the given slices")]
    NoElements,
    /// A `$patch` directive of both objects being compared is not a string.
    #[error("invalid value for special key: $patch")]
    BadDirectiveValue,
    /// A `$patch` directive other than `replace` or `delete` (or `merge` in a list).
    #[error("unknown patch type: {0} in map: {1}")]
    BadPatchType(String, String),
    /// `$patch: merge` in a list.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeInList,
    /// A list of maps tagged `patchStrategy: merge` without a merge key, in the named type.
    #[error("cannot merge lists without merge key for {0}")]
    NoMergeKeyDeclared(&'static str),
    /// A `$setElementOrder` key without a field, or two patches with different orders.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// A `$retainKeys` that is not a list, or a patch setting a key it does not list.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// A `$deleteFromPrimitiveList` key without a field.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// Two patches with different `$retainKeys` for the same map.
    #[error("{0} are not deep equal: this may happen when calculating the 3-way diff patch")]
    RetainKeysMismatch(String),
    /// The items of a patch list are not in the order of its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch { patch: String, order: String },
}

type Result<T> = std::result::Result<T, StrategicMergeError>;

/// Applies the strategic merge patch `patch` to `original`, whose kind has the schema `schema`
/// ([`crate::patch_meta::for_resource`]). Keys that are patch directives never reach the result.
pub fn apply(original: &Object, patch: Object, schema: &'static TypeDef) -> Result<Object> {
    let mut merged = merge_map(original.clone(), patch, Some(schema), MergeOptions::APPLY)?;
    strip_directives(&mut merged);
    Ok(merged)
}

/// The patch `kubectl apply` sends: from `current` (the live object) to `modified` (the new
/// configuration), plus the deletions from `original` (the last applied configuration, absent
/// when the object was never applied) to `modified`. Empty when nothing changes.
pub fn three_way(
    original: Option<&Object>,
    modified: &Object,
    current: &Object,
    schema: &'static TypeDef,
) -> Result<Object> {
    let delta = diff_maps(
        current,
        modified,
        Some(schema),
        DiffOptions {
            ignore_deletions: true,
            set_element_order: true,
            ..DiffOptions::default()
        },
    )?;
    let empty = Object::new();
    let deletions = diff_maps(
        original.unwrap_or(&empty),
        modified,
        Some(schema),
        DiffOptions {
            set_element_order: true,
            ignore_changes_and_additions: true,
            ..DiffOptions::default()
        },
    )?;
    merge_map(deletions, delta, Some(schema), MergeOptions::COMBINE)
}

/// The patch that turns `original` into `modified` (`kubectl edit`, `kubectl set image`).
pub fn two_way(original: &Object, modified: &Object, schema: &'static TypeDef) -> Result<Object> {
    diff_maps(
        original,
        modified,
        Some(schema),
        DiffOptions {
            set_element_order: true,
            ..DiffOptions::default()
        },
    )
}

/// Upstream decodes the patched map into the typed object, which drops any directive that a
/// patch left in place (inside a `$patch: replace` map, a replaced list, or a newly added list
/// element). No field of a Kubernetes object is named like a directive, so dropping them here
/// gives the same object.
fn strip_directives(map: &mut Object) {
    fn strip_value(value: &mut Value) {
        match value {
            Value::Object(map) => strip_directives(map),
            Value::Array(items) => items.iter_mut().for_each(strip_value),
            _ => {}
        }
    }
    map.retain(|k, _| !is_directive_key(k));
    map.values_mut().for_each(strip_value);
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key
            .strip_prefix(SET_ELEMENT_ORDER_PREFIX)
            .or_else(|| key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST_PREFIX))
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A list element `{"$patch": "delete", ...}`.
fn is_delete_item(item: &Value) -> bool {
    item.get(DIRECTIVE_MARKER)
        .is_some_and(|d| d.as_str() == Some(DELETE_DIRECTIVE))
}

/// A map holding `$patch`.
fn has_directive_marker(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

fn expected_map(actual: &Value) -> StrategicMergeError {
    StrategicMergeError::BadArgType {
        expected: GoType::Map.name(),
        actual: GoType::of(actual).name(),
    }
}

fn expected_list(actual: &Value) -> StrategicMergeError {
    StrategicMergeError::BadArgType {
        expected: GoType::Slice.name(),
        actual: GoType::of(actual).name(),
    }
}

fn no_merge_key(map: &Object, key: &str) -> StrategicMergeError {
    StrategicMergeError::NoMergeKey {
        map: go_format(&Value::Object(map.clone())),
        key: key.to_owned(),
    }
}

#[cfg(test)]
mod tests;
