//! Strategic merge patch, applied server-side as upstream's
//! `k8s.io/apimachinery/pkg/util/strategicpatch` does (`StrategicMergeMapPatch` with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`).
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
//! Upstream iterates Go maps, so the order in which the keys of one patch map are processed is
//! random there; here it is the (sorted) order of `serde_json::Map`. Only patches that both set
//! and delete the same primitive in one list could tell the difference.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::schema::{self, PatchMeta, Schema, Strategy};
use super::PatchError;
use crate::object::json_type;

type Result<T> = std::result::Result<T, PatchError>;
type Object = Map<String, Value>;

/// How the Go slices of the original object are laid out in memory upstream, which decides
/// what a `$setElementOrder` directive sees as the live order (see [`Merged::original_view`]).
#[derive(Clone, Copy)]
pub(crate) struct Options {
    /// The capacity of the Go slice holding a list of `len` items of the original object.
    pub(crate) capacity: fn(usize) -> usize,
}

impl Options {
    /// The apiserver: the object to patch is a deep copy from the watch cache (`make(len)`),
    /// converted and turned into a map keeping capacities, so every list is exactly full.
    pub(crate) const APISERVER: Options = Options {
        capacity: |len| len,
    };
}

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Applies the strategic merge patch `patch` (a JSON body) to `original`, with the schema of
/// `resource`. Keys that are patch directives never reach the result.
pub(crate) fn apply(resource: &str, original: &Value, patch: &[u8]) -> Result<Value> {
    let patch: Value = serde_json::from_slice(patch).map_err(|e| bad(e.to_string()))?;
    let patch = match patch {
        Value::Object(map) => map,
        // Go decodes `null` into a nil map: a patch that changes nothing.
        Value::Null => Object::new(),
        other => {
            return Err(bad(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_type(&other)
            )))
        }
    };
    let Value::Object(original) = original else {
        return Err(bad(
            "invalid JSON document: the object to patch is not a JSON object",
        ));
    };
    let merged = merge_map(
        original.clone(),
        patch,
        Some(schema::for_resource(resource)),
        Options::APISERVER,
    )?;
    let mut merged = Value::Object(merged);
    strip_directives(&mut merged);
    Ok(merged)
}

/// Upstream decodes the patched map into the typed object, which drops any directive that a
/// patch left in place (inside a `$patch: replace` map, a replaced list, or a newly added list
/// element). No field of a Kubernetes object is named like a directive, so dropping them here
/// gives the same object.
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_directive_key(k));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE_MARKER
        || key == RETAIN_KEYS_DIRECTIVE
        || key
            .strip_prefix(SET_ELEMENT_ORDER_PREFIX)
            .or_else(|| key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST_PREFIX))
            .is_some_and(|rest| rest.starts_with('/'))
}

// ---- errors -------------------------------------------------------------------------------

fn bad(message: impl Into<String>) -> PatchError {
    PatchError::BadRequest(message.into())
}

/// The Go type name a decoded JSON value has upstream, for messages.
fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    bad(format!(
        "expected a {expected}, but received a {}",
        go_type_name(actual)
    ))
}

fn expected_map(actual: &Value) -> PatchError {
    bad_arg_type("map[string]interface {}", actual)
}

fn expected_list(actual: &Value) -> PatchError {
    bad_arg_type("[]interface {}", actual)
}

fn no_merge_key(map: &Object, key: &str) -> PatchError {
    bad(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(map.clone())
    ))
}

fn bad_patch_type(directive: &Value, map: &Object) -> PatchError {
    let directive = match directive {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    bad(format!(
        "unknown patch type: {directive} in map: {}",
        Value::Object(map.clone())
    ))
}

/// Strips `prefix/` from a parallel-list key (`$setElementOrder/containers` -> `containers`).
fn extract_key<'a>(key: &'a str, prefix: &str, error: &'static str) -> Result<&'a str> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest),
        _ => Err(bad(error)),
    }
}

// ---- values -------------------------------------------------------------------------------

/// The Go type of a decoded JSON value, as upstream compares them (`reflect.TypeOf`): integers
/// (int64) and other numbers (float64) are different types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    List,
    Map,
}

fn kind_of(value: &Value) -> Kind {
    match value {
        Value::Null => Kind::Nil,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Map,
    }
}

