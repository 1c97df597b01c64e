//! PATCH bodies applied to stored objects, as upstream kube-apiserver applies them
//! (`k8s.io/apiserver/pkg/endpoints/handlers/patch.go`) for the patch types kubectl sends:
//!
//! - `application/json-patch+json`: RFC 6902 operations (json-patch crate). A body that is not a
//!   list of operation objects is a 400; more than 10000 operations a 413; an operation that
//!   cannot be decoded or does not apply (a failed `test`, a missing path) a 422, as upstream.
//! - `application/merge-patch+json`: RFC 7386, with the quirks of the Go library upstream uses
//!   (nulls are pruned from values added where nothing was). Sent by `kubectl label`,
//!   `kubectl annotate` and `kubectl scale`.
//! - `application/strategic-merge-patch+json`: Kubernetes' strategic merge patch, applied by
//!   `tinykube_apimachinery::strategic_merge` (the engine our kubectl computes its patches
//!   with); the schema of merge keys and strategies comes from
//!   `tinykube_apimachinery::patch_meta`. Sent by
//!   `kubectl apply`, `edit`, `patch` (default), `set image`, `rollout restart`, `cordon`, ...
//! - `application/apply-patch+yaml` (server-side apply) is not a patch of this kind: the REST
//!   layer hands it to `crate::apply` for the main resource; on a subresource it is answered
//!   with 415 Unsupported Media Type here.
//!
//! The result of a patch is the patched JSON; defaulting, validation, the preconditions on
//! `metadata` (name, uid, resourceVersion) and the write belong to the caller, as upstream.

use serde_json::{Map, Value};
use tinykube_apimachinery::patch_meta;
use tinykube_apimachinery::strategic_merge::{self, StrategicMergeError};

use crate::object::json_type;

/// The patch types kube-apiserver accepts, by `Content-Type` (named as upstream's
/// `types.PatchType` constants).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    JsonPatch,
    /// `application/merge-patch+json` (RFC 7386).
    MergePatch,
    /// `application/strategic-merge-patch+json`.
    StrategicMergePatch,
    /// `application/apply-patch+yaml` (server-side apply).
    ApplyPatch,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value; parameters (`; charset=utf-8`) and case
    /// are ignored. `None` for any other media type (upstream answers those with 415).
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let media_type = ct.split(';').next().unwrap_or_default().trim();
        [
            PatchType::JsonPatch,
            PatchType::MergePatch,
            PatchType::StrategicMergePatch,
            PatchType::ApplyPatch,
        ]
        .into_iter()
        .find(|t| t.content_type().eq_ignore_ascii_case(media_type))
    }

    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::JsonPatch => "application/json-patch+json",
            PatchType::MergePatch => "application/merge-patch+json",
            PatchType::StrategicMergePatch => "application/strategic-merge-patch+json",
            PatchType::ApplyPatch => "application/apply-patch+yaml",
        }
    }
}

/// Upstream's limit on the operations of one JSON patch.
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// Why a patch could not be applied. `Display` gives the detailed message; [`Self::http_code`]
/// and [`Self::reason`] give the Status code and reason upstream answers with.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body does not parse, is not of the shape its patch type needs, or holds a malformed
    /// directive (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
    /// A JSON patch operation cannot be decoded or does not apply (a failed `test`, a missing
    /// path), or a strategic merge patch holds a list of lists (422, reason Invalid).
    #[error("{0}")]
    Invalid(String),
    /// The patch applied, but what it made is not a JSON object (422, reason Invalid).
    #[error("patch: Invalid value: {0}: the patched object must be a JSON object")]
    NotAnObject(String),
    /// A JSON patch with more than [`MAX_JSON_PATCH_OPERATIONS`] operations (413).
    #[error(
        "the allowed maximum operations in a json patch is {MAX_JSON_PATCH_OPERATIONS}, got {0}"
    )]
    TooManyOperations(usize),
    /// A patch type this apiserver does not apply (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
}

