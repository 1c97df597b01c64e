//! Field ownership (`metadata.managedFields`) and server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, what `kubectl apply --server-side` sends), after upstream's
//! structured-merge-diff, in the subset kubectl needs:
//!
//! - Every field of an object belongs to the managers that set it. A write that is not an apply
//!   (create, update, patch) gives its manager (operation `Update`) the fields it changed and
//!   takes them from everyone else; fields it removed belong to nobody any more.
//! - An apply states a manager's whole intent: its fields are merged into the live object
//!   (maps key by key, lists with a merge key item by item, other lists whole), the fields it
//!   applied last time and leaves out now are removed unless another manager owns them, and it
//!   then owns exactly what it applied (operation `Apply`).
//! - Applying a value that differs from the live one in a field another manager owns is a
//!   conflict (409, one `FieldManagerConflict` cause per field) unless the apply is forced,
//!   which takes the field over.
//!
//! Field paths are written as upstream's `fieldsV1` keys: `f:<field>`, `k:<merge key JSON>` for
//! an item of a list merged by key, `v:<value JSON>` for an item of a set of primitives. Which
//! lists merge by which key comes from the strategic-merge-patch schema (upstream reads the
//! same facts from its OpenAPI `x-kubernetes-list-map-keys`). Identity and server-managed
//! metadata (`name`, `uid`, `resourceVersion`, ...), `apiVersion`, `kind` and, for resources
//! with a status subresource, `status` are owned by nobody, as upstream strips them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use tinykube_apimachinery::patch_meta::{self as schema, PatchMeta, Schema, Strategy};

/// One field: its `fieldsV1` keys from the root (`["f:spec", "f:replicas"]`).
pub type FieldPath = Vec<String>;
/// The fields one manager owns.
pub type FieldSet = BTreeSet<FieldPath>;

/// The `metadata` fields that managers own; the rest is identity or the server's.
const OWNED_METADATA: &[&str] = &["labels", "annotations", "finalizers", "ownerReferences"];

/// What a write does to ownership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who writes: the manager's name and the group version of its request.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// The resource qualified with its group (`deployments.apps`), for its schema.
    pub resource: &'a str,
    /// Whether `status` belongs to a subresource (and so to nobody here).
    pub has_status: bool,
    /// When, as `metav1.Time` (RFC 3339 seconds).
    pub now: &'a str,
}

/// A field another manager owns and an apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    /// Upstream's rendering: `.spec.replicas`, `.spec.containers[name="app"].image`.
    pub field: String,
}

/// A `k:` or `v:` key for one list item, or `None` when the list is atomic.
fn item_key(item: &Value, meta: PatchMeta) -> Option<String> {
    if meta.strategy != Strategy::Merge {
        return None;
    }
    match item {
        Value::Object(fields) if !meta.merge_key.is_empty() => {
            let key = fields.get(meta.merge_key)?;
            Some(format!("k:{}", json!({ meta.merge_key: key })))
        }
        Value::String(_) | Value::Number(_) | Value::Bool(_) if meta.merge_key.is_empty() => {
            Some(format!("v:{item}"))
        }
        _ => None,
    }
}

/// Whether every item of `items` has a key under `meta` (else the list is owned whole).
fn keyed_items(items: &[Value], meta: PatchMeta) -> Option<Vec<String>> {
    items.iter().map(|item| item_key(item, meta)).collect()
}

fn collect(value: &Value, schema: Schema, path: &mut FieldPath, out: &mut FieldSet) {
    let Some(fields) = value.as_object().filter(|f| !f.is_empty()) else {
        out.insert(path.clone());
        return;
    };
    for (name, child) in fields {
        let (child_schema, meta) = schema::lookup(schema, name);
        path.push(format!("f:{name}"));
        match child {
            Value::Array(items) if !items.is_empty() => match keyed_items(items, meta) {
                Some(keys) => {
                    for (key, item) in keys.into_iter().zip(items) {
                        path.push(key);
                        out.insert(path.clone());
                        if item.is_object() {
                            collect_children(item, child_schema, path, out);
                        }
                        path.pop();
                    }
                }
                None => {
                    out.insert(path.clone());
                }
            },
            _ => collect(child, child_schema, path, out),
        }
        path.pop();
    }
}

