//! Client-side strategic merge patches, computed as upstream's
//! `k8s.io/apimachinery/pkg/util/strategicpatch` computes them for `kubectl apply`
//! (`CreateThreeWayMergePatch`), `kubectl edit` and `kubectl set image`
//! (`CreateTwoWayMergePatch`).
//!
//! A three-way patch is the difference from the live object (`current`) to the user's new
//! configuration (`modified`) without deletions, plus the deletions from the previously applied
//! configuration (`original`, the last-applied annotation) to `modified`: fields set on the
//! server by someone else survive, fields the user removed from the file go away. Lists tagged
//! with a merge key are patched element by element (`{"name": "b", "$patch": "delete"}`) and
//! carry a `$setElementOrder/<field>` list when their content or order changed; lists of
//! scalars with a merge strategy delete through `$deleteFromPrimitiveList/<field>`; maps tagged
//! `retainKeys` carry `$retainKeys`. The output is what the apiserver's strategic merge patch
//! (apiserver/src/patch) applies.
//!
//! Upstream walks Go maps (random order) and compares Go types: integers and floats are
//! different types, as [`GoType`] keeps them.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use tinykube_apimachinery::patch_meta::{lookup, PatchMeta, Schema, Strategy, TypeDef};

/// A JSON object.
pub type Object = Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a patch could not be computed (upstream's `mergepatch` errors).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    #[error("expected a map in a list merged by key, but got {0}")]
    NotAMap(String),
    #[error("lists of lists are not supported")]
    ListOfLists,
    #[error("list element types are not identical: {0}")]
    MixedList(String),
    #[error("invalid value for special key: $patch")]
    BadDirectiveValue,
    #[error("unknown patch type: {0} in map: {1}")]
    BadPatchType(String, String),
    #[error("merging lists cannot yet be specified in the patch")]
    MergeInList,
    #[error("cannot merge lists without merge key")]
    NoMergeKeyDeclared,
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    #[error("{0} are not deep equal: this may happen when calculating the 3-way diff patch")]
    RetainKeysMismatch(String),
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch { patch: String, order: String },
}

type Result<T> = std::result::Result<T, MergeError>;

#[derive(Debug, Clone, Copy, Default)]
struct DiffOptions {
    set_element_order: bool,
    ignore_changes_and_additions: bool,
    ignore_deletions: bool,
    build_retain_keys: bool,
}

/// The patch `kubectl apply` sends: from `current` to `modified`, plus the deletions from
/// `original` (absent when the object was never applied) to `modified`. Empty when nothing
/// changes.
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
    merge_map(deletions, delta, Some(schema))
}

/// The patch that turns `original` into `modified` (`kubectl edit`, `set image`).
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

/// The Go type a decoded unstructured value has: integers (`int64`) and floats (`float64`)
/// differ, so `1` and `1.5` are a type change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