/// The common element type of some lists; errors when they mix types, hold lists, or are all
/// empty.
fn slice_element_type(lists: &[&[Value]]) -> Result<Kind> {
    let mut kind = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let this = kind_of(item);
        match kind {
            None if this == Kind::List => {
                return Err(PatchError::Invalid(
                    "lists of lists are not supported".into(),
                ))
            }
            None if this == Kind::Nil => {
                return Err(bad("list element types are not identical: null elements"))
            }
            None => kind = Some(this),
            Some(k) if k != this => {
                let lists: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(bad(format!(
                    "list element types are not identical: {}",
                    Value::Array(lists)
                )));
            }
            Some(_) => {}
        }
    }
    kind.ok_or_else(|| bad("no elements in any of the given slices"))
}

/// A canonical string for a value, equal for equal values, used to index list items.
fn canonical(value: Option<&Value>) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.push_str("0.0"),
            Value::Object(map) => {
                out.push('{');
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (k, v) in entries {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for v in items {
                    write(v, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    match value {
        None => out.push_str("null"),
        Some(v) => write(v, &mut out),
    }
    out
}

/// First positions of item identities in a list; upstream scans the list for each look-up.
#[derive(Default)]
struct Index {
    first: HashMap<String, usize>,
}

impl Index {
    fn insert(&mut self, id: Option<&Value>, position: usize) {
        self.first.entry(canonical(id)).or_insert(position);
    }

    fn position(&self, id: Option<&Value>) -> Option<usize> {
        self.first.get(&canonical(id)).copied()
    }

    fn contains(&self, id: Option<&Value>) -> bool {
        self.position(id).is_some()
    }

    /// Indexes `items` by [`order_id`].
    fn of(items: &[Value], merge_key: &str, kind: Kind) -> Index {
        let mut index = Index::default();
        for (i, item) in items.iter().enumerate() {
            index.insert(order_id(item, merge_key, kind), i);
        }
        index
    }
}

/// What identifies a list item when ordering a list: its merge-key value in a list of maps,
/// the item itself otherwise. `None` is Go's nil: a missing key, a non-map, or JSON null.
fn order_id<'a>(item: &'a Value, merge_key: &str, kind: Kind) -> Option<&'a Value> {
    let id = if kind == Kind::Map {
        item.as_object().and_then(|m| m.get(merge_key))?
    } else {
        item
    };
    (!id.is_null()).then_some(id)
}

/// Removes directive maps (those holding `$patch`) from a patch value, recursively; `None` when
/// the value itself is one.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) => {
            if map.contains_key(DIRECTIVE_MARKER) {
                return None;
            }
            let map = map
                .into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect();
            Some(Value::Object(map))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Drops the null-valued keys of every map inside a patch value.
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

fn is_delete_item(item: &Value) -> bool {
    item.get(DIRECTIVE_MARKER)
        .is_some_and(|d| d.as_str() == Some(DELETE_DIRECTIVE))
}

fn has_directive_marker(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|m| m.contains_key(DIRECTIVE_MARKER))
}

// ---- maps ---------------------------------------------------------------------------------

/// Merges `patch` into `original` (upstream `mergeMap`).
pub(crate) fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Schema,
    opts: Options,
) -> Result<Object> {
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        return match directive.as_str() {
            Some(REPLACE_DIRECTIVE) => {
                // The patch replaces the map as it is (only its own marker goes).
                patch.remove(DIRECTIVE_MARKER);
                Ok(patch)
            }
            Some(DELETE_DIRECTIVE) => Ok(Object::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, schema, opts)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            let field = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX, ERR_PRIMITIVE_LIST)?;
            let field = if field.is_empty() {
                key.clone()
            } else {
                field.to_string()
            };
            (field, true)
        } else {
            (key, false)
        };

        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }

        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        };

        if kind_of(&original_value) != kind_of(&patch_value) {
            if is_delete_list {
                original.insert(key, original_value);
            } else {
                insert_patch_value(&mut original, key, patch_value);
            }
            continue;
        }

        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (subschema, meta) = schema::lookup(schema, &key);
                if meta.strategy == Strategy::Replace {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, subschema, opts)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (subschema, meta) = schema::lookup(schema, &key);
                Value::Array(
                    merge_slice_handler(o, p, subschema, meta, is_delete_list, opts)?.items,
                )
            }
            (_, p) => match remove_directives(p) {
                Some(v) => v,
                None => continue,
            },
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// A patch value for a key the original lacks (or holds with another type) is taken as it is,
/// less its nulls and directives.
fn insert_patch_value(original: &mut Object, key: String, mut value: Value) {
    discard_nulls(&mut value);
    if let Some(value) = remove_directives(value) {
        original.insert(key, value);
    }
}