/// The fields of a list item other than the item itself.
fn collect_children(item: &Value, schema: Schema, path: &mut FieldPath, out: &mut FieldSet) {
    if item.as_object().is_some_and(|f| !f.is_empty()) {
        collect(item, schema, path, out);
    }
}

/// The fields of `object` that managers can own.
pub fn field_set(resource: &str, has_status: bool, object: &Value) -> FieldSet {
    let root: &'static schema::TypeDef = schema::for_resource(resource);
    let mut owned = Map::new();
    for (name, value) in object.as_object().into_iter().flatten() {
        match name.as_str() {
            "apiVersion" | "kind" => {}
            "status" if has_status => {}
            "metadata" => {
                let kept: Map<String, Value> = value
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| OWNED_METADATA.contains(&k.as_str()) && !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !kept.is_empty() {
                    owned.insert(name.clone(), Value::Object(kept));
                }
            }
            _ => {
                owned.insert(name.clone(), value.clone());
            }
        }
    }
    let mut out = FieldSet::new();
    if !owned.is_empty() {
        collect(&Value::Object(owned), Some(root), &mut Vec::new(), &mut out);
    }
    out
}

/// The value at `path`, if there is one.
fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = if let Some(name) = first.strip_prefix("f:") {
        value.as_object()?.get(name)?
    } else {
        value
            .as_array()?
            .iter()
            .find(|item| matches_key(item, first))?
    };
    get(next, rest)
}

/// Whether a list item is the one a `k:`/`v:` key names.
fn matches_key(item: &Value, key: &str) -> bool {
    if let Some(fields) = key.strip_prefix("k:") {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) else {
            return false;
        };
        fields.iter().all(|(k, v)| item.get(k) == Some(v))
    } else if let Some(primitive) = key.strip_prefix("v:") {
        serde_json::from_str::<Value>(primitive).is_ok_and(|v| &v == item)
    } else {
        false
    }
}

/// Removes the field at `path` (a map entry or a list item).
fn remove(value: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        if let Some(name) = first.strip_prefix("f:") {
            if let Some(fields) = value.as_object_mut() {
                fields.remove(name);
            }
        } else if let Some(items) = value.as_array_mut() {
            items.retain(|item| !matches_key(item, first));
        }
        return;
    }
    let next = if let Some(name) = first.strip_prefix("f:") {
        value.as_object_mut().and_then(|f| f.get_mut(name))
    } else {
        value
            .as_array_mut()
            .and_then(|items| items.iter_mut().find(|item| matches_key(item, first)))
    };
    if let Some(next) = next {
        remove(next, rest);
    }
}

/// `applied` merged into `live`: maps key by key, keyed lists item by item (live order, new
/// items after), everything else replaced.
fn merge(live: &Value, applied: &Value, schema: Schema) -> Value {
    let (Some(live_fields), Some(applied_fields)) = (live.as_object(), applied.as_object()) else {
        return applied.clone();
    };
    let mut merged = live_fields.clone();
    for (name, applied_value) in applied_fields {
        let (child_schema, meta) = schema::lookup(schema, name);
        let value = match (live_fields.get(name), applied_value) {
            (Some(Value::Array(live_items)), Value::Array(applied_items)) => {
                match (
                    keyed_items(live_items, meta),
                    keyed_items(applied_items, meta),
                ) {
                    (Some(live_keys), Some(applied_keys)) => Value::Array(merge_items(
                        live_items,
                        &live_keys,
                        applied_items,
                        &applied_keys,
                        child_schema,
                    )),
                    _ => applied_value.clone(),
                }
            }
            (Some(live_value @ Value::Object(_)), Value::Object(_)) => {
                merge(live_value, applied_value, child_schema)
            }
            _ => applied_value.clone(),
        };
        merged.insert(name.clone(), value);
    }
    Value::Object(merged)
}

