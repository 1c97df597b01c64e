//! Computing the patch between two objects (upstream `diffMaps` and `diffLists`), the first
//! half of a two- or three-way patch.

use std::cmp::Ordering;

use serde_json::Value;

use super::go::{go_deduplicate, go_format, slice_element_type, GoType};
use super::order::{merge_key_value_equal, normalize_slice_order};
use super::{
    expected_map, no_merge_key, Object, Result, StrategicMergeError, DELETE_DIRECTIVE,
    DELETE_FROM_PRIMITIVE_LIST_PREFIX, DIRECTIVE_MARKER, RETAIN_KEYS_DIRECTIVE,
    SET_ELEMENT_ORDER_PREFIX,
};
use crate::patch_meta::{lookup, Schema, Strategy};

/// Upstream's `DiffOptions`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DiffOptions {
    /// Add `$setElementOrder/<field>` lists for merged lists whose content or order changed.
    pub(super) set_element_order: bool,
    /// Only deletions: what the modified object adds or changes is left out.
    pub(super) ignore_changes_and_additions: bool,
    /// Only additions and changes: what the modified object lacks is left out.
    pub(super) ignore_deletions: bool,
    /// The map at hand is tagged `retainKeys`: the patch lists the keys it keeps.
    pub(super) build_retain_keys: bool,
}

/// The patch from `original` to `modified`, as `options` restrict it.
pub(super) fn diff_maps(
    original: &Object,
    modified: &Object,
    schema: Schema,
    options: DiffOptions,
) -> Result<Object> {
    let mut patch = Object::new();
    let mut retain_keys: Vec<Value> = Vec::new();
    for (key, modified_value) in modified {
        if options.build_retain_keys && !modified_value.is_null() {
            retain_keys.push(Value::String(key.clone()));
        }
        let Some(original_value) = original.get(key) else {
            if !options.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        };
        if key == DIRECTIVE_MARKER {
            match (original_value, modified_value) {
                (Value::String(o), Value::String(m)) => {
                    if o != m {
                        patch.insert(key.clone(), modified_value.clone());
                    }
                    continue;
                }
                _ => return Err(StrategicMergeError::BadDirectiveValue),
            }
        }
        if GoType::of(original_value) != GoType::of(modified_value) {
            if !options.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        }
        match (original_value, modified_value) {
            (Value::Object(o), Value::Object(m)) => {
                let (node, meta) = lookup(schema, key);
                let options = DiffOptions {
                    build_retain_keys: meta.retain_keys,
                    ..options
                };
                if meta.strategy == Strategy::Replace {
                    if !options.ignore_changes_and_additions {
                        patch.insert(key.clone(), modified_value.clone());
                    }
                } else {
                    let value = diff_maps(o, m, node, options)?;
                    if !value.is_empty() {
                        patch.insert(key.clone(), Value::Object(value));
                    }
                }
            }
            (Value::Array(o), Value::Array(m)) => {
                let (node, meta) = lookup(schema, key);
                if meta.strategy == Strategy::Merge {
                    let options = DiffOptions {
                        build_retain_keys: meta.retain_keys,
                        ..options
                    };
                    let lists = diff_lists(o, m, node, meta.merge_key, options)?;
                    if !lists.patch.is_empty() {
                        patch.insert(key.clone(), Value::Array(lists.patch));
                    }
                    if !lists.deletions.is_empty() {
                        patch.insert(
                            format!("{DELETE_FROM_PRIMITIVE_LIST_PREFIX}/{key}"),
                            Value::Array(lists.deletions),
                        );
                    }
                    if !lists.order.is_empty() {
                        patch.insert(
                            format!("{SET_ELEMENT_ORDER_PREFIX}/{key}"),
                            Value::Array(lists.order),
                        );
                    }
                } else {
                    replace_if_not_equal(key, original_value, modified_value, &mut patch, options);
                }
            }
            _ => replace_if_not_equal(key, original_value, modified_value, &mut patch, options),
        }
    }
    if !options.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    if !retain_keys.is_empty() && (!patch.is_empty() || has_additional_field(original, modified)) {
        sort_scalars(&mut retain_keys);
        patch.insert(RETAIN_KEYS_DIRECTIVE.into(), Value::Array(retain_keys));
    }
    Ok(patch)
}

fn replace_if_not_equal(
    key: &str,
    original: &Value,
    modified: &Value,
    patch: &mut Object,
    options: DiffOptions,
) {
    if !options.ignore_changes_and_additions && original != modified {
        patch.insert(key.to_owned(), modified.clone());
    }
}

/// Whether `original` has a non-null key that `modified` lacks.
fn has_additional_field(original: &Object, modified: &Object) -> bool {
    original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k))
}

/// The three parts of a merged list's patch.
#[derive(Debug, Default)]
struct ListPatch {
    patch: Vec<Value>,
    deletions: Vec<Value>,
    order: Vec<Value>,
}