/// `$retainKeys`: every key of the patch must be listed, and keys of `original` not listed go.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(bad(ERR_RETAIN_KEYS));
    };
    let keep: HashSet<&str> = list.iter().filter_map(Value::as_str).collect();
    for (key, value) in patch.iter() {
        if value.is_null()
            || key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || key.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !keep.contains(key.as_str()) {
            return Err(bad(ERR_RETAIN_KEYS));
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

/// `$setElementOrder/<field>`: merges `<field>` of the patch (when present) into the original
/// and orders the result by the directive's list, keeping server-only items in their live
/// order relative to it (upstream `mergePatchIntoOriginal`).
fn merge_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
    opts: Options,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let order = match order {
            Value::Array(items) => items,
            other => return Err(expected_list(&other)),
        };
        let field = extract_key(&key, SET_ELEMENT_ORDER_PREFIX, ERR_SET_ELEMENT_ORDER)?;

        let original_list = match original.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(expected_list(other)),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(expected_list(other)),
        };

        let (subschema, meta) = schema::lookup(schema, field);
        validate_patch_with_set_order(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            meta.merge_key,
        )?;

        let kind = slice_element_type(&[
            original_list.as_deref().unwrap_or_default(),
            patch_list.as_deref().unwrap_or_default(),
        ]);
        // The live order is read from the original list after the merge, as upstream reads it
        // from a Go slice that merging may have written into.
        let (merged, server_order) = match (original_list, patch_list) {
            (Some(o), None) => (o.clone(), o),
            (None, Some(p)) => (
                p.into_iter().filter_map(remove_directives).collect(),
                Vec::new(),
            ),
            (Some(o), Some(p)) => {
                let merged = merge_slice_handler(o, p, subschema, meta, false, opts)?;
                (merged.items, merged.original_view)
            }
            (None, None) => continue,
        };

        let (patch_items, server_only) = partition(merged, &order, meta.merge_key)?;
        let ordered = normalize_element_order(
            patch_items,
            server_only,
            &order,
            &server_order,
            meta.merge_key,
            kind?,
        )?;
        original.insert(field.to_string(), Value::Array(ordered));
        patch.remove(field);
    }
    Ok(())
}