fn merge_items(
    live: &[Value],
    live_keys: &[String],
    applied: &[Value],
    applied_keys: &[String],
    schema: Schema,
) -> Vec<Value> {
    let mut merged: Vec<Value> = live
        .iter()
        .zip(live_keys)
        .map(
            |(item, key)| match applied_keys.iter().position(|k| k == key) {
                Some(i) => merge(item, &applied[i], schema),
                None => item.clone(),
            },
        )
        .collect();
    for (item, key) in applied.iter().zip(applied_keys) {
        if !live_keys.contains(key) {
            merged.push(item.clone());
        }
    }
    merged
}

/// Upstream's rendering of a field path in conflict messages.
fn render(path: &FieldPath) -> String {
    let mut out = String::new();
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            out.push('.');
            out.push_str(name);
        } else if let Some(fields) = element.strip_prefix("k:") {
            let fields: Map<String, Value> = serde_json::from_str(fields).unwrap_or_default();
            let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(value) = element.strip_prefix("v:") {
            out.push_str(&format!("[={value}]"));
        }
    }
    out
}

/// A field set as `fieldsV1`: nested `f:`/`k:`/`v:` keys, `{}` at each owned field, and `.`
/// where a list item is owned along with fields inside it.
pub fn encode_fields(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node
                .entry(element.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("fieldsV1 nodes are maps");
        }
    }
    // A node that is itself owned and has children gets a `.` marker.
    fn mark(node: &mut Map<String, Value>, path: &mut FieldPath, set: &FieldSet) {
        for (key, child) in node.iter_mut() {
            path.push(key.clone());
            if let Some(child) = child.as_object_mut() {
                if !child.is_empty() && set.contains(path) {
                    mark(child, path, set);
                    child.insert(".".into(), json!({}));
                } else {
                    mark(child, path, set);
                }
            }
            path.pop();
        }
    }
    mark(&mut root, &mut Vec::new(), set);
    Value::Object(root)
}