impl PatchError {
    /// The HTTP status code of the error.
    pub fn http_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid(_) | PatchError::NotAnObject(_) => 422,
            PatchError::TooManyOperations(_) => 413,
            PatchError::UnsupportedMediaType(_) => 415,
        }
    }

    /// The `reason` of the Status upstream answers with.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Invalid(_) | PatchError::NotAnObject(_) => "Invalid",
            PatchError::TooManyOperations(_) => "RequestEntityTooLarge",
            PatchError::UnsupportedMediaType(_) => "UnsupportedMediaType",
        }
    }
}

/// Applies a PATCH body of `patch_type` to `original` (the stored object's JSON).
///
/// `resource` is the plural resource name with its group, e.g. "pods", "deployments.apps",
/// "services", "endpointslices.discovery.k8s.io"; it selects the strategic-merge schema (the
/// merge keys and strategies of the kind's fields). Resources without a schema entry still
/// patch: their maps merge and their lists are replaced.
///
/// [`PatchType::ApplyPatch`] (server-side apply) is not a patch this function applies (see
/// `crate::apply`): it returns [`PatchError::UnsupportedMediaType`] (415).
pub fn apply_patch(
    resource: &str,
    original: &Value,
    patch_type: PatchType,
    patch: &[u8],
) -> Result<Value, PatchError> {
    let patched = match patch_type {
        PatchType::JsonPatch => apply_json_patch(original, patch)?,
        PatchType::MergePatch => apply_merge_patch(original, patch)?,
        PatchType::StrategicMergePatch => apply_strategic_merge_patch(resource, original, patch)?,
        PatchType::ApplyPatch => {
            return Err(PatchError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: {}, {}, {}",
                PatchType::JsonPatch.content_type(),
                PatchType::MergePatch.content_type(),
                PatchType::StrategicMergePatch.content_type(),
            )))
        }
    };
    if !patched.is_object() {
        let shown = patched.to_string();
        let shown: String = shown.chars().take(256).collect();
        return Err(PatchError::NotAnObject(shown));
    }
    Ok(patched)
}

impl From<StrategicMergeError> for PatchError {
    fn from(error: StrategicMergeError) -> PatchError {
        match error {
            StrategicMergeError::ListOfLists => PatchError::Invalid(error.to_string()),
            other => PatchError::BadRequest(other.to_string()),
        }
    }
}

// ---- strategic merge patch ----------------------------------------------------------------

fn apply_strategic_merge_patch(
    resource: &str,
    original: &Value,
    body: &[u8],
) -> Result<Value, PatchError> {
    let patch: Value =
        serde_json::from_slice(body).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    let patch = match patch {
        Value::Object(map) => map,
        // Go decodes `null` into a nil map: a patch that changes nothing.
        Value::Null => Map::new(),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                json_type(&other)
            )))
        }
    };
    let Value::Object(original) = original else {
        return Err(PatchError::BadRequest(
            "invalid JSON document: the object to patch is not a JSON object".into(),
        ));
    };
    let patched = strategic_merge::apply(original, patch, patch_meta::for_resource(resource))?;
    Ok(Value::Object(patched))
}

// ---- JSON patch ---------------------------------------------------------------------------

fn apply_json_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| PatchError::BadRequest(e.to_string()))?;
    let operations = match body {
        // Go decodes `null` into an empty patch.
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                json_type(&other)
            )))
        }
    };
    if let Some(bad) = operations
        .iter()
        .find(|op| !op.is_object() && !op.is_null())
    {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_type(bad)
        )));
    }
    if operations.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations(operations.len()));
    }

    let mut decoded = Vec::with_capacity(operations.len());
    for (i, op) in operations.into_iter().enumerate() {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        if !matches!(
            kind.as_str(),
            "add" | "remove" | "replace" | "move" | "copy" | "test"
        ) {
            return Err(PatchError::Invalid(format!("unexpected kind: {kind}")));
        }
        let op: json_patch::PatchOperation = serde_json::from_value(op)
            .map_err(|e| PatchError::Invalid(format!("{kind} operation {i} is malformed: {e}")))?;
        decoded.push(op);
    }

    let mut doc = original.clone();
    json_patch::patch(&mut doc, &decoded).map_err(|e| json_patch_error(&decoded, &e))?;
    Ok(doc)
}

