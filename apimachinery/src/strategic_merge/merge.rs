//! Merging a patch into a map (upstream `mergeMap` and `mergeSlice`), the engine behind both
//! applying a patch to an object and combining the two halves of a three-way patch.

use std::collections::HashSet;

use serde_json::Value;

use super::go::{go_deduplicate, go_format, slice_element_type, GoType};
use super::order::{merge_key_value_equal, normalize_element_order, partition, Index};
use super::{
    expected_list, expected_map, has_directive_marker, no_merge_key, Object, Result,
    StrategicMergeError, DELETE_DIRECTIVE, DELETE_FROM_PRIMITIVE_LIST_PREFIX, DIRECTIVE_MARKER,
    MERGE_DIRECTIVE, REPLACE_DIRECTIVE, RETAIN_KEYS_DIRECTIVE, SET_ELEMENT_ORDER_PREFIX,
};
use crate::patch_meta::{self, PatchMeta, Schema, Strategy};

/// Upstream's `MergeOptions`: how a patch meets what it is merged into.
#[derive(Debug, Clone, Copy)]
pub(super) struct MergeOptions {
    /// Carry out the parallel-list directives (`$deleteFromPrimitiveList`, `$retainKeys`,
    /// `$setElementOrder`) on the original; when false, `original` is itself a patch and the
    /// directives are carried over into it.
    pub(super) merge_parallel_list: bool,
    /// A `null` in the patch only deletes; when false it is kept, to send an explicit delete.
    pub(super) ignore_unmatched_nulls: bool,
}

impl MergeOptions {
    /// Applying a patch to an object, as kube-apiserver does.
    pub(super) const APPLY: MergeOptions = MergeOptions {
        merge_parallel_list: true,
        ignore_unmatched_nulls: true,
    };

    /// Merging one patch into another (the additions and changes of a three-way patch into its
    /// deletions), as `CreateThreeWayMergePatch` does.
    pub(super) const COMBINE: MergeOptions = MergeOptions {
        merge_parallel_list: false,
        ignore_unmatched_nulls: false,
    };
}

/// Merges `patch` into `original` (upstream `mergeMap`).
pub(super) fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Schema,
    opts: MergeOptions,
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

    apply_retain_keys(&mut original, &mut patch, opts)?;
    merge_set_element_order(&mut original, &mut patch, schema, opts)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
            if !opts.merge_parallel_list {
                original.insert(key, patch_value);
                continue;
            }
            let field = extract_key(
                &key,
                DELETE_FROM_PRIMITIVE_LIST_PREFIX,
                StrategicMergeError::BadPrimitiveList,
            )?;
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
            if opts.ignore_unmatched_nulls {
                continue;
            }
        }

        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list {
                insert_patch_value(&mut original, key, patch_value, opts);
            }
            continue;
        };

        if GoType::of(&original_value) != GoType::of(&patch_value) {
            if is_delete_list {
                original.insert(key, original_value);
            } else {
                insert_patch_value(&mut original, key, patch_value, opts);
            }
            continue;
        }

        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (subschema, meta) = patch_meta::lookup(schema, &key);
                if meta.strategy == Strategy::Replace {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, subschema, opts)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (subschema, meta) = patch_meta::lookup(schema, &key);
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

fn bad_patch_type(directive: &Value, map: &Object) -> StrategicMergeError {
    StrategicMergeError::BadPatchType(go_format(directive), go_format(&Value::Object(map.clone())))
}

/// Strips `prefix/` from a parallel-list key (`$setElementOrder/containers` -> `containers`).
fn extract_key<'a>(key: &'a str, prefix: &str, error: StrategicMergeError) -> Result<&'a str> {
    match key.split_once('/') {
        Some((head, rest)) if head == prefix => Ok(rest),
        _ => Err(error),
    }
}