pub fn go_type(value: &Value) -> GoType {
    match value {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.is_i64() => GoType::Int,
        Value::Number(_) => GoType::Float,
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

/// Go's `fmt.Sprintf("%v", value)`, which upstream sorts scalars and merge keys by.
pub fn go_format(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => go_float_v(f),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, which switches to the exponent
/// form below 1e-4 and from 1e+06 up.
fn go_float_v(f: f64) -> String {
    let exp_form = format!("{f:e}");
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((&exp_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

fn diff_maps(
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
        if key == DIRECTIVE {
            match (original_value, modified_value) {
                (Value::String(o), Value::String(m)) => {
                    if o != m {
                        patch.insert(key.clone(), modified_value.clone());
                    }
                    continue;
                }
                _ => return Err(MergeError::BadDirectiveValue),
            }
        }
        if go_type(original_value) != go_type(modified_value) {
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
                            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
                            Value::Array(lists.deletions),
                        );
                    }
                    if !lists.order.is_empty() {
                        patch.insert(
                            format!("{SET_ELEMENT_ORDER}/{key}"),
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
        patch.insert(RETAIN_KEYS.into(), Value::Array(retain_keys));
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
    match element_type(&[original, modified])? {
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
        GoType::Slice => Err(MergeError::ListOfLists),
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

fn diff_lists_of_scalars(
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
    (additions, deduplicate_scalars(deletions))
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
                    directive.insert(DIRECTIVE.into(), Value::String("delete".into()));
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
            let map = as_map(item)?;
            let key = map
                .get(merge_key)
                .ok_or_else(|| no_merge_key(map, merge_key))?;
            Ok((go_format(key), map))
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn as_map(value: &Value) -> Result<&Object> {
    value
        .as_object()
        .ok_or_else(|| MergeError::NotAMap(go_format(value)))
}

fn no_merge_key(map: &Object, merge_key: &str) -> MergeError {
    MergeError::NoMergeKey {
        map: go_format(&Value::Object(map.clone())),
        key: merge_key.to_owned(),
    }
}

fn sort_scalars(values: &mut [Value]) {
    values.sort_by_key(go_format);
}

/// Upstream's in-place deduplication, which moves the last element into each duplicate's slot.
fn deduplicate_scalars(mut values: Vec<Value>) -> Vec<Value> {
    let mut i = 0;
    while i + 1 < values.len() {
        let mut j = i + 1;
        while j < values.len() {
            if values[i] == values[j] {
                values.swap_remove(j);
            } else {
                j += 1;
            }
        }
        i += 1;
    }
    values
}

fn element_type(lists: &[&[Value]]) -> Result<GoType> {
    let mut seen: Option<GoType> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let kind = go_type(item);
        match seen {
            None if kind == GoType::Slice => return Err(MergeError::ListOfLists),
            None => seen = Some(kind),
            Some(previous) if previous != kind => {
                let all: Vec<String> = lists
                    .iter()
                    .map(|l| go_format(&Value::Array(l.to_vec())))
                    .collect();
                return Err(MergeError::MixedList(all.join(" ")));
            }
            Some(_) => {}
        }
    }
    seen.ok_or_else(|| MergeError::MixedList("no elements in any of the given slices".into()))
}

fn is_order_same(original: &[Value], modified: &[Value], merge_key: &str) -> Result<bool> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !merge_key_equal(o, m, merge_key)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let (left, right) = (as_map(left)?, as_map(right)?);
    let l = left
        .get(merge_key)
        .ok_or_else(|| no_merge_key(left, merge_key))?;
    let r = right
        .get(merge_key)
        .ok_or_else(|| no_merge_key(right, merge_key))?;
    Ok(l == r)
}

fn is_delete_directive(value: &Value) -> bool {
    value.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// Where `value` sits in `list`: by merge key for maps, by value for scalars.
fn index_in(list: &[Value], value: &Value, merge_key: &str, kind: GoType) -> Option<usize> {
    let key_of = |v: &Value| -> Option<Value> {
        if kind == GoType::Map {
            v.as_object().and_then(|m| m.get(merge_key)).cloned()
        } else {
            Some(v.clone())
        }
    };
    let wanted = key_of(value);
    list.iter().position(|item| key_of(item) == wanted)
}

/// Sorts `items` by their place in `order`; delete directives go last.
fn normalize_slice_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let (mut keep, deletes): (Vec<Value>, Vec<Value>) = if kind == GoType::Map {
        for item in items.iter().chain(order) {
            let map = as_map(item)?;
            if !map.contains_key(merge_key) {
                return Err(no_merge_key(map, merge_key));
            }
        }
        items
            .into_iter()
            .partition(|item| !is_delete_directive(item))
    } else {
        (items, Vec::new())
    };
    keep.sort_by_key(|item| index_in(order, item, merge_key, kind).unwrap_or(usize::MAX));
    keep.extend(deletes);
    Ok(keep)
}

/// Interleaves server-only items (`left`) into the patch items (`right`), keeping the relative
/// order of both and placing a server item before a patch item the live list had after it.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index_in(server_order, l, merge_key, kind),
                    index_in(server_order, r, merge_key, kind),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// Splits `merged` into the items named in `by` and the others.
fn partition_present(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    if merge_key.is_empty() {
        return Ok(merged.into_iter().partition(|item| by.contains(item)));
    }
    let mut present = Vec::new();
    let mut server_only = Vec::new();
    for item in merged {
        let map = as_map(&item)?;
        let key = map
            .get(merge_key)
            .ok_or_else(|| no_merge_key(map, merge_key))?;
        let found = by
            .iter()
            .any(|b| b.as_object().and_then(|b| b.get(merge_key)) == Some(key));
        if found {
            present.push(item);
        } else {
            server_only.push(item);
        }
    }
    Ok((present, server_only))
}

/// Merges the additions and changes (`patch`) into the deletions (`original`), the second half
/// of a three-way patch: directives stay in place rather than being applied.
fn merge_map(mut original: Object, mut patch: Object, schema: Schema) -> Result<Object> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Object::new()),
            _ => Err(MergeError::BadPatchType(
                go_format(directive),
                go_format(&Value::Object(patch.clone())),
            )),
        };
    }
    if let Some(keys) = patch.remove(RETAIN_KEYS) {
        match original.get(RETAIN_KEYS) {
            Some(existing) if *existing != keys => {
                return Err(MergeError::RetainKeysMismatch(format!(
                    "{} and {}",
                    go_format(existing),
                    go_format(&keys)
                )))
            }
            Some(_) => {}
            None => {
                original.insert(RETAIN_KEYS.into(), keys);
            }
        }
    }
    merge_set_element_orders(&mut original, &mut patch, schema)?;
    for (key, patch_value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            original.insert(key, patch_value);
            continue;
        }
        let Some(original_value) = original.remove(&key) else {
            original.insert(key, patch_value);
            continue;
        };
        if patch_value.is_null() || go_type(&original_value) != go_type(&patch_value) {
            original.insert(key, patch_value);
            continue;
        }
        let (node, meta) = lookup(schema, &key);
        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) if meta.strategy != Strategy::Replace => {
                Value::Object(merge_map(o, p, node)?)
            }
            (Value::Array(o), Value::Array(p)) => Value::Array(merge_list(o, p, node, meta)?),
            (_, p) => p,
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// Moves every `$setElementOrder/<field>` of `patch` into `original` (where the deletions may
/// hold the same list already) and merges that field's lists in the order it names.
fn merge_set_element_orders(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
) -> Result<()> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in order_keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        match original.get(&key) {
            Some(existing) if *existing != order => return Err(MergeError::BadSetElementOrder),
            Some(_) => {}
            None => {
                original.insert(key.clone(), order.clone());
            }
        }
        let Value::Array(order) = order else {
            return Err(MergeError::BadSetElementOrder);
        };
        let field = match key.split_once('/') {
            Some((SET_ELEMENT_ORDER, field)) => field.to_owned(),
            _ => return Err(MergeError::BadSetElementOrder),
        };
        let as_list = |value: Option<&Value>| -> Result<Option<Vec<Value>>> {
            match value {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items.clone())),
                Some(other) => Err(MergeError::NotAMap(go_format(other))),
            }
        };
        let original_list = as_list(original.get(&field))?;
        let patch_list = as_list(patch.get(&field))?;
        let (node, meta) = lookup(schema, &field);
        validate_order(
            patch_list.as_deref().unwrap_or_default(),
            &order,
            meta.merge_key,
        )?;
        let merged = match (&original_list, &patch_list) {
            (Some(o), None) => o.clone(),
            (None, Some(p)) => p.clone(),
            (Some(o), Some(p)) => merge_list(o.clone(), p.clone(), node, meta)?,
            (None, None) => continue,
        };
        let (present, server_only) = partition_present(merged, &order, meta.merge_key)?;
        let original_list = original_list.unwrap_or_default();
        let kind = element_type(&[&original_list, patch_list.as_deref().unwrap_or_default()])?;
        let both = normalize_element_order(
            present,
            server_only,
            &order,
            &original_list,
            meta.merge_key,
            kind,
        )?;
        original.insert(field.clone(), Value::Array(both));
        patch.remove(&field);
    }
    Ok(())
}

