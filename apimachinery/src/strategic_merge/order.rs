//! The order of merged lists: items named by the patch (or `$setElementOrder`) in the patch's
//! order, with the items only the server has interleaved where the live list puts them
//! (upstream `normalizeElementOrder`, `normalizeSliceOrder` and `mergeSortedSlice`).

use std::collections::HashMap;

use serde_json::Value;

use super::go::{go_stable_sort, GoType};
use super::{expected_map, is_delete_item, no_merge_key, Result, StrategicMergeError};

/// A canonical string for a value, equal for equal values, used to index list items.
pub(super) fn canonical(value: Option<&Value>) -> String {
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
pub(super) struct Index {
    first: HashMap<String, usize>,
}

impl Index {
    pub(super) fn insert(&mut self, id: Option<&Value>, position: usize) {
        self.first.entry(canonical(id)).or_insert(position);
    }

    pub(super) fn position(&self, id: Option<&Value>) -> Option<usize> {
        self.first.get(&canonical(id)).copied()
    }

    pub(super) fn contains(&self, id: Option<&Value>) -> bool {
        self.position(id).is_some()
    }

    /// Indexes `items` by [`order_id`].
    pub(super) fn of(items: &[Value], merge_key: &str, kind: GoType) -> Index {
        let mut index = Index::default();
        for (i, item) in items.iter().enumerate() {
            index.insert(order_id(item, merge_key, kind), i);
        }
        index
    }
}

/// What identifies a list item when ordering a list: its merge-key value in a list of maps,
/// the item itself otherwise. `None` is Go's nil: a missing key, a non-map, or JSON null.
fn order_id<'a>(item: &'a Value, merge_key: &str, kind: GoType) -> Option<&'a Value> {
    let id = if kind == GoType::Map {
        item.as_object().and_then(|m| m.get(merge_key))?
    } else {
        item
    };
    (!id.is_null()).then_some(id)
}

/// Whether two list items are the same item: equal merge-key values in a list of maps (both
/// must be maps holding the key), equal values otherwise.
pub(super) fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool> {
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

/// Splits `items` into those present in `by` (by merge-key value, or by value for primitives)
/// and the others, each in their current order.
pub(super) fn partition(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut index = Index::default();
    if merge_key.is_empty() {
        for (i, v) in by.iter().enumerate() {
            index.insert(Some(v), i);
        }
    } else if !items.is_empty() {
        for (i, v) in by.iter().enumerate() {
            let map = v.as_object().ok_or(StrategicMergeError::NotAMapAt(i))?;
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
/// order puts them.
pub(super) fn normalize_element_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
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

/// Sorts `items` by their positions in `order`; `$patch: delete` items go last.
pub(super) fn normalize_slice_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>> {
    let (items, deletes) = if kind == GoType::Map {
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