/// The field set a `fieldsV1` value describes (malformed parts are ignored).
pub fn decode_fields(fields: &Value) -> FieldSet {
    fn walk(node: &Map<String, Value>, path: &mut FieldPath, out: &mut FieldSet) {
        for (key, child) in node {
            if key == "." {
                out.insert(path.clone());
                continue;
            }
            path.push(key.clone());
            match child.as_object() {
                Some(grand) if !grand.is_empty() => walk(grand, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(node) = fields.as_object() {
        walk(node, &mut Vec::new(), &mut out);
    }
    out
}

/// One `managedFields` entry, as read.
#[derive(Debug, Clone)]
struct Entry {
    json: Value,
    manager: String,
    operation: String,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: Operation) -> bool {
        self.manager == manager
            && self.operation == operation.as_str()
            && self.subresource.is_empty()
    }
}

fn read_entries(object: &Value) -> Vec<Entry> {
    let field = |entry: &Value, name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|entry| Entry {
            json: entry.clone(),
            manager: field(entry, "manager"),
            operation: field(entry, "operation"),
            subresource: field(entry, "subresource"),
            fields: entry.get("fieldsV1").map(decode_fields).unwrap_or_default(),
        })
        .collect()
}

/// Writes `entries` back, each with its (possibly changed) field set; entries that own
/// nothing are dropped, as upstream drops them.
fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|mut e| {
            e.json["fieldsV1"] = encode_fields(&e.fields);
            e.json
        })
        .collect();
    let meta = crate::object::meta_mut(object);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

fn new_entry(writer: &Writer<'_>, operation: Operation) -> Entry {
    Entry {
        json: json!({
            "manager": writer.manager,
            "operation": operation.as_str(),
            "apiVersion": writer.api_version,
            "time": writer.now,
            "fieldsType": "FieldsV1",
        }),
        manager: writer.manager.to_string(),
        operation: operation.as_str().to_string(),
        subresource: String::new(),
        fields: FieldSet::new(),
    }
}

/// Sets `entry`'s fields, stamping the writer's version and time when they change.
fn set_fields(entry: &mut Entry, fields: FieldSet, writer: &Writer<'_>) {
    if entry.fields != fields || entry.json.get("time").is_none() {
        entry.json["time"] = json!(writer.now);
        entry.json["apiVersion"] = json!(writer.api_version);
    }
    entry.fields = fields;
}

/// Records a non-apply write of `new` over `old` (`None` for a create): the writer's `Update`
/// entry gains every field the write set or changed, which no other manager owns any longer;
/// fields the write removed are nobody's.
pub fn record_update(writer: &Writer<'_>, old: Option<&Value>, new: &mut Value) -> FieldSet {
    let new_fields = field_set(writer.resource, writer.has_status, new);
    let (mut entries, changed) = match old {
        None => (Vec::new(), new_fields),
        Some(old) => {
            let changed: FieldSet = new_fields
                .iter()
                .filter(|path| {
                    let was = get(old, path);
                    // A list item's identity is its key: it changed only if it is new.
                    was.is_none() || (!is_item(path) && was != get(new, path))
                })
                .cloned()
                .collect();
            let mut entries = read_entries(old);
            for entry in &mut entries {
                let own = entry.is(writer.manager, Operation::Update);
                entry
                    .fields
                    .retain(|p| new_fields.contains(p) && (own || !changed.contains(p)));
            }
            (entries, changed)
        }
    };
    if !changed.is_empty() {
        let index = match entries
            .iter()
            .position(|e| e.is(writer.manager, Operation::Update))
        {
            Some(index) => index,
            None => {
                entries.push(new_entry(writer, Operation::Update));
                entries.len() - 1
            }
        };
        let mut owned = entries[index].fields.clone();
        owned.extend(changed.iter().cloned());
        set_fields(&mut entries[index], owned, writer);
    }
    write_entries(new, entries);
    changed
}

fn is_item(path: &FieldPath) -> bool {
    path.last().is_some_and(|e| !e.starts_with("f:"))
}

/// Server-side apply of `applied` (the manager's configuration) to `live`. Returns the object to
/// write, with its `managedFields` updated, or the conflicts when `force` is not set.
pub fn apply(
    writer: &Writer<'_>,
    live: &Value,
    applied: &Value,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let applied_fields = field_set(writer.resource, writer.has_status, applied);
    let mut entries = read_entries(live);
    let mine = entries
        .iter()
        .position(|e| e.is(writer.manager, Operation::Apply));
    let previous = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut conflicts = Vec::new();
    for (index, entry) in entries.iter_mut().enumerate() {
        if Some(index) == mine {
            continue;
        }
        let contested: Vec<FieldPath> = entry
            .fields
            .iter()
            .filter(|path| applied_fields.contains(*path) && !is_item(path))
            .filter(|path| get(live, path).is_some_and(|v| Some(v) != get(applied, path)))
            .cloned()
            .collect();
        if force {
            entry.fields.retain(|p| !contested.contains(p));
        } else {
            conflicts.extend(contested.iter().map(|path| {
                Conflict {
                    manager: entry.manager.clone(),
                    api_version: entry
                        .json
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    field: render(path),
                }
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let root: &'static schema::TypeDef = schema::for_resource(writer.resource);
    let mut merged = merge(live, applied, Some(root));
    // What this manager applied before and leaves out now goes, unless someone else owns it (or
    // something inside it).
    let owned_by_others = |path: &FieldPath| {
        entries
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != mine)
            .any(|(_, e)| e.fields.iter().any(|p| p.starts_with(path)))
    };
    let mut dropped: Vec<&FieldPath> = previous
        .difference(&applied_fields)
        .filter(|p| !owned_by_others(p))
        .collect();
    // Deepest first, so an item's fields go before the item.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        remove(&mut merged, path);
    }
    let index = match mine {
        Some(index) => index,
        None => {
            entries.push(new_entry(writer, Operation::Apply));
            entries.len() - 1
        }
    };
    set_fields(&mut entries[index], applied_fields, writer);
    write_entries(&mut merged, entries);
    Ok(merged)
}

/// The conflicts as upstream words them: `Apply failed with 2 conflicts: conflict with "a"
/// using apps/v1: .spec.replicas` (a manager's fields grouped after it).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for conflict in conflicts {
        by_manager
            .entry((conflict.manager.clone(), conflict.api_version.clone()))
            .or_default()
            .push(conflict.field.clone());
    }
    let parts: Vec<String> = by_manager
        .into_iter()
        .map(|((manager, api_version), fields)| match fields.as_slice() {
            [one] => format!("conflict with \"{manager}\" using {api_version}: {one}"),
            many => format!(
                "conflicts with \"{manager}\" using {api_version}:\n{}",
                many.iter()
                    .map(|f| format!("- {f}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        })
        .collect();
    let count = conflicts.len();
    let noun = if count == 1 { "conflict" } else { "conflicts" };
    format!("Apply failed with {count} {noun}: {}", parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer<'a>(manager: &'a str, now: &'a str) -> Writer<'a> {
        Writer {
            manager,
            api_version: "apps/v1",
            resource: "deployments.apps",
            has_status: true,
            now,
        }
    }

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image}
            ]}}},
        })
    }

    fn paths(set: &FieldSet) -> Vec<String> {
        set.iter().map(render).collect()
    }

    #[test]
    fn field_sets_name_leaves_and_keyed_items() {
        let set = field_set("deployments.apps", true, &deployment(2, "nginx"));
        assert_eq!(
            paths(&set),
            [
                ".metadata.labels.app",
                ".spec.replicas",
                ".spec.template.spec.containers[name=\"app\"]",
                ".spec.template.spec.containers[name=\"app\"].image",
                ".spec.template.spec.containers[name=\"app\"].name",
            ]
        );
        let mut with_status = deployment(2, "nginx");
        with_status["status"] = json!({"replicas": 2});
        assert_eq!(
            field_set("deployments.apps", true, &with_status),
            set,
            "status is the status subresource's"
        );
        // Lists without a merge key are owned whole; sets of primitives item by item.
        let pod = json!({"metadata": {"finalizers": ["a", "b"]},
            "spec": {"tolerations": [{"key": "k"}], "containers": [{"name": "c", "args": ["x"]}]}});
        let rendered = paths(&field_set("pods", true, &pod));
        for expected in [
            ".metadata.finalizers[=\"a\"]",
            ".spec.tolerations",
            ".spec.containers[name=\"c\"].args",
        ] {
            assert!(rendered.contains(&expected.to_string()), "{rendered:?}");
        }
    }

    #[test]
    fn fields_v1_round_trips() {
        let set = field_set("deployments.apps", true, &deployment(2, "nginx"));
        let encoded = encode_fields(&set);
        assert_eq!(
            encoded,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}},
            })
        );
        assert_eq!(decode_fields(&encoded), set);
    }

    #[test]
    fn apply_creates_ownership_removes_dropped_fields_and_detects_conflicts() {
        let now = "2024-01-01T00:00:00Z";
        // First apply by "a" onto an object "a" created: it owns what it applied.
        let mut live = deployment(2, "nginx");
        let applied = deployment(2, "nginx");
        let mut result = apply(&writer("a", now), &live, &applied, false).unwrap();
        let entries = read_entries(&result);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "a");
        assert_eq!(entries[0].operation, "Apply");
        live = result.clone();

        // "a" drops its label: it goes. "b" applies another replicas: a conflict with "a".
        let mut without_label = deployment(2, "nginx");
        without_label["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("labels");
        result = apply(&writer("a", now), &live, &without_label, false).unwrap();
        assert!(result.pointer("/metadata/labels/app").is_none(), "{result}");
        live = result;
        let mut b_applies = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}, "spec": {"replicas": 5}});
        let conflicts = apply(&writer("b", now), &live, &b_applies, false).unwrap_err();
        assert_eq!(
            conflicts,
            [Conflict {
                manager: "a".into(),
                api_version: "apps/v1".into(),
                field: ".spec.replicas".into()
            }]
        );
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"a\" using apps/v1: .spec.replicas"
        );
        // The same value is no conflict: both own it.
        b_applies["spec"]["replicas"] = json!(2);
        let shared = apply(&writer("b", now), &live, &b_applies, false).unwrap();
        assert_eq!(read_entries(&shared).len(), 2);
        // Forced, "b" takes the field: "a" no longer owns it, and dropping it later removes
        // nothing "b" holds.
        b_applies["spec"]["replicas"] = json!(5);
        let forced = apply(&writer("b", now), &live, &b_applies, true).unwrap();
        assert_eq!(forced["spec"]["replicas"], 5);
        let a = read_entries(&forced)
            .into_iter()
            .find(|e| e.manager == "a")
            .unwrap();
        assert!(!paths(&a.fields).contains(&".spec.replicas".to_string()));
        let mut a_without_replicas = deployment(2, "nginx");
        a_without_replicas["spec"]
            .as_object_mut()
            .unwrap()
            .remove("replicas");
        let after = apply(&writer("a", now), &forced, &a_without_replicas, false).unwrap();
        assert_eq!(after["spec"]["replicas"], 5, "owned by b, kept");
    }

    #[test]
    fn apply_merges_keyed_lists_and_replaces_atomic_ones() {
        let now = "2024-01-01T00:00:00Z";
        let live = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "app", "image": "a:1", "command": ["sleep"]}],
            "tolerations": [{"key": "x"}]}});
        let applied = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "side", "image": "s:1"}, {"name": "app", "image": "a:2"}],
            "tolerations": [{"key": "y"}]}});
        let pods = Writer {
            resource: "pods",
            api_version: "v1",
            ..writer("a", now)
        };
        let merged = apply(&pods, &live, &applied, false).unwrap();
        assert_eq!(
            merged["spec"]["containers"],
            json!([{"name": "app", "image": "a:2", "command": ["sleep"]}, {"name": "side", "image": "s:1"}])
        );
        assert_eq!(merged["spec"]["tolerations"], json!([{"key": "y"}]));
    }

    #[test]
    fn updates_take_the_fields_they_change() {
        let now = "2024-01-01T00:00:00Z";
        let mut created = deployment(2, "nginx");
        record_update(&writer("kubectl-create", now), None, &mut created);
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(3);
        let changed = record_update(&writer("kubectl-scale", now), Some(&created), &mut scaled);
        assert_eq!(paths(&changed), [".spec.replicas"]);
        let entries = read_entries(&scaled);
        let owners = |field: &str| -> Vec<String> {
            entries
                .iter()
                .filter(|e| paths(&e.fields).contains(&field.to_string()))
                .map(|e| e.manager.clone())
                .collect()
        };
        assert_eq!(owners(".spec.replicas"), ["kubectl-scale"]);
        assert_eq!(owners(".metadata.labels.app"), ["kubectl-create"]);
        // A no-op write changes nothing, not even the time.
        let mut again = scaled.clone();
        record_update(
            &writer("kubectl-scale", "2030-01-01T00:00:00Z"),
            Some(&scaled),
            &mut again,
        );
        assert_eq!(again, scaled);
        // An apply of another replicas now conflicts with kubectl-scale.
        let applied = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let conflicts = apply(&writer("kubectl", now), &scaled, &applied, false).unwrap_err();
        assert_eq!(conflicts[0].manager, "kubectl-scale");
    }
}