/// Checks that the items of a patch list appear in the order `$setElementOrder` gives.
fn validate_order(patch: &[Value], order: &[Value], merge_key: &str) -> Result<()> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = if merge_key.is_empty() {
        patch.iter().collect()
    } else {
        for item in patch {
            as_map(item)?;
        }
        patch.iter().filter(|i| !is_delete_directive(i)).collect()
    };
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if merge_key_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(MergeError::OrderMismatch {
            patch: go_format(&Value::Array(patch.to_vec())),
            order: go_format(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    meta: PatchMeta,
) -> Result<Vec<Value>> {
    if meta.strategy != Strategy::Merge {
        return Ok(patch);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let merge_key = meta.merge_key;
    let kind = element_type(&[&original, &patch])?;
    let (original, patch, merged) = if kind != GoType::Map {
        let mut both = original.clone();
        both.extend(patch.iter().cloned());
        (original, patch, deduplicate_scalars(both))
    } else {
        if merge_key.is_empty() {
            return Err(MergeError::NoMergeKeyDeclared);
        }
        let (original, patch) = apply_list_directives(original, patch, merge_key)?;
        let mut merged = original.clone();
        for item in &patch {
            let map = as_map(item)?;
            let key = map
                .get(merge_key)
                .ok_or_else(|| no_merge_key(map, merge_key))?;
            let mut found = None;
            for (i, existing) in merged.iter().enumerate() {
                let existing = as_map(existing)?;
                if existing.get(merge_key) == Some(key) {
                    found = Some(i);
                    break;
                }
            }
            match found {
                Some(i) => {
                    let existing = as_map(&merged[i])?.clone();
                    merged[i] = Value::Object(merge_map(existing, map.clone(), schema)?);
                }
                None => merged.push(item.clone()),
            }
        }
        (original, patch, merged)
    };
    let (present, server_only) = partition_present(merged, &patch, merge_key)?;
    normalize_element_order(present, server_only, &patch, &original, merge_key, kind)
}

/// Applies `$patch: delete` and `$patch: replace` elements of a patch list to the original list;
/// returns the original and the remaining patch items.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let map = as_map(&item)?;
        match map.get(DIRECTIVE) {
            None => plain.push(item),
            Some(Value::String(d)) if d == "delete" => {
                let key = map
                    .get(merge_key)
                    .ok_or_else(|| no_merge_key(map, merge_key))?;
                original.retain(|o| o.get(merge_key) != Some(key));
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => return Err(MergeError::MergeInList),
            Some(other) => {
                return Err(MergeError::BadPatchType(go_format(other), go_format(&item)))
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

#[cfg(test)]
mod tests;