fn diff_lists(
    original: &[Value],
    modified: &[Value],
    schema: Schema,
    merge_key: &str,
    options: DiffOptions,
) -> Result<ListPatch> {
    if original.is_empty() {
        if modified.is_empty() || options.ignore_changes_and_additions {
            return Ok(ListPatch::default());
        }
        return Ok(ListPatch {
            patch: modified.to_vec(),
            ..ListPatch::default()
        });
    }
    match slice_element_type(&[original, modified])? {
        GoType::Map => {
            let (patch, deletions) =
                diff_lists_of_maps(original, modified, schema, merge_key, options)?;
            let mut patch = normalize_slice_order(patch, modified, merge_key, GoType::Map)?;
            let order_same = is_order_same(original, modified, merge_key)?;
            patch.extend(deletions);
            let mut order = Vec::new();
            if options.set_element_order
                && ((!options.ignore_changes_and_additions && (!patch.is_empty() || !order_same))
                    || (!options.ignore_deletions && !patch.is_empty()))
            {
                order = modified
                    .iter()
                    .map(|item| {
                        let value = item.get(merge_key).cloned().unwrap_or(Value::Null);
                        let mut only_key = Object::new();
                        only_key.insert(merge_key.to_owned(), value);
                        Value::Object(only_key)
                    })
                    .collect();
            }
            Ok(ListPatch {
                patch,
                deletions: Vec::new(),
                order,
            })
        }
        GoType::Slice => Err(StrategicMergeError::ListOfLists),
        kind => {
            let (patch, deletions) = diff_lists_of_scalars(original, modified, options);
            let patch = normalize_slice_order(patch, modified, merge_key, kind)?;
            let order = if options.set_element_order
                && ((!options.ignore_deletions && !deletions.is_empty())
                    || (!options.ignore_changes_and_additions && original != modified))
            {
                modified.to_vec()
            } else {
                Vec::new()
            };
            Ok(ListPatch {
                patch,
                deletions,
                order,
            })
        }
    }
}

/// The additions and the deletions between two lists of scalars, compared as sets.
pub(super) fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    options: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let mut original = original.to_vec();
    let mut modified = modified.to_vec();
    sort_scalars(&mut original);
    sort_scalars(&mut modified);
    let (mut i, mut j) = (0, 0);
    let mut additions = Vec::new();
    let mut deletions = Vec::new();
    while i < original.len() || j < modified.len() {
        let order = match (original.get(i), modified.get(j)) {
            (Some(o), Some(m)) => go_format(o).cmp(&go_format(m)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
            Ordering::Less => {
                if !options.ignore_deletions {
                    deletions.push(original[i].clone());
                }
                i += 1;
            }
            Ordering::Greater => {
                if !options.ignore_changes_and_additions {
                    additions.push(modified[j].clone());
                }
                j += 1;
            }
        }
    }
    let len = go_deduplicate(&mut deletions);
    deletions.truncate(len);
    (additions, deletions)
}

fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    schema: Schema,
    merge_key: &str,
    options: DiffOptions,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let original = sorted_by_merge_key(original, merge_key)?;
    let modified = sorted_by_merge_key(modified, merge_key)?;
    let mut patch = Vec::new();
    let mut deletions = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < original.len() || j < modified.len() {
        let order = match (original.get(i), modified.get(j)) {
            (Some((o, _)), Some((m, _))) => o.cmp(m),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Equal => {
                let (_, o) = original[i];
                let (_, m) = modified[j];
                let mut value = diff_maps(o, m, schema, options)?;
                if !value.is_empty() {
                    value.insert(merge_key.to_owned(), m[merge_key].clone());
                    patch.push(Value::Object(value));
                }
                i += 1;
                j += 1;
            }
            Ordering::Greater => {
                if !options.ignore_changes_and_additions {
                    patch.push(Value::Object(modified[j].1.clone()));
                }
                j += 1;
            }
            Ordering::Less => {
                if !options.ignore_deletions {
                    let mut directive = Object::new();
                    directive.insert(merge_key.to_owned(), original[i].1[merge_key].clone());
                    directive.insert(
                        DIRECTIVE_MARKER.into(),
                        Value::String(DELETE_DIRECTIVE.into()),
                    );
                    deletions.push(Value::Object(directive));
                }
                i += 1;
            }
        }
    }
    Ok((patch, deletions))
}

/// The maps of a list with the `%v` of their merge key, sorted by it.
fn sorted_by_merge_key<'a>(
    list: &'a [Value],
    merge_key: &str,
) -> Result<Vec<(String, &'a Object)>> {
    let mut out = list
        .iter()
        .map(|item| {
            let map = item.as_object().ok_or_else(|| expected_map(item))?;
            let key = map
                .get(merge_key)
                .ok_or_else(|| no_merge_key(map, merge_key))?;
            Ok((go_format(key), map))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn sort_scalars(values: &mut [Value]) {
    values.sort_by_key(go_format);
}

fn is_order_same(original: &[Value], modified: &[Value], merge_key: &str) -> Result<bool> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !merge_key_value_equal(o, m, merge_key)? {
            return Ok(false);
        }
    }
    Ok(true)
}