/// Words a json-patch failure as the Go library upstream uses does.
fn json_patch_error(ops: &[json_patch::PatchOperation], e: &json_patch::PatchError) -> PatchError {
    use json_patch::{PatchErrorKind, PatchOperation};
    let path = e.path.to_string();
    let (name, from) = match ops.get(e.operation) {
        Some(PatchOperation::Add(_)) => ("add", None),
        Some(PatchOperation::Remove(_)) => ("remove", None),
        Some(PatchOperation::Replace(_)) => ("replace", None),
        Some(PatchOperation::Move(op)) => ("move", Some(op.from.to_string())),
        Some(PatchOperation::Copy(op)) => ("copy", Some(op.from.to_string())),
        Some(PatchOperation::Test(_)) => ("test", None),
        None => ("unknown", None),
    };
    let message = match (&e.kind, name) {
        (PatchErrorKind::TestFailed, _) | (PatchErrorKind::InvalidPointer, "test") => {
            format!("testing value {path} failed: test failed")
        }
        (PatchErrorKind::InvalidPointer, _) => {
            format!(
                "{name} operation does not apply: doc is missing path: \"{path}\": missing value"
            )
        }
        (PatchErrorKind::InvalidFromPointer, _) => format!(
            "{name} operation does not apply: doc is missing from path: \"{}\": missing value",
            from.unwrap_or_default()
        ),
        (PatchErrorKind::CannotMoveInsideItself, _) => {
            format!(
                "move operation does not apply: cannot move \"{}\" into itself at \"{path}\"",
                from.unwrap_or_default()
            )
        }
        (other, _) => format!("{name} operation failed at path \"{path}\": {other}"),
    };
    PatchError::Invalid(message)
}

// ---- JSON merge patch ---------------------------------------------------------------------

/// RFC 7386 as `gopkg.in/evanphx/json-patch.v4` `MergePatch` does it, which upstream uses.
fn apply_merge_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    const BAD_PATCH: &str = "invalid JSON Patch";
    let patch: Value =
        serde_json::from_slice(body).map_err(|_| PatchError::BadRequest(BAD_PATCH.into()))?;
    match (original, patch) {
        (_, Value::Null) => Err(PatchError::BadRequest(BAD_PATCH.into())),
        (Value::Object(doc), Value::Object(patch)) => {
            let mut doc = doc.clone();
            merge_docs(&mut doc, patch);
            Ok(Value::Object(doc))
        }
        // The Go library turns the document into the patch when either is not an object;
        // a patch that is neither an object nor an array is refused.
        (_, Value::Object(mut patch)) => {
            prune_doc_nulls(&mut patch);
            Ok(Value::Object(patch))
        }
        (_, Value::Array(mut items)) => {
            prune_array_nulls(&mut items);
            Ok(Value::Array(items))
        }
        _ => Err(PatchError::BadRequest(BAD_PATCH.into())),
    }
}

fn merge_docs(doc: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            doc.remove(&key);
            continue;
        }
        let merged = match doc.remove(&key) {
            None | Some(Value::Null) => prune_nulls(value),
            Some(current) => merge_value(current, value),
        };
        doc.insert(key, merged);
    }
}

fn merge_value(current: Value, patch: Value) -> Value {
    match (current, patch) {
        (Value::Object(mut current), Value::Object(patch)) => {
            merge_docs(&mut current, patch);
            Value::Object(current)
        }
        // The current value is not an object: the patch replaces it, less its nulls.
        (current, patch) if !current.is_object() => prune_nulls(patch),
        // The patch is not an object: it replaces the value as it is.
        (_, patch) => patch,
    }
}

fn prune_nulls(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => prune_doc_nulls(map),
        Value::Array(items) => prune_array_nulls(items),
        _ => {}
    }
    value
}

fn prune_doc_nulls(map: &mut Map<String, Value>) {
    map.retain(|_, v| !v.is_null());
    for v in map.values_mut() {
        *v = prune_nulls(std::mem::take(v));
    }
}

/// Prunes the maps inside a list; null elements themselves stay.
fn prune_array_nulls(items: &mut [Value]) {
    for v in items.iter_mut() {
        *v = prune_nulls(std::mem::take(v));
    }
}

#[cfg(test)]
mod tests;