/// Checks that the items of the patch list appear in the `$setElementOrder` list, in the same
/// relative order (deletions and other directive items aside).
fn validate_patch_with_set_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<()> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = if merge_key.is_empty() {
        patch_list.iter().collect()
    } else {
        if let Some(not_map) = patch_list.iter().find(|v| !v.is_object()) {
            return Err(expected_map(not_map));
        }
        patch_list.iter().filter(|v| !is_delete_item(v)).collect()
    };
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if has_directive_marker(items[p]) {
            p += 1;
            continue;
        }
        if merge_key_value_equal(items[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() && o >= order.len() {
        return Err(bad(format!(
            "the order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            Value::Array(patch_list.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let left = left.as_object().ok_or_else(|| expected_map(left))?;
    let right = right.as_object().ok_or_else(|| expected_map(right))?;
    let l = left
        .get(merge_key)
        .ok_or_else(|| no_merge_key(left, merge_key))?;
    let r = right
        .get(merge_key)
        .ok_or_else(|| no_merge_key(right, merge_key))?;
    Ok(l == r)
}

// ---- lists --------------------------------------------------------------------------------

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    meta: PatchMeta,
    is_delete_list: bool,
    opts: Options,
) -> Result<Merged> {
    // Deletion lists are handled alike whatever the field's strategy.
    if meta.strategy == Strategy::Merge || is_delete_list {
        merge_slice(
            original,
            patch,
            schema,
            meta.merge_key,
            is_delete_list,
            opts,
        )
    } else {
        Ok(Merged {
            items: patch,
            original_view: original,
        })
    }
}

/// A merged list, and what upstream's Go slice of the original list holds afterwards.
struct Merged {
    items: Vec<Value>,
    /// The original list as upstream sees it after the merge. Go merges lists in place where
    /// it can: deleting an item shifts the later ones left within the same array, and items
    /// appended while the slice has room are written into it. Upstream's `$setElementOrder`
    /// handling then orders the result by this mutated view of the live list, so the view is
    /// reproduced here from the slice's capacity ([`Options`]).
    original_view: Vec<Value>,
}

/// Merges two lists of a merging field (upstream `mergeSlice`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
    opts: Options,
) -> Result<Merged> {
    if original.is_empty() && patch.is_empty() {
        return Ok(Merged {
            items: Vec::new(),
            original_view: original,
        });
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let capacity = (opts.capacity)(original.len()).max(original.len());

    if kind != Kind::Map {
        if is_delete_list {
            let doomed = Index::of(&patch, "", kind);
            let items = original
                .iter()
                .filter(|v| !doomed.contains(Some(v)))
                .cloned()
                .collect();
            return Ok(Merged {
                items,
                original_view: original,
            });
        }
        // `append(original, patch...)` then an in-place deduplication: both happen in the
        // original's array when it has room for the patch.
        let n = original.len();
        let in_place = n + patch.len() <= capacity;
        let mut both: Vec<Value> = original.iter().chain(patch.iter()).cloned().collect();
        let len = go_deduplicate(&mut both);
        let view = if in_place {
            both[..n].to_vec()
        } else {
            original
        };
        both.truncate(len);
        let (patch_items, server_only) = partition(both, &patch, merge_key)?;
        let items =
            normalize_element_order(patch_items, server_only, &patch, &view, merge_key, kind)?;
        return Ok(Merged {
            items,
            original_view: view,
        });
    }

    if merge_key.is_empty() {
        return Err(bad(format!(
            "cannot merge lists without merge key for {}",
            schema::name(schema)
        )));
    }

    // The directive elements: `$patch: delete` removes the matching items from the original
    // (shifting the rest left within its array), `$patch: replace` makes the other patch items
    // the whole list.
    let mut array = original;
    let mut len = array.len();
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(map) = item.as_object() else {
            return Err(expected_map(&item));
        };
        let Some(directive) = map.get(DIRECTIVE_MARKER) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE_DIRECTIVE) => {
                let value = map
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?;
                while let Some(i) = array[..len]
                    .iter()
                    .position(|o| o.get(merge_key) == Some(value))
                {
                    for j in i..len - 1 {
                        array[j] = array[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            // Go on, to drop the other directive elements.
            Some(REPLACE_DIRECTIVE) => replace = true,
            Some(MERGE_DIRECTIVE) => {
                return Err(bad("merging lists cannot yet be specified in the patch"))
            }
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    let (current, patch, array_capacity) = if replace {
        (plain, Vec::new(), 0)
    } else {
        (array[..len].to_vec(), plain, capacity)
    };

    let server_order = current.clone();
    let merged = merge_slice_without_special_elements(
        current,
        patch.clone(),
        merge_key,
        schema,
        opts,
        (&mut array, array_capacity),
    )?;
    let (patch_items, server_only) = partition(merged, &patch, merge_key)?;
    let items = normalize_element_order(
        patch_items,
        server_only,
        &patch,
        &server_order,
        merge_key,
        kind,
    )?;
    Ok(Merged {
        items,
        original_view: array,
    })
}

/// Go's `deduplicateScalars`, in place: a duplicate is overwritten by the last item and the
/// slice shrinks. Returns the new length; the items past it keep what Go leaves there.
fn go_deduplicate(items: &mut [Value]) -> usize {
    let mut length = items.len();
    let mut i = 0;
    while i + 1 < length {
        let mut j = i + 1;
        while j < length {
            if items[i] == items[j] {
                items[j] = items[length - 1].clone();
                length -= 1;
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    length
}

/// Merges each patch item into the original item with the same merge-key value, or appends it.
/// `array` is the Go array behind `original` and how many of its slots are usable: appends
/// that fit land in it (upstream reads its first `array.len()` slots later on).
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema,
    opts: Options,
    (array, array_capacity): (&mut [Value], usize),
) -> Result<Vec<Value>> {
    // Positions by merge-key value; items without the key are never matched.
    let mut index = Index::default();
    for (i, item) in original.iter().enumerate() {
        let map = item.as_object().ok_or_else(|| expected_map(item))?;
        if let Some(v) = map.get(merge_key) {
            index.insert(Some(v), i);
        }
    }
    let mut in_array = true;
    for item in patch {
        let Value::Object(map) = item else {
            return Err(expected_map(&item));
        };
        let value = map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(&map, merge_key))?;
        match index.position(Some(value)) {
            Some(i) => {
                let current = std::mem::take(&mut original[i]);
                let Value::Object(current) = current else {
                    return Err(expected_map(&current));
                };
                original[i] = Value::Object(merge_map(current, map, schema, opts)?);
            }
            None => {
                let at = original.len();
                if in_array && at < array_capacity {
                    if let Some(slot) = array.get_mut(at) {
                        *slot = Value::Object(map.clone());
                    }
                } else {
                    // Go's append moved the slice to a new array.
                    in_array = false;
                }
                index.insert(Some(value), at);
                original.push(Value::Object(map));
            }
        }
    }
    Ok(original)
}

/// Splits `items` into those present in `by` (by merge-key value, or by value for primitives)
/// and the others, each in their current order.
fn partition(items: Vec<Value>, by: &[Value], merge_key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut index = Index::default();
    if merge_key.is_empty() {
        for (i, v) in by.iter().enumerate() {
            index.insert(Some(v), i);
        }
    } else if !items.is_empty() {
        for (i, v) in by.iter().enumerate() {
            let map = v
                .as_object()
                .ok_or_else(|| bad(format!("value for key {i} is not a map")))?;
            if let Some(value) = map.get(merge_key) {
                index.insert(Some(value), i);
            }
        }
    }
    let mut present = Vec::with_capacity(items.len());
    let mut absent = Vec::new();
    for item in items {
        let id = if merge_key.is_empty() {
            Some(&item)
        } else {
            let map = item.as_object().ok_or_else(|| expected_map(&item))?;
            Some(
                map.get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?,
            )
        };
        if index.contains(id) {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Orders a merged list: `patch_items` sorted by `patch_order`, `server_only` sorted by
/// `server_order`, then the server-only items interleaved into the patch items where the live
/// order puts them (upstream `normalizeElementOrder` and `mergeSortedSlice`).
fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>> {
    let right = normalize_slice_order(patch_items, patch_order, merge_key, kind)?;
    let left = normalize_slice_order(server_only, server_order, merge_key, kind)?;

    let index = Index::of(server_order, merge_key, kind);
    let position = |v: &Value| index.position(order_id(v, merge_key, kind));
    let left: Vec<(Option<usize>, Value)> = left.into_iter().map(|v| (position(&v), v)).collect();
    let right: Vec<(Option<usize>, Value)> = right.into_iter().map(|v| (position(&v), v)).collect();

    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // A server-only item goes first only when both are in the live list and it is
            // earlier there.
            (Some((Some(l), _)), Some((Some(r), _))) => l < r,
            (Some(_), Some(_)) => false,
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, v)) = next {
            out.push(v);
        }
    }
    Ok(out)
}

/// Sorts `items` by their positions in `order`; `$patch: delete` items go last
/// (upstream `normalizeSliceOrder`).
fn normalize_slice_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>> {
    let (items, deletes) = if kind == Kind::Map {
        for item in items.iter().chain(order.iter()) {
            let map = item.as_object().ok_or_else(|| expected_map(item))?;
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
        items.into_iter().partition(|v| !is_delete_item(v))
    } else {
        (items, Vec::new())
    };
    let index = Index::of(order, merge_key, kind);
    let mut decorated: Vec<(Option<usize>, Value)> = items
        .into_iter()
        .map(|v| (index.position(order_id(&v, merge_key, kind)), v))
        .collect();
    // Upstream's comparator: by position when both are found, else "less". Go's stable sort
    // is reproduced so that even that inconsistent case orders as upstream does.
    go_stable_sort(&mut decorated, &|a, b| match (a.0, b.0) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    });
    Ok(decorated
        .into_iter()
        .map(|(_, v)| v)
        .chain(deletes)
        .collect())
}

// ---- Go's sort.SliceStable --------------------------------------------------------------

/// The algorithm of Go's `sort.SliceStable` (insertion sort of blocks of 20, then SymMerge), so
/// that the result matches upstream for any comparator. Never panics.
fn go_stable_sort<T>(data: &mut [T], less: &dyn Fn(&T, &T) -> bool) {
    let n = data.len();
    let mut block = 20;
    let (mut a, mut b) = (0, block);
    while b <= n {
        insertion_sort(data, a, b, less);
        a = b;
        b += block;
    }
    insertion_sort(data, a, n, less);
    while block < n {
        let (mut a, mut b) = (0, 2 * block);
        while b <= n {
            sym_merge(data, a, a + block, b, less);
            a = b;
            b += 2 * block;
        }
        let m = a + block;
        if m < n {
            sym_merge(data, a, m, n, less);
        }
        block *= 2;
    }
}

fn insertion_sort<T>(data: &mut [T], a: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    for i in a + 1..b {
        let mut j = i;
        while j > a && less(&data[j], &data[j - 1]) {
            data.swap(j, j - 1);
            j -= 1;
        }
    }
}

fn sym_merge<T>(data: &mut [T], a: usize, m: usize, b: usize, less: &dyn Fn(&T, &T) -> bool) {
    if m - a == 1 {
        let (mut i, mut j) = (m, b);
        while i < j {
            let h = (i + j) / 2;
            if less(&data[h], &data[a]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        for k in a..i.saturating_sub(1) {
            data.swap(k, k + 1);
        }
        return;
    }
    if b - m == 1 {
        let (mut i, mut j) = (a, m);
        while i < j {
            let h = (i + j) / 2;
            if !less(&data[m], &data[h]) {
                i = h + 1;
            } else {
                j = h;
            }
        }
        let mut k = m;
        while k > i {
            data.swap(k, k - 1);
            k -= 1;
        }
        return;
    }
    let mid = (a + b) / 2;
    let n = mid + m;
    let (mut start, mut r) = if m > mid { (n - b, mid) } else { (a, m) };
    let p = n - 1;
    while start < r {
        let c = (start + r) / 2;
        if !less(&data[p - c], &data[c]) {
            start = c + 1;
        } else {
            r = c;
        }
    }
    let end = n - start;
    if start < m && m < end {
        rotate(data, start, m, end);
    }
    if a < start && start < mid {
        sym_merge(data, a, start, mid, less);
    }
    if mid < end && end < b {
        sym_merge(data, mid, end, b, less);
    }
}

/// Swaps `data[a..m]` and `data[m..b]`.
fn rotate<T>(data: &mut [T], a: usize, m: usize, b: usize) {
    data[a..b].rotate_left(m - a);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_stable_sort_sorts_stably() {
        let mut v: Vec<(u32, usize)> = (0..250).map(|i| ((i * 7919 % 13) as u32, i)).collect();
        go_stable_sort(&mut v, &|a, b| a.0 < b.0);
        assert!(v
            .windows(2)
            .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)));
    }

    #[test]
    fn go_stable_sort_survives_inconsistent_comparators() {
        let mut v: Vec<usize> = (0..100).collect();
        go_stable_sort(&mut v, &|_, _| true);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn directive_keys() {
        for key in [
            "$patch",
            "$retainKeys",
            "$setElementOrder/containers",
            "$deleteFromPrimitiveList/finalizers",
        ] {
            assert!(is_directive_key(key), "{key}");
        }
        for key in [
            "$ref",
            "$schema",
            "$setElementOrderX",
            "patch",
            "$deleteFromPrimitiveList",
        ] {
            assert!(!is_directive_key(key), "{key}");
        }
    }

    #[test]
    fn canonical_identities() {
        use serde_json::json;
        assert_eq!(
            canonical(Some(&json!({"b": 1, "a": [1.0, "x"]}))),
            canonical(Some(&json!({"a": [1.0, "x"], "b": 1})))
        );
        assert_ne!(canonical(Some(&json!(1))), canonical(Some(&json!(1.0))));
        assert_ne!(canonical(Some(&json!("1"))), canonical(Some(&json!(1))));
        assert_eq!(canonical(None), canonical(Some(&Value::Null)));
    }
}