/// A patch value for a key the original lacks (or holds with another type) is taken as it is,
/// less its directives (and its nulls, when they only delete).
fn insert_patch_value(original: &mut Object, key: String, mut value: Value, opts: MergeOptions) {
    if opts.ignore_unmatched_nulls {
        discard_nulls(&mut value);
    }
    if let Some(value) = remove_directives(value) {
        original.insert(key, value);
    }
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

/// `$retainKeys`: every key of the patch must be listed, and keys of `original` not listed go.
/// Merging two patches, both must carry the same list, or only the patch does.
fn apply_retain_keys(original: &mut Object, patch: &mut Object, opts: MergeOptions) -> Result<()> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    if !opts.merge_parallel_list {
        match original.get(RETAIN_KEYS_DIRECTIVE) {
            Some(existing) if *existing != retain => {
                return Err(StrategicMergeError::RetainKeysMismatch(format!(
                    "{} and {}",
                    go_format(existing),
                    go_format(&retain)
                )))
            }
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS_DIRECTIVE.into(), retain);
            }
        }
        return Ok(());
    }
    let Value::Array(list) = retain else {
        return Err(StrategicMergeError::BadRetainKeys);
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
            return Err(StrategicMergeError::BadRetainKeys);
        }
    }
    original.retain(|k, _| keep.contains(k.as_str()));
    Ok(())
}

/// `$setElementOrder/<field>`: merges `<field>` of the patch (when present) into the original
/// and orders the result by the directive's list, keeping server-only items in their live
/// order relative to it (upstream `mergePatchIntoOriginal`). Merging two patches, the directive
/// moves into `original`, which must not hold a different one.
fn merge_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
    opts: MergeOptions,
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
        if !opts.merge_parallel_list {
            match original.get(&key) {
                Some(existing) if *existing != order => {
                    return Err(StrategicMergeError::BadSetElementOrder)
                }
                Some(_) => {}
                None => {
                    original.insert(key.clone(), order.clone());
                }
            }
        }
        let order = match order {
            Value::Array(items) => items,
            other => return Err(expected_list(&other)),
        };
        let field = extract_key(
            &key,
            SET_ELEMENT_ORDER_PREFIX,
            StrategicMergeError::BadSetElementOrder,
        )?;

        let original_list = match original.get(field) {
            None => None,
            // A typed object upstream has no null lists: there a null is no list. In a patch
            // it is a deletion, which no order applies to.
            Some(Value::Null) if opts.merge_parallel_list => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(expected_list(other)),
        };
        let patch_list = match patch.get(field) {
            None => None,
            Some(Value::Array(items)) => Some(items.clone()),
            Some(other) => return Err(expected_list(other)),
        };

        let (subschema, meta) = patch_meta::lookup(schema, field);
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
        patch_list
            .iter()
            .filter(|v| !super::is_delete_item(v))
            .collect()
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
        return Err(StrategicMergeError::OrderMismatch {
            patch: go_format(&Value::Array(patch_list.to_vec())),
            order: go_format(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

// ---- lists --------------------------------------------------------------------------------

/// A merged list, and what upstream's Go slice of the original list holds afterwards.
struct Merged {
    items: Vec<Value>,
    /// The original list as upstream sees it after the merge. Go merges lists in place where
    /// it can: deleting an item shifts the later ones left within the same array, and items
    /// appended while the slice has room are written into it. Upstream's `$setElementOrder`
    /// handling then orders the result by this mutated view of the live list, so the view is
    /// reproduced here, for slices that are exactly full: the apiserver's object is a deep
    /// copy from the watch cache (`make(len)`). The halves of a three-way patch are Go slices
    /// grown by `append`, but they hold no `$patch` items unless the manifest itself does, and
    /// without those the view is the original list whatever the capacity.
    original_view: Vec<Value>,
}

fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    meta: PatchMeta,
    is_delete_list: bool,
    opts: MergeOptions,
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

/// Merges two lists of a merging field (upstream `mergeSlice`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
    opts: MergeOptions,
) -> Result<Merged> {
    if original.is_empty() && patch.is_empty() {
        return Ok(Merged {
            items: Vec::new(),
            original_view: original,
        });
    }
    let kind = slice_element_type(&[&original, &patch])?;
    let capacity = original.len();

    if kind != GoType::Map {
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
        return Err(StrategicMergeError::NoMergeKeyDeclared(patch_meta::name(
            schema,
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
            Some(MERGE_DIRECTIVE) => return Err(StrategicMergeError::MergeInList),
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

/// Merges each patch item into the original item with the same merge-key value, or appends it.
/// `array` is the Go array behind `original` and how many of its slots are usable: appends
/// that fit land in it (upstream reads its first `array.len()` slots later on).
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema,
    opts: MergeOptions,
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
