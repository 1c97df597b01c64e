//! The REST layer: one set of handlers for every resource in [`crate::resources`], so that
//! get, list, watch, create, update, patch and delete behave the same for all of them, with
//! the per-kind differences (defaults, validation, status, subresources) declared elsewhere.

use crate::apply;
use crate::body::{self, Wanted};
use crate::filter::Filter;
use crate::kinds;
use crate::kubelet_proxy;
use crate::object::{self, meta_mut};
use crate::openapi;
use crate::patch::{self, PatchType};
use crate::request::{parse_path, Target};
use crate::resources::{self, Resource, Subresource};
use crate::services::ServiceAllocator;
use crate::storage::{StorageError, Store, Stored};
use crate::table::{build_table, IncludeObject};
use crate::watch_cache::{resource_version, EventType, WatchCache, WatchEvent};
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tinykube_apimachinery::status::{ApiError, FieldError, Reason};
use tinykube_component_base::query;
use tokio_util::sync::CancellationToken;

/// Writes retried when a concurrent writer wins the race and the client sent no
/// resourceVersion. Upstream's GuaranteedUpdate retries such writes until they land; the
/// bound only keeps a pathological livelock from spinning forever.
const CONFLICT_RETRIES: usize = 64;
/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(10);
/// Upstream's default minimum request timeout for watches (randomised up to twice that).
const WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Everything a request handler needs.
pub struct ApiState {
    pub store: Store,
    caches: HashMap<String, Arc<WatchCache>>,
    services: ServiceAllocator,
    shutdown: CancellationToken,
}

type Shared = Arc<ApiState>;

/// The etcd key prefix of a resource, shared by every namespace. A resource stored as another
/// (events.k8s.io/v1 Events are core/v1 Events, as upstream) uses that one's keys.
pub fn storage_resource(resource: &Resource) -> String {
    let stored = stored_as(resource)
        .shared_with()
        .and_then(|qualified| {
            resources::RESOURCES
                .iter()
                .find(|r| r.qualified() == qualified)
        })
        .unwrap_or(resource);
    match stored.group {
        "" | "apps" | "discovery.k8s.io" | "coordination.k8s.io" => stored.plural.to_string(),
        group => format!("{group}/{}", stored.plural),
    }
}

/// How `resource`'s objects are stored, and so converted on the way in and out.
fn stored_as(resource: &Resource) -> kinds::StoredAs {
    kinds::StoredAs::of(&resource.qualified())
}

fn key_for(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    tinykube_apimachinery::storage_key(&storage_resource(resource), namespace, name)
}

fn prefix_for(resource: &Resource, namespace: Option<&str>) -> String {
    tinykube_apimachinery::storage_prefix(&storage_resource(resource), namespace)
}

impl ApiState {
    /// Builds the state and starts one watch cache per resource.
    pub fn start(
        store: Store,
        services: ServiceAllocator,
        shutdown: CancellationToken,
    ) -> Arc<ApiState> {
        let mut caches = HashMap::new();
        // One cache per etcd prefix: resources that share a storage share its cache.
        let mut by_prefix: HashMap<String, Arc<WatchCache>> = HashMap::new();
        for resource in resources::RESOURCES {
            let prefix = prefix_for(resource, None);
            let cache = by_prefix
                .entry(prefix.clone())
                .or_insert_with(|| {
                    let cache = WatchCache::new(prefix);
                    tokio::spawn(cache.clone().run(store.clone(), shutdown.clone()));
                    cache
                })
                .clone();
            caches.insert(resource.qualified(), cache);
        }
        Arc::new(ApiState {
            store,
            caches,
            services,
            shutdown,
        })
    }

    fn cache(&self, resource: &Resource) -> Result<&Arc<WatchCache>, ApiError> {
        self.caches.get(&resource.qualified()).ok_or_else(|| {
            ApiError::internal(&format!("no watch cache for {}", resource.qualified()))
        })
    }

    /// Waits until every watch cache has loaded, at most `timeout`.
    pub async fn wait_caches(&self, timeout: Duration) -> bool {
        for cache in self.caches.values() {
            if !cache.wait_ready(timeout).await {
                return false;
            }
        }
        true
    }
}

/// The API routes: discovery, then every resource path.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/version", get(version))
        .route(
            "/api",
            get(|| async { body::json(StatusCode::OK, &resources::core_versions()) }),
        )
        .route(
            "/apis",
            get(|| async { body::json(StatusCode::OK, &resources::group_list()) }),
        )
        .route("/api/{version}", get(core_resource_list))
        .route("/apis/{group}", get(group))
        .route("/apis/{group}/{version}", get(group_resource_list))
        .route(
            "/openapi/v3",
            get(|| async { body::json(StatusCode::OK, &openapi::root()) }),
        )
        .route("/openapi/v3/{*group_version}", get(openapi_group_version))
        .fallback(dispatch)
        .with_state(state)
}

async fn version() -> Response {
    body::json(StatusCode::OK, &tinykube_apimachinery::version::info())
}

/// Upstream's 404 for a path that names no resource.
fn unknown_path() -> ApiError {
    ApiError::new(
        404,
        Reason::NotFound,
        "the server could not find the requested resource",
    )
}

fn not_found_path() -> Response {
    body::error(&unknown_path())
}

async fn openapi_group_version(Path(group_version): Path<String>) -> Response {
    match openapi::group_version(group_version.trim_matches('/')) {
        Some(document) => body::json(StatusCode::OK, &document),
        None => not_found_path(),
    }
}

async fn core_resource_list(Path(version): Path<String>) -> Response {
    match resources::resource_list("", &version) {
        Some(list) => body::json(StatusCode::OK, &list),
        None => not_found_path(),
    }
}

async fn group(Path(group): Path<String>) -> Response {
    if resources::groups().contains(&group.as_str()) {
        body::json(StatusCode::OK, &resources::group_discovery(&group))
    } else {
        not_found_path()
    }
}

async fn group_resource_list(Path((group, version)): Path<(String, String)>) -> Response {
    match resources::resource_list(&group, &version) {
        Some(list) => body::json(StatusCode::OK, &list),
        None => not_found_path(),
    }
}

/// Query parameters of resource requests.
#[derive(Debug, Default)]
struct Query {
    params: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let params = raw.map(query::pairs).unwrap_or_default();
        Query { params }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true") | Some("1") | Some(""))
    }

    fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for query parameter {name}"))
            }),
        }
    }

    /// `fieldValidation`: `Strict` rejects unknown fields; `Warn` (the default) and `Ignore`
    /// accept them, `Warn` with a warning.
    fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation must be one of Ignore, Warn, or Strict, got {other:?}"
            ))),
        }
    }

    fn dry_run(&self) -> bool {
        self.params.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// Applies `fieldValidation` to the fields decoding dropped: an error under Strict, warnings
/// (as upstream's `Warning` headers) under Warn.
fn check_unknown_fields(
    mode: FieldValidation,
    unknown: Vec<String>,
) -> Result<Vec<String>, ApiError> {
    if unknown.is_empty() || mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if mode == FieldValidation::Strict {
        return Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            messages.join(", ")
        )));
    }
    Ok(messages)
}

/// Adds upstream's `Warning: 299 - "..."` headers.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let text = format!("299 - \"{}\"", warning.replace('"', "\\\""));
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", value);
        }
    }
    response
}

async fn dispatch(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
    upgrade: Option<axum::Extension<tinykube_component_base::upgrade::OnUpgrade>>,
    body: Body,
) -> Response {
    let Ok(target) = parse_path(uri.path()) else {
        return not_found_path();
    };
    // Read the body ourselves, so an oversized one gets a Status like every other error.
    let body = match axum::body::to_bytes(body, body::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return body::error(&ApiError::request_entity_too_large(&format!(
                "limit is {}",
                body::MAX_BODY_BYTES
            )))
        }
    };
    let query = Query::parse(raw_query.as_deref());
    let span = tracing::debug_span!(
        "request",
        verb = %method,
        resource = %target.resource.qualified(),
        key = %format!("{}/{}", target.namespace.as_deref().unwrap_or(""), target.name.as_deref().unwrap_or("")),
    );
    let _enter = span.enter();
    let upgrade = upgrade.map(|axum::Extension(upgrade)| upgrade);
    let result = route(&state, &method, target, &headers, &query, body, upgrade).await;
    match result {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(code = error.code, %error, "request failed");
            body::error(&error)
        }
    }
}

async fn route(
    state: &Shared,
    method: &Method,
    target: Target,
    headers: &HeaderMap,
    query: &Query,
    body: Bytes,
    upgrade: Option<tinykube_component_base::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    use Subresource::*;
    let wants = body::wanted(headers);
    match (method.as_str(), target.name.is_some(), target.subresource) {
        ("GET", false, None) if target.legacy_watch || query.flag("watch") => {
            watch(state, &target, query, wants).await
        }
        ("GET", false, None) => list(state, &target, query, wants).await,
        ("GET", true, None) | ("GET", true, Some(Status)) => {
            get_one(state, &target, query, wants).await
        }
        ("GET", true, Some(Scale)) => {
            let current = read(state, &target).await?;
            Ok(body::json(
                StatusCode::OK,
                &scale_of(target.resource, &current.object),
            ))
        }
        ("GET", true, Some(Log)) => pod_log(state, &target, query).await,
        ("GET" | "POST", true, Some(kind @ (Exec | Attach))) => {
            pod_stream(state, &target, kind, method, headers, query, upgrade).await
        }
        ("GET" | "POST", true, Some(PortForward)) => {
            pod_port_forward(state, &target, method, headers, query, upgrade).await
        }
        ("POST", false, None) => create(state, &target, headers, query, body).await,
        ("POST", true, Some(Binding)) => bind(state, &target, headers, body).await,
        ("PUT", true, Some(Scale)) => {
            let scale = body::parse_object(headers, &body)?;
            update_scale(state, &target, |_| Ok(scale.clone()), query).await
        }
        ("PATCH", true, Some(Scale)) => {
            let patch_type = patch_type(headers)?;
            update_scale(
                state,
                &target,
                |current| {
                    patch::apply_patch("scales.autoscaling", current, patch_type, &body)
                        .map_err(patch_error)
                },
                query,
            )
            .await
        }
        ("PUT", true, Some(Finalize)) => finalize_namespace(state, &target, headers, body).await,
        ("PUT", true, sub @ (None | Some(Status))) => {
            let new = body::parse_object(headers, &body)?;
            check_identity(&target, &new)?;
            let precondition = Some(resource_version(&new)).filter(|rv| *rv > 0);
            let manager = field_manager(query, headers);
            write_with_retries(state, &target, (sub, &manager), query, precondition, |_| {
                Ok(new.clone())
            })
            .await
        }
        ("PATCH", true, None) if patch_type(headers)? == PatchType::ApplyPatch => {
            server_side_apply(state, &target, query, body).await
        }
        ("PATCH", true, sub @ (None | Some(Status))) => {
            let patch_type = patch_type(headers)?;
            body::check_size(&body)?;
            if query.get("force").is_some() {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    vec![FieldError::forbidden(
                        "force",
                        "may not be specified for non-apply patch",
                    )],
                ));
            }
            let qualified = target.resource.qualified();
            let precondition = patch_resource_version(patch_type, &body)?;
            let manager = field_manager(query, headers);
            write_with_retries(
                state,
                &target,
                (sub, &manager),
                query,
                precondition,
                |current| {
                    let patched = patch::apply_patch(&qualified, current, patch_type, &body)
                        .map_err(patch_error)?;
                    check_identity(&target, &patched)?;
                    Ok(patched)
                },
            )
            .await
        }
        ("DELETE", true, None) => {
            let options = DeleteOptions::parse(query, headers, &body)?;
            let (code, object) = delete(state, &target, &options, query.dry_run()).await?;
            Ok(body::json(code, &object))
        }
        ("DELETE", false, None) => delete_collection(state, &target, query, headers, &body).await,
        _ => Err(ApiError::method_not_supported(
            target.resource.group,
            target.resource.plural,
            method.as_str(),
        )),
    }
}

fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let media = body::content_type(headers);
    PatchType::from_content_type(&media).ok_or_else(|| {
        ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ])
    })
}

/// Server-side apply (`kubectl apply --server-side`): the body is the manager's configuration,
/// merged into the live object with field ownership (see [`apply`]), or created from when the
/// object does not exist yet. Conflicts with other managers' fields are a 409 unless `force`.
async fn server_side_apply(
    state: &Shared,
    target: &Target,
    query: &Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    body::check_size(&body)?;
    let manager = query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                vec![FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )],
            )
        })?;
    let force = query.flag("force");
    let applied: Value = serde_yaml::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request(
            "the body of an apply patch must be a YAML or JSON object",
        ));
    }
    for (field, what) in [("apiVersion", "apiVersion"), ("kind", "kind")] {
        if applied
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(format!("{what} must be set")));
        }
    }
    check_type(resource, &applied)?;
    check_identity(target, &applied)?;
    if applied.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let manager = Manager::new(resource, manager);
    for _ in 0..CONFLICT_RETRIES {
        let current = match read(state, target).await {
            Ok(current) => current,
            Err(error) if error.is_not_found() => {
                let ownership = Ownership::Apply {
                    manager: &manager.name,
                    applied: &applied,
                };
                match create_object(state, target, query, applied.clone(), ownership).await {
                    Err(error) if error.is_already_exists() => continue,
                    other => return other,
                }
            }
            Err(error) => return Err(error),
        };
        let live = with_type(resource, current.object.clone());
        let merged = apply::apply(&manager.writer(), &live, &applied, force)
            .map_err(|conflicts| apply_conflict(&conflicts))?;
        let (new, warnings) = prepare_update(
            resource,
            None,
            merged,
            &current.object,
            query.field_validation()?,
        )?;
        match commit_update(state, target, &current, new, query.dry_run()).await {
            Err(StorageError::Conflict { .. }) => continue,
            Err(error) => {
                return Err(storage_error(
                    resource,
                    target.name.as_deref().unwrap_or_default(),
                    error,
                ))
            }
            Ok(object) => {
                return respond(resource, Wanted::Object, query, StatusCode::OK, object)
                    .map(|r| with_warnings(r, &warnings))
            }
        }
    }
    let name = target.name.clone().unwrap_or_default();
    Err(storage_error(
        resource,
        &name,
        StorageError::Conflict { key: name.clone() },
    ))
}

/// Upstream's 409 for an apply that would change other managers' fields: one
/// `FieldManagerConflict` cause per field.
fn apply_conflict(conflicts: &[apply::Conflict]) -> ApiError {
    let causes = conflicts
        .iter()
        .map(|c| StatusCause {
            reason: Some("FieldManagerConflict".into()),
            message: Some(format!(
                "conflict with \"{}\" using {}",
                c.manager, c.api_version
            )),
            field: Some(c.field.clone()),
        })
        .collect();
    let mut error = ApiError::new(409, Reason::Conflict, apply::conflict_message(conflicts));
    error.details = Some(Box::new(StatusDetails {
        causes: Some(causes),
        ..StatusDetails::default()
    }));
    error
}

/// The resourceVersion a PATCH body itself names: an optimistic lock the client asked for.
/// Without one, a patch applies to whatever is current and is retried on conflict.
fn patch_resource_version(patch_type: PatchType, body: &[u8]) -> Result<Option<i64>, ApiError> {
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        // Malformed bodies are reported by the patch itself.
        return Ok(None);
    };
    let named = match patch_type {
        PatchType::JsonPatch => patch.as_array().and_then(|ops| {
            ops.iter().rev().find_map(|op| {
                let sets = matches!(
                    op.get("op").and_then(Value::as_str),
                    Some("add" | "replace")
                ) && op.get("path").and_then(Value::as_str)
                    == Some("/metadata/resourceVersion");
                sets.then(|| op.get("value").cloned()).flatten()
            })
        }),
        _ => patch.pointer("/metadata/resourceVersion").cloned(),
    };
    match named {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(rv)) if rv.is_empty() => Ok(None),
        Some(Value::String(rv)) => rv.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "metadata.resourceVersion: Invalid value: {rv:?}: must be a number"
            ))
        }),
        Some(other) => Err(ApiError::bad_request(format!(
            "metadata.resourceVersion: Invalid value: {other}: must be a string"
        ))),
    }
}

fn patch_error(error: patch::PatchError) -> ApiError {
    // Upstream hides the detail of a failed JSON patch behind a generic message; we keep it,
    // so the client learns which operation failed.
    ApiError::new(
        error.http_code(),
        Reason::from_wire(error.reason()),
        error.to_string(),
    )
}

fn storage_error(resource: &Resource, name: &str, error: StorageError) -> ApiError {
    match error {
        StorageError::NotFound(_) => ApiError::not_found(resource.group, resource.plural, name),
        StorageError::AlreadyExists(_) => {
            ApiError::already_exists(resource.group, resource.plural, name)
        }
        StorageError::Conflict { .. } => ApiError::conflict(
            resource.group,
            resource.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
        StorageError::Compacted { requested, oldest } => ApiError::expired(format!(
            "too old resource version: {requested} ({oldest})"
        )),
        other => ApiError::internal(&other.to_string()),
    }
}

/// The name and namespace in a body must agree with the URL.
fn check_identity(target: &Target, object: &Value) -> Result<(), ApiError> {
    let url_name = target.name.as_deref().unwrap_or_default();
    if let Some(name) = object::name(object) {
        if name != url_name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({url_name})"
            )));
        }
    }
    check_namespace(target, object)
}

fn check_namespace(target: &Target, object: &Value) -> Result<(), ApiError> {
    if let (Some(in_body), Some(in_url)) = (object::namespace(object), target.namespace.as_deref())
    {
        if target.resource.namespaced && in_body != in_url {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

fn check_type(resource: &Resource, object: &Value) -> Result<(), ApiError> {
    if let Some(api_version) = object.get("apiVersion").and_then(Value::as_str) {
        if api_version != resource.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                resource.api_version()
            )));
        }
    }
    if let Some(kind) = object.get("kind").and_then(Value::as_str) {
        if kind != resource.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                resource.kind
            )));
        }
    }
    Ok(())
}

/// The object a request names, as its resource serves it (converted from the stored form).
async fn read(state: &ApiState, target: &Target) -> Result<Stored, ApiError> {
    let name = target.name.as_deref().unwrap_or_default();
    let key = key_for(target.resource, target.namespace.as_deref(), name);
    let mut stored = state
        .store
        .get(&key)
        .await
        .map_err(|e| storage_error(target.resource, name, e))?;
    stored.object = stored_as(target.resource).served_form(stored.object);
    Ok(stored)
}

fn with_type(resource: &Resource, mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(resource.api_version()));
        map.insert("kind".into(), json!(resource.kind));
    }
    object
}

fn respond(
    resource: &Resource,
    wants: Wanted,
    query: &Query,
    code: StatusCode,
    object: Value,
) -> Result<Response, ApiError> {
    let object = with_type(resource, object);
    if wants == Wanted::Table {
        let include =
            IncludeObject::parse(query.get("includeObject")).map_err(ApiError::bad_request)?;
        return Ok(body::json(code, &single_table(resource, object, include)));
    }
    Ok(body::json(code, &object))
}

/// The Table of one object, at the object's resourceVersion.
fn single_table(resource: &Resource, object: Value, include: IncludeObject) -> Value {
    let rv = object
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(json!(""));
    build_table(
        &resource.qualified(),
        &[object],
        json!({"resourceVersion": rv}),
        include,
        jiff::Timestamp::now(),
    )
}

async fn get_one(
    state: &Shared,
    target: &Target,
    query: &Query,
    wants: Wanted,
) -> Result<Response, ApiError> {
    let stored = read(state, target).await?;
    respond(target.resource, wants, query, StatusCode::OK, stored.object)
}

/// A continue token: where the next page starts and the revision the list is read at, as
/// upstream encodes it (base64 of JSON).
fn encode_continue(revision: i64, start: &str) -> String {
    base64::engine::general_purpose::URL_SAFE
        .encode(json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start}).to_string())
}

fn decode_continue(token: &str) -> Result<(i64, String), ApiError> {
    let invalid = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| invalid())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let revision = value
        .get("rv")
        .and_then(Value::as_i64)
        .ok_or_else(invalid)?;
    let start = value
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    Ok((revision, start.to_string()))
}

async fn list(
    state: &Shared,
    target: &Target,
    query: &Query,
    wants: Wanted,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let filter = selectors(resource, query)?;
    let limit = query.int("limit")?.unwrap_or(0).max(0);
    let namespace = target.namespace.as_deref();
    let prefix = prefix_for(resource, namespace);
    let from_cache =
        query.get("resourceVersion") == Some("0") && limit == 0 && query.get("continue").is_none();

    let (items, revision, continue_token) = if from_cache {
        let cache = state.cache(resource)?;
        cache.wait_ready(Duration::from_secs(30)).await;
        let (objects, revision) = cache.snapshot();
        let storage = stored_as(resource);
        let items: Vec<Value> = objects
            .iter()
            .filter(|o| namespace.is_none_or(|ns| object::namespace(o) == Some(ns)))
            .map(|o| storage.served_view(o))
            .filter(|o| filter.matches(o))
            .map(std::borrow::Cow::into_owned)
            .collect();
        (items, revision, None)
    } else {
        let (mut revision, mut start) = match query.get("continue") {
            Some(token) if !token.is_empty() => {
                let (rv, start) = decode_continue(token)?;
                if !start.starts_with(&prefix) {
                    return Err(ApiError::bad_request(
                        "continue key is not valid: it belongs to another list",
                    ));
                }
                (rv, Some(start))
            }
            _ => (0, None),
        };
        let mut items = Vec::new();
        let mut next = None;
        loop {
            let page = state
                .store
                .list(&prefix, start.as_deref(), limit, revision)
                .await
                .map_err(|e| storage_error(resource, "", e))?;
            revision = page.revision;
            let last_key = page.items.last().map(|s| s.key.clone());
            let storage = stored_as(resource);
            for stored in page.items {
                let object = storage.served_form(stored.object);
                if filter.matches(&object) {
                    items.push(object);
                }
            }
            if !page.more {
                break;
            }
            let resume = format!("{}\0", last_key.unwrap_or_default());
            if limit > 0 && items.len() as i64 >= limit {
                next = Some(encode_continue(revision, &resume));
                break;
            }
            start = Some(resume);
        }
        (items, revision, next)
    };

    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(token) = &continue_token {
        metadata["continue"] = json!(token);
    }
    let items: Vec<Value> = items.into_iter().map(|o| with_type(resource, o)).collect();
    if wants == Wanted::Table {
        let include =
            IncludeObject::parse(query.get("includeObject")).map_err(ApiError::bad_request)?;
        let table = build_table(
            &resource.qualified(),
            &items,
            metadata,
            include,
            jiff::Timestamp::now(),
        );
        return Ok(body::json(StatusCode::OK, &table));
    }
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

fn selectors(resource: &Resource, query: &Query) -> Result<Filter, ApiError> {
    Filter::new(
        resource,
        query.get("labelSelector"),
        query.get("fieldSelector"),
    )
    .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// How one cached event looks to a watcher with a filter: passed on as is, turned into an
/// ADDED or DELETED because the object entered or left the selection, or dropped.
fn filtered_event(
    event: &WatchEvent,
    namespace: Option<&str>,
    filter: &Filter,
) -> Option<EventType> {
    let selected = |object: &Value| {
        namespace.is_none_or(|ns| object::namespace(object) == Some(ns)) && filter.matches(object)
    };
    let now = selected(&event.object);
    let before = event.previous.as_deref().is_some_and(selected);
    match (event.kind, before, now) {
        (EventType::Deleted, _, true) => Some(EventType::Deleted),
        (EventType::Deleted, _, false) => None,
        (_, false, true) => Some(EventType::Added),
        (_, true, true) => Some(EventType::Modified),
        (_, true, false) => Some(EventType::Deleted),
        (_, false, false) => None,
    }
}

/// A cached event with its objects as `storage`'s resource serves them, so selectors and
/// watchers see the served form; shared as is when nothing is converted.
fn served_event(storage: kinds::StoredAs, event: &Arc<WatchEvent>) -> Arc<WatchEvent> {
    if storage == kinds::StoredAs::Itself {
        return event.clone();
    }
    let convert = |object: &Arc<Value>| Arc::new(storage.served_form((**object).clone()));
    Arc::new(WatchEvent {
        kind: event.kind,
        object: convert(&event.object),
        previous: event.previous.as_ref().map(convert),
        revision: event.revision,
    })
}

/// The object a watcher is shown: for a DELETED made from a change that moved the object out
/// of the watcher's selection, the object as it was before, at the change's revision (as
/// upstream's cacher does), so the client sees the labels it had selected on.
fn shown_object(event: &WatchEvent, shown_as: EventType) -> Value {
    match (&event.previous, event.kind, shown_as) {
        (Some(previous), EventType::Modified, EventType::Deleted) => {
            let mut object = (**previous).clone();
            crate::storage::set_resource_version(&mut object, event.revision);
            object
        }
        _ => (*event.object).clone(),
    }
}

/// The field selector of a watch of one object by name, as upstream's handler decides it: the
/// client's own selector when it pins `metadata.name` to that name, `metadata.name=<name>`
/// when it gives none; any other selector is a bad request.
pub fn named_watch_fields(name: &str, selector: Option<&str>) -> Result<String, ApiError> {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return Ok(format!("metadata.name={name}"));
    };
    let parsed = tinykube_apimachinery::fields::FieldSelector::parse(selector)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if parsed.requires_exact_match("metadata.name") != Some(name) {
        return Err(ApiError::bad_request(
            "fieldSelector metadata.name doesn't match requested name",
        ));
    }
    Ok(selector.to_string())
}

async fn watch(
    state: &Shared,
    target: &Target,
    query: &Query,
    wants: Wanted,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let mut filter = selectors(resource, query)?;
    if let Some(name) = &target.name {
        let fields = named_watch_fields(name, query.get("fieldSelector"))?;
        filter = Filter::new(resource, query.get("labelSelector"), Some(&fields))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let send_initial = query.flag("sendInitialEvents");
    let after = match query.get("resourceVersion") {
        _ if send_initial => None,
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: must be a number"
            ))
        })?),
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let timeout = match query.int("timeoutSeconds")? {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds as u64),
        _ => WATCH_TIMEOUT + Duration::from_secs(rand::random::<u64>() % WATCH_TIMEOUT.as_secs()),
    };
    let include =
        IncludeObject::parse(query.get("includeObject")).map_err(ApiError::bad_request)?;
    let cache = state.cache(resource)?.clone();
    cache.wait_ready(Duration::from_secs(30)).await;
    let namespace = target.namespace.clone();
    let shutdown = state.shutdown.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Bytes>(64);
    let encode = move |kind: &str, object: &Value| -> Bytes {
        let object = with_type(resource, object.clone());
        let object = if wants == Wanted::Table {
            single_table(resource, object, include)
        } else {
            object
        };
        watch_line(kind, &object)
    };
    let subscription = cache.subscribe(after);
    tokio::spawn(async move {
        let mut subscription = match subscription {
            Ok(subscription) => subscription,
            Err(too_old) => {
                let status = ApiError::expired(too_old.to_string()).to_status();
                let status = serde_json::to_value(status).unwrap_or_default();
                let _ = sender.send(watch_line("ERROR", &status)).await;
                return;
            }
        };
        let mut last_revision = after.unwrap_or(0);
        let storage = stored_as(resource);
        for event in &subscription.initial {
            let event = served_event(storage, event);
            if let Some(kind) = filtered_event(&event, namespace.as_deref(), &filter) {
                if sender
                    .send(encode(kind.as_str(), &shown_object(&event, kind)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            last_revision = last_revision.max(event.revision);
        }
        let bookmark = |revision: i64, initial_end: bool| {
            let mut metadata = json!({"resourceVersion": revision.to_string()});
            if initial_end {
                metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            let object = json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata});
            watch_line("BOOKMARK", &object)
        };
        if send_initial {
            let revision = last_revision.max(cache.revision());
            if sender.send(bookmark(revision, true)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(BOOKMARK_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                received = subscription.live.recv() => {
                    let Ok(event) = received else {
                        // Closed (relist) or lagged: end the watch, the client re-watches.
                        return;
                    };
                    if event.revision <= last_revision {
                        continue;
                    }
                    last_revision = event.revision;
                    let event = served_event(storage, &event);
                    if let Some(kind) = filtered_event(&event, namespace.as_deref(), &filter) {
                        let object = shown_object(&event, kind);
                        if sender.send(encode(kind.as_str(), &object)).await.is_err() {
                            return;
                        }
                    }
                }
                _ = ticker.tick(), if bookmarks => {
                    let revision = last_revision.max(cache.revision());
                    if sender.send(bookmark(revision, false)).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = sender.closed() => return,
                _ = shutdown.cancelled() => return,
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let stream = futures::StreamExt::map(stream, Ok::<Bytes, std::convert::Infallible>);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// One event of a watch stream: a `{"object", "type"}` JSON line, written straight from the
/// borrowed object (no copy of it per event and watcher).
fn watch_line(kind: &str, object: &Value) -> Bytes {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        object: &'a Value,
        #[serde(rename = "type")]
        kind: &'a str,
    }
    let mut line = serde_json::to_vec(&Line { object, kind }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Name for `generateName`: the prefix and five random characters, upstream's alphabet.
fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| ALPHABET[rand::random::<u32>() as usize % ALPHABET.len()] as char)
        .collect();
    let max_prefix = 63 - suffix.len();
    let prefix: String = prefix.chars().take(max_prefix).collect();
    format!("{prefix}{suffix}")
}

/// What a fresh object's status is, whatever the client sent (upstream's PrepareForCreate).
fn reset_status_on_create(resource: &Resource, object: &mut Value) {
    let status = match (resource.group, resource.plural) {
        ("", "pods") => {
            let mut status = json!({"phase": "Pending"});
            if let Some(qos) = object.pointer("/status/qosClass").cloned() {
                status["qosClass"] = qos;
            }
            status
        }
        ("", "namespaces") => json!({"phase": "Active"}),
        ("", "services") => json!({"loadBalancer": {}}),
        ("apps", _) => json!({}),
        _ => return,
    };
    object["status"] = status;
}

async fn create(
    state: &Shared,
    target: &Target,
    headers: &HeaderMap,
    query: &Query,
    body: Bytes,
) -> Result<Response, ApiError> {
    if target.resource.namespaced && target.namespace.is_none() {
        return Err(unknown_path());
    }
    let object = body::parse_object(headers, &body)?;
    let manager = field_manager(query, headers);
    create_object(state, target, query, object, Ownership::Update(&manager)).await
}

/// Who owns the fields of a new object: the creator as an `Update`, or as an `Apply` of the
/// configuration it applied (server-side apply of an object that does not exist yet).
enum Ownership<'a> {
    Update(&'a str),
    Apply {
        manager: &'a str,
        applied: &'a Value,
    },
}

/// The field manager of a write: `fieldManager`, else the client's name from its User-Agent
/// (`kubectl/v1.32.4 (linux/amd64) ...` -> `kubectl`), as upstream.
fn field_manager(query: &Query, headers: &HeaderMap) -> String {
    if let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|agent| agent.split('/').next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .chars()
        .take(128)
        .collect()
}

/// A write's manager and what [`apply`] needs to know about the resource, owned.
struct Manager {
    name: String,
    api_version: String,
    qualified: String,
    has_status: bool,
    now: String,
}

impl Manager {
    fn new(resource: &Resource, name: &str) -> Manager {
        Manager {
            name: name.to_string(),
            api_version: resource.api_version(),
            qualified: resource.qualified(),
            has_status: resource.has_subresource(Subresource::Status),
            now: object::now_rfc3339(),
        }
    }

    fn writer(&self) -> apply::Writer<'_> {
        apply::Writer {
            manager: &self.name,
            api_version: &self.api_version,
            resource: &self.qualified,
            has_status: self.has_status,
            now: &self.now,
        }
    }
}

async fn create_object(
    state: &Shared,
    target: &Target,
    query: &Query,
    mut object: Value,
    ownership: Ownership<'_>,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    check_type(resource, &object)?;
    check_namespace(target, &object)?;
    {
        let meta = meta_mut(&mut object);
        if let Some(ns) = &target.namespace {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        let has_name = meta
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        if !has_name {
            if let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            {
                let name = generate_name(prefix);
                meta.insert("name".into(), json!(name));
            }
        }
    }
    let input = with_type(resource, object);
    let mut object = kinds::decode_and_default(&resource.qualified(), input.clone())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let warnings = check_unknown_fields(
        query.field_validation()?,
        kinds::unknown_fields(&resource.qualified(), &input),
    )?;
    {
        let meta = meta_mut(&mut object);
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        for field in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(field);
        }
        if resource.tracks_generation {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    reset_status_on_create(resource, &mut object);
    let name = object::name(&object).unwrap_or_default().to_string();
    let errors = kinds::validate_create(&resource.qualified(), &object);
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            resource.group,
            resource.kind,
            &name,
            errors,
        ));
    }
    if let Some(namespace) = &target.namespace {
        check_namespace_open(state, resource, &name, namespace).await?;
    }
    match ownership {
        Ownership::Update(manager) => {
            let manager = Manager::new(resource, manager);
            apply::record_update(&manager.writer(), None, &mut object);
        }
        Ownership::Apply { manager, applied } => {
            // Nobody owns anything yet, so there is nothing to conflict with.
            let manager = Manager::new(resource, manager);
            let owned =
                apply::apply(&manager.writer(), &json!({}), applied, true).unwrap_or_default();
            if let Some(fields) = owned.pointer("/metadata/managedFields") {
                meta_mut(&mut object).insert("managedFields".into(), fields.clone());
            }
        }
    }
    let dry_run = query.dry_run();
    let allocation = if resource.group.is_empty() && resource.plural == "services" {
        let cache = state.cache(resource)?;
        cache.wait_ready(Duration::from_secs(30)).await;
        let (existing, _) = cache.snapshot();
        Some(
            state
                .services
                .allocate(&mut object, &existing)
                .map_err(|e| ApiError::invalid(resource.group, resource.kind, &name, vec![e]))?,
        )
    } else {
        None
    };
    if dry_run {
        if let Some(allocation) = &allocation {
            state.services.release(allocation);
        }
        return respond(resource, Wanted::Object, query, StatusCode::CREATED, object)
            .map(|r| with_warnings(r, &warnings));
    }
    let key = key_for(resource, target.namespace.as_deref(), &name);
    let storage = stored_as(resource);
    match state.store.create(&key, &storage.stored_form(object)).await {
        Ok(stored) => {
            tracing::info!(resource = %resource.qualified(), key = %key, "created");
            respond(
                resource,
                Wanted::Object,
                query,
                StatusCode::CREATED,
                storage.served_form(stored.object),
            )
            .map(|r| with_warnings(r, &warnings))
        }
        Err(error) => {
            if let Some(allocation) = allocation {
                state.services.release(&allocation);
            }
            Err(storage_error(resource, &name, error))
        }
    }
}

/// Upstream's NamespaceLifecycle admission: no new objects in a namespace that does not exist
/// or is being deleted.
async fn check_namespace_open(
    state: &ApiState,
    resource: &Resource,
    name: &str,
    namespace: &str,
) -> Result<(), ApiError> {
    let namespaces = resources::find("", "v1", "namespaces").expect("namespaces are served");
    let key = key_for(namespaces, None, namespace);
    match state.store.get(&key).await {
        Ok(stored) if object::is_deleting(&stored.object) => Err(ApiError::forbidden(
            resource.group,
            resource.plural,
            name,
            &format!("unable to create new content in namespace {namespace} because it is being terminated"),
        )),
        Ok(_) => Ok(()),
        Err(StorageError::NotFound(_)) => Err(ApiError::not_found("", "namespaces", namespace)),
        Err(error) => Err(ApiError::internal(&error.to_string())),
    }
}

/// Applies `change` to the current object and writes the result, re-reading and retrying when
/// another writer got there first, unless the client named the resourceVersion it expects.
async fn write_with_retries(
    state: &Shared,
    target: &Target,
    (subresource, manager): (Option<Subresource>, &str),
    query: &Query,
    precondition: Option<i64>,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let name = target.name.clone().unwrap_or_default();
    for _ in 0..CONFLICT_RETRIES {
        let current = read(state, target).await?;
        if let Some(expected) = precondition {
            if expected != current.revision {
                return Err(storage_error(
                    resource,
                    &name,
                    StorageError::Conflict { key: current.key },
                ));
            }
        }
        let requested = change(&with_type(resource, current.object.clone()))?;
        let requested_rv = resource_version(&requested);
        if requested_rv > 0 && requested_rv != current.revision {
            return Err(storage_error(
                resource,
                &name,
                StorageError::Conflict { key: current.key },
            ));
        }
        let (mut new, warnings) = prepare_update(
            resource,
            subresource,
            requested,
            &current.object,
            query.field_validation()?,
        )?;
        if subresource.is_none() {
            let manager = Manager::new(resource, manager);
            apply::record_update(&manager.writer(), Some(&current.object), &mut new);
        }
        match commit_update(state, target, &current, new, query.dry_run()).await {
            Err(StorageError::Conflict { .. }) if precondition.is_none() => continue,
            Err(error) => return Err(storage_error(resource, &name, error)),
            Ok(object) => {
                return respond(resource, Wanted::Object, query, StatusCode::OK, object)
                    .map(|r| with_warnings(r, &warnings))
            }
        }
    }
    Err(storage_error(
        resource,
        &name,
        StorageError::Conflict { key: name.clone() },
    ))
}

/// Turns a requested object into the one to store: defaults, what the client may not change
/// kept from the old object, generation bumped on spec changes, then validated.
fn prepare_update(
    resource: &Resource,
    subresource: Option<Subresource>,
    requested: Value,
    old: &Value,
    validation: FieldValidation,
) -> Result<(Value, Vec<String>), ApiError> {
    let qualified = resource.qualified();
    let requested = with_type(resource, requested);
    let warnings = check_unknown_fields(validation, kinds::unknown_fields(&qualified, &requested))?;
    let old = with_type(resource, old.clone());
    let requested = keep_allocations(resource, requested, &old);
    let mut new = kinds::decode_and_default(&qualified, requested)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if subresource == Some(Subresource::Status) {
        // A status write changes the status only.
        let status = new.get("status").cloned();
        new = old.clone();
        match status {
            Some(status) => new["status"] = status,
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    } else if resource.has_subresource(Subresource::Status) {
        match old.get("status") {
            Some(status) => new["status"] = status.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    {
        let meta = meta_mut(&mut new);
        // A write that leaves managedFields out keeps them (upstream resets them only when a
        // client sends a list).
        if meta.get("managedFields").is_none_or(Value::is_null) {
            match old_meta.get("managedFields") {
                Some(fields) => meta.insert("managedFields".into(), fields.clone()),
                None => meta.remove("managedFields"),
            };
        }
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
            "name",
        ] {
            match old_meta.get(field) {
                Some(value) => meta.insert(field.into(), value.clone()),
                None => meta.remove(field),
            };
        }
        meta.remove("resourceVersion");
    }
    if resource.tracks_generation && new.get("spec") != old.get("spec") {
        let generation = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    let errors = kinds::validate_update(&qualified, &new, &old);
    if !errors.is_empty() {
        let name = object::name(&old).unwrap_or_default().to_string();
        return Err(ApiError::invalid(
            resource.group,
            resource.kind,
            &name,
            errors,
        ));
    }
    Ok((new, warnings))
}

/// A Service update that leaves out its ClusterIP or NodePorts keeps the allocated ones, as
/// upstream's service REST does before validation.
fn keep_allocations(resource: &Resource, mut requested: Value, old: &Value) -> Value {
    if !(resource.group.is_empty() && resource.plural == "services") {
        return requested;
    }
    let Some(spec) = requested.get_mut("spec").and_then(Value::as_object_mut) else {
        return requested;
    };
    for field in ["clusterIP", "clusterIPs"] {
        let unset = spec
            .get(field)
            .is_none_or(|v| v.is_null() || v == "" || v == &json!([]));
        if unset {
            if let Some(kept) = old.pointer(&format!("/spec/{field}")) {
                spec.insert(field.into(), kept.clone());
            }
        }
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        let old_ports = old
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for port in ports.iter_mut() {
            let unset = port.get("nodePort").is_none_or(|v| v.is_null() || v == 0);
            let matching = old_ports.iter().find(|o| {
                o.get("port") == port.get("port")
                    && o.get("protocol").unwrap_or(&json!("TCP"))
                        == port.get("protocol").unwrap_or(&json!("TCP"))
            });
            if let (true, Some(node_port)) = (unset, matching.and_then(|o| o.get("nodePort"))) {
                port["nodePort"] = node_port.clone();
            }
        }
    }
    if spec.get("healthCheckNodePort").is_none_or(Value::is_null) {
        if let Some(kept) = old.pointer("/spec/healthCheckNodePort") {
            spec.insert("healthCheckNodePort".into(), kept.clone());
        }
    }
    requested
}

/// Writes `new` over `current` (by revision). A no-op write stores nothing; an object being
/// deleted whose last finalizer is gone is deleted for good.
async fn commit_update(
    state: &ApiState,
    target: &Target,
    current: &Stored,
    new: Value,
    dry_run: bool,
) -> Result<Value, StorageError> {
    if object::comparable(&new)
        == object::comparable(&with_type(target.resource, current.object.clone()))
    {
        return Ok(current.object.clone());
    }
    if dry_run {
        return Ok(new);
    }
    if object::is_deleting(&new)
        && object::finalizers(&new).is_empty()
        && !pod_awaits_kubelet(target.resource, &new)
        && !namespace_awaits_finalize(target.resource, &new)
    {
        let deleted = state.store.delete(&current.key, current.revision).await?;
        return Ok(stored_as(target.resource).served_form(deleted.object));
    }
    let storage = stored_as(target.resource);
    let updated = state
        .store
        .update(&current.key, &storage.stored_form(new), current.revision)
        .await?;
    Ok(storage.served_form(updated.object))
}

/// A pod being deleted gracefully stays until its kubelet confirms with a zero-grace delete.
fn pod_awaits_kubelet(resource: &Resource, object: &Value) -> bool {
    resource.group.is_empty()
        && resource.plural == "pods"
        && object
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 0
}

/// A namespace being deleted stays until the namespace controller has emptied it and cleared
/// `spec.finalizers` through `namespaces/<name>/finalize`.
fn namespace_awaits_finalize(resource: &Resource, object: &Value) -> bool {
    resource.group.is_empty()
        && resource.plural == "namespaces"
        && object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// `autoscaling/v1` Scale of a Deployment or ReplicaSet.
fn scale_of(resource: &Resource, object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or_default();
    let selector = object
        .pointer("/spec/selector")
        .and_then(|s| {
            serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(
                s.clone(),
            )
            .ok()
        })
        .and_then(|s| tinykube_apimachinery::labels::Selector::from_label_selector(&s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let _ = resource;
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

async fn update_scale(
    state: &Shared,
    target: &Target,
    requested_scale: impl Fn(&Value) -> Result<Value, ApiError>,
    query: &Query,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let name = target.name.clone().unwrap_or_default();
    for _ in 0..CONFLICT_RETRIES {
        let current = read(state, target).await?;
        let scale = requested_scale(&scale_of(resource, &current.object))?;
        let requested_rv = resource_version(&scale);
        if requested_rv > 0 && requested_rv != current.revision {
            return Err(storage_error(
                resource,
                &name,
                StorageError::Conflict { key: current.key },
            ));
        }
        let replicas = match scale.pointer("/spec/replicas") {
            Some(Value::Number(n))
                if n.as_i64()
                    .is_some_and(|r| (0..=i32::MAX as i64).contains(&r)) =>
            {
                n.as_i64().unwrap_or(0)
            }
            other => {
                return Err(ApiError::invalid(
                    "autoscaling",
                    "Scale",
                    &name,
                    vec![FieldError::invalid(
                        "spec.replicas",
                        other.cloned().unwrap_or(Value::Null),
                        "must be greater than or equal to 0",
                    )],
                ))
            }
        };
        let mut requested = current.object.clone();
        requested["spec"]["replicas"] = json!(replicas);
        let (new, _) = prepare_update(
            resource,
            None,
            requested,
            &current.object,
            FieldValidation::Ignore,
        )?;
        match commit_update(state, target, &current, new, query.dry_run()).await {
            Err(StorageError::Conflict { .. }) if requested_rv == 0 => continue,
            Err(error) => return Err(storage_error(resource, &name, error)),
            Ok(object) => return Ok(body::json(StatusCode::OK, &scale_of(resource, &object))),
        }
    }
    Err(storage_error(
        resource,
        &name,
        StorageError::Conflict { key: name.clone() },
    ))
}

/// `POST pods/<name>/binding`: assign the pod to a node, once.
async fn bind(
    state: &Shared,
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let binding = body::parse_object(headers, &body)?;
    let name = target.name.clone().unwrap_or_default();
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                &name,
                vec![FieldError::required("target.name", "")],
            )
        })?
        .to_string();
    for _ in 0..CONFLICT_RETRIES {
        let current = read(state, target).await?;
        if let Some(assigned) = current
            .object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            return Err(ApiError::conflict(
                "",
                "pods",
                &name,
                &format!("pod {name} is already assigned to node \"{assigned}\""),
            ));
        }
        if object::is_deleting(&current.object) {
            return Err(ApiError::conflict(
                "",
                "pods",
                &name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        let mut pod = current.object.clone();
        pod["spec"]["nodeName"] = json!(node);
        set_condition(&mut pod, "PodScheduled", "True");
        match state
            .store
            .update(&current.key, &pod, current.revision)
            .await
        {
            Err(StorageError::Conflict { .. }) => continue,
            Err(error) => return Err(storage_error(target.resource, &name, error)),
            Ok(_) => {
                return Ok(body::json(
                    StatusCode::CREATED,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
                ))
            }
        }
    }
    Err(storage_error(
        target.resource,
        &name,
        StorageError::Conflict { key: name.clone() },
    ))
}

fn set_condition(object: &mut Value, condition: &str, status: &str) {
    if !object.get("status").is_some_and(Value::is_object) {
        object["status"] = json!({});
    }
    let now = object::now_rfc3339();
    let conditions = object["status"]
        .as_object_mut()
        .expect("status was just made a map")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions
        .as_array_mut()
        .expect("conditions was just made a list");
    let entry = json!({"type": condition, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition))
    {
        Some(existing) => *existing = entry,
        None => list.push(entry),
    }
}

/// DeleteOptions from the body (kubectl sends them there) and the query string.
#[derive(Debug, Default)]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    precondition_uid: Option<String>,
    precondition_resource_version: Option<String>,
}

impl DeleteOptions {
    fn parse(query: &Query, headers: &HeaderMap, body: &Bytes) -> Result<DeleteOptions, ApiError> {
        // kubectl sends DeleteOptions as JSON, typed clients (drain) as protobuf.
        let from_body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            body::parse_object(headers, body)?
        };
        let mut options = DeleteOptions {
            grace_period_seconds: from_body.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation_policy: from_body
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_uid: from_body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_resource_version: from_body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        if from_body.get("orphanDependents") == Some(&json!(true)) {
            options.propagation_policy = Some("Orphan".into());
        }
        if let Some(grace) = query.int("gracePeriodSeconds")? {
            options.grace_period_seconds = Some(grace);
        }
        if let Some(policy) = query.get("propagationPolicy") {
            options.propagation_policy = Some(policy.to_string());
        }
        if query.get("orphanDependents") == Some("true") {
            options.propagation_policy = Some("Orphan".into());
        }
        match options.propagation_policy.as_deref() {
            None | Some("Orphan") | Some("Background") | Some("Foreground") => {}
            Some(other) => {
                return Err(ApiError::invalid(
                    "",
                    "DeleteOptions",
                    "",
                    vec![FieldError::not_supported(
                        "propagationPolicy",
                        json!(other),
                        &["Foreground", "Background", "Orphan"],
                    )],
                ))
            }
        }
        if options.grace_period_seconds.is_some_and(|g| g < 0) {
            options.grace_period_seconds = Some(0);
        }
        Ok(options)
    }
}

/// Deletes one object: at once, or by marking it (deletionTimestamp) when finalizers or a
/// pod's graceful termination must run first.
async fn delete(
    state: &Shared,
    target: &Target,
    options: &DeleteOptions,
    dry_run: bool,
) -> Result<(StatusCode, Value), ApiError> {
    let resource = target.resource;
    let name = target.name.clone().unwrap_or_default();
    for _ in 0..CONFLICT_RETRIES {
        let current = read(state, target).await?;
        let object = with_type(resource, current.object.clone());
        if let Some(uid) = &options.precondition_uid {
            let actual = object::meta_str(&object, "uid").unwrap_or_default();
            if uid != actual {
                return Err(ApiError::conflict(
                    resource.group,
                    resource.plural,
                    &name,
                    &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
                ));
            }
        }
        if let Some(rv) = &options.precondition_resource_version {
            let actual = current.revision.to_string();
            if *rv != actual {
                return Err(ApiError::conflict(resource.group, resource.plural, &name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                )));
            }
        }
        let plan = plan_deletion(resource, &object, options);
        if dry_run {
            return Ok((StatusCode::OK, object));
        }
        let storage = stored_as(resource);
        let result = match plan {
            Deletion::Now => state
                .store
                .delete(&current.key, current.revision)
                .await
                .map(|s| (StatusCode::OK, storage.served_form(s.object))),
            Deletion::Mark(marked) => {
                if object::comparable(&marked) == object::comparable(&object) {
                    return Ok((StatusCode::OK, object));
                }
                state
                    .store
                    .update(&current.key, &storage.stored_form(marked), current.revision)
                    .await
                    .map(|s| (StatusCode::OK, storage.served_form(s.object)))
            }
        };
        match result {
            Err(StorageError::Conflict { .. }) => continue,
            Err(error) => return Err(storage_error(resource, &name, error)),
            Ok((code, object)) => {
                tracing::info!(key = %current.key, "deleted");
                return Ok((code, with_type(resource, object)));
            }
        }
    }
    Err(storage_error(
        resource,
        &name,
        StorageError::Conflict { key: name.clone() },
    ))
}

#[derive(Debug, PartialEq)]
enum Deletion {
    Now,
    /// Store this (deletionTimestamp set) and let finalizers or the kubelet finish.
    Mark(Value),
}

/// Decides how a delete proceeds (upstream's BeforeDelete and graceful deletion).
fn plan_deletion(resource: &Resource, object: &Value, options: &DeleteOptions) -> Deletion {
    let mut marked = object.clone();
    let mut finalizers = object::finalizers(object);
    match options.propagation_policy.as_deref() {
        Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
            finalizers.push("orphan".into())
        }
        Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
            finalizers.push("foregroundDeletion".into())
        }
        _ => {}
    }
    let is_pod = resource.group.is_empty() && resource.plural == "pods";
    let is_namespace = resource.group.is_empty() && resource.plural == "namespaces";
    let grace = if is_pod {
        let scheduled = object
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            object.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !scheduled || finished {
            0
        } else {
            options
                .grace_period_seconds
                .or_else(|| {
                    object
                        .pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
        }
    } else {
        0
    };
    let namespace_finalizers = is_namespace
        && object
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
    if finalizers.is_empty() && grace == 0 && !namespace_finalizers {
        return Deletion::Now;
    }
    let already = object::is_deleting(object);
    let meta = meta_mut(&mut marked);
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), json!(finalizers));
    }
    let current_grace = meta
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64);
    if !already || current_grace.is_some_and(|g| grace < g) {
        meta.insert("deletionTimestamp".into(), json!(object::rfc3339_in(grace)));
        meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
    }
    if is_pod && grace == 0 && finalizers.is_empty() {
        return Deletion::Now;
    }
    if is_namespace {
        marked["status"] = json!({"phase": "Terminating"});
    }
    Deletion::Mark(marked)
}

async fn delete_collection(
    state: &Shared,
    target: &Target,
    query: &Query,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let resource = target.resource;
    let filter = selectors(resource, query)?;
    let options = DeleteOptions::parse(query, headers, body)?;
    let prefix = prefix_for(resource, target.namespace.as_deref());
    let page = state
        .store
        .list(&prefix, None, 0, 0)
        .await
        .map_err(|e| storage_error(resource, "", e))?;
    let mut deleted = Vec::new();
    let storage = stored_as(resource);
    for stored in page.items {
        let object = storage.served_form(stored.object);
        if !filter.matches(&object) {
            continue;
        }
        let item = Target {
            resource,
            namespace: object::namespace(&object).map(str::to_string),
            name: object::name(&object).map(str::to_string),
            subresource: None,
            legacy_watch: false,
        };
        match delete(state, &item, &options, query.dry_run()).await {
            Ok((_, object)) => deleted.push(object),
            Err(error) if error.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    Ok(body::json(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": {"resourceVersion": page.revision.to_string()},
            "items": deleted,
        }),
    ))
}

/// `PUT namespaces/<name>/finalize`: the namespace controller clears `spec.finalizers` once the
/// namespace is empty; a terminating namespace with none left is deleted.
async fn finalize_namespace(
    state: &Shared,
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let requested = body::parse_object(headers, &body)?;
    check_identity(target, &requested)?;
    let finalizers = requested
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    let name = target.name.clone().unwrap_or_default();
    let current = read(state, target).await?;
    let mut namespace = current.object.clone();
    namespace["spec"]["finalizers"] = finalizers.clone();
    let done = object::is_deleting(&namespace)
        && finalizers.as_array().is_none_or(Vec::is_empty)
        && object::finalizers(&namespace).is_empty();
    let result = if done {
        state.store.delete(&current.key, current.revision).await
    } else {
        state
            .store
            .update(&current.key, &namespace, current.revision)
            .await
    };
    let stored = result.map_err(|e| storage_error(target.resource, &name, e))?;
    Ok(body::json(
        StatusCode::OK,
        &with_type(target.resource, stored.object),
    ))
}

/// The address of the kubelet on the node `pod` is bound to: every pod subresource the
/// kubelet serves (log, exec, attach, portforward) is reached through it.
async fn pod_kubelet_address(state: &Shared, pod: &Value, name: &str) -> Result<String, ApiError> {
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| kubelet_proxy::not_scheduled(name))?;
    let nodes = resources::find("", "v1", "nodes").expect("nodes are served");
    let node = state
        .store
        .get(&key_for(nodes, None, node_name))
        .await
        .map_err(|e| storage_error(nodes, node_name, e))?
        .object;
    kubelet_proxy::kubelet_address(&node).ok_or_else(|| kubelet_proxy::no_address(node_name))
}

/// `pods/<name>/log`: streamed from the kubelet of the pod's node.
async fn pod_log(state: &Shared, target: &Target, query: &Query) -> Result<Response, ApiError> {
    let pod = read(state, target).await?.object;
    let name = target.name.as_deref().unwrap_or_default();
    let container = kubelet_proxy::choose_container(&pod, query.get("container"))?;
    let address = pod_kubelet_address(state, &pod, name).await?;
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let path = kubelet_proxy::log_path(namespace, name, &container, &query.params);
    kubelet_proxy::stream_from_kubelet(&address, &path).await
}

/// `pods/<name>/exec` and `pods/<name>/attach`: checked here as upstream's streamLocation
/// does (pod, options, container, node), then the client's upgraded connection is proxied to
/// the kubelet of the pod's node.
async fn pod_stream(
    state: &Shared,
    target: &Target,
    kind: Subresource,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    upgrade: Option<tinykube_component_base::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    let pod = read(state, target).await?.object;
    let name = target.name.as_deref().unwrap_or_default();
    let options = if kind == Subresource::Exec {
        kubelet_proxy::exec_options(&query.params)?
    } else {
        kubelet_proxy::attach_options(&query.params)?
    };
    let container = kubelet_proxy::choose_container(&pod, options.container.as_deref())?;
    let address = pod_kubelet_address(state, &pod, name).await?;
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let path = kubelet_proxy::stream_path(kind.name(), namespace, name, &container, &options);
    kubelet_proxy::proxy_upgraded(upgrade, method, headers, &address, &path).await
}

/// `pods/<name>/portforward`: checked here as upstream's PortForwardLocation does (pod, ports,
/// node), then the client's upgraded connection is proxied to the kubelet of the pod's node.
async fn pod_port_forward(
    state: &Shared,
    target: &Target,
    method: &Method,
    headers: &HeaderMap,
    query: &Query,
    upgrade: Option<tinykube_component_base::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    let pod = read(state, target).await?.object;
    let name = target.name.as_deref().unwrap_or_default();
    let ports = kubelet_proxy::port_forward_ports(&query.params)?;
    let address = pod_kubelet_address(state, &pod, name).await?;
    let namespace = target.namespace.as_deref().unwrap_or("default");
    let path = kubelet_proxy::port_forward_path(namespace, name, &ports);
    kubelet_proxy::proxy_upgraded(upgrade, method, headers, &address, &path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_watches_keep_only_selectors_of_their_name() {
        let cases = [
            (None, Ok("metadata.name=web")),
            (Some(""), Ok("metadata.name=web")),
            (Some("metadata.name=web"), Ok("metadata.name=web")),
            (
                Some("metadata.name=web,status.phase=Running"),
                Ok("metadata.name=web,status.phase=Running"),
            ),
            (Some("metadata.name=other"), Err(400)),
            (Some("status.phase=Running"), Err(400)),
            (Some("metadata.name!=web"), Err(400)),
        ];
        for (selector, want) in cases {
            let got = named_watch_fields("web", selector).map_err(|e| e.code);
            assert_eq!(got, want.map(String::from), "{selector:?}");
        }
        let err = named_watch_fields("web", Some("metadata.name=x")).unwrap_err();
        assert!(err
            .to_string()
            .contains("fieldSelector metadata.name doesn't match requested name"));
    }

    fn pods() -> &'static Resource {
        resources::find("", "v1", "pods").unwrap()
    }

    #[test]
    fn watch_lines_are_the_json_of_type_and_object() {
        let status = json!({"kind": "Status", "code": 410, "details": null});
        let pod = json!({"metadata": {"name": "ü\"n", "labels": {"b": "1", "a": "2"}}, "spec": {}});
        for (kind, object) in [
            ("ADDED", &pod),
            ("ERROR", &status),
            ("BOOKMARK", &json!({})),
        ] {
            let mut want = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
            want.push(b'\n');
            assert_eq!(watch_line(kind, object), Bytes::from(want), "{kind}");
        }
    }

    #[test]
    fn patches_name_a_resource_version_only_when_they_set_one() {
        // (patch type, body, the resourceVersion it names or Err for a malformed one)
        type Named = Result<Option<i64>, ()>;
        let cases: &[(PatchType, &str, Named)] = &[
            (
                PatchType::MergePatch,
                r#"{"status":{"phase":"Running"}}"#,
                Ok(None),
            ),
            (
                PatchType::MergePatch,
                r#"{"metadata":{"resourceVersion":"42"}}"#,
                Ok(Some(42)),
            ),
            (
                PatchType::StrategicMergePatch,
                r#"{"metadata":{"resourceVersion":null}}"#,
                Ok(None),
            ),
            (
                PatchType::StrategicMergePatch,
                r#"{"metadata":{"resourceVersion":"x"}}"#,
                Err(()),
            ),
            (
                PatchType::JsonPatch,
                r#"[{"op":"replace","path":"/metadata/resourceVersion","value":"7"}]"#,
                Ok(Some(7)),
            ),
            (
                PatchType::JsonPatch,
                r#"[{"op":"test","path":"/metadata/resourceVersion","value":"7"}]"#,
                Ok(None),
            ),
            (PatchType::JsonPatch, "not json", Ok(None)),
        ];
        for (patch_type, body, expected) in cases {
            let got = patch_resource_version(*patch_type, body.as_bytes()).map_err(|_| ());
            assert_eq!(&got, expected, "{body}");
        }
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, "/registry/pods/default/b\0");
        assert_eq!(
            decode_continue(&token).unwrap(),
            (42, "/registry/pods/default/b\0".to_string())
        );
        for bad in ["", "!!!", "e30="] {
            assert_eq!(decode_continue(bad).unwrap_err().code, 400, "{bad:?}");
        }
    }

    #[test]
    fn generated_names_keep_the_prefix_and_fit() {
        let name = generate_name("web-5d9c7-");
        assert!(name.starts_with("web-5d9c7-") && name.len() == 15, "{name}");
        assert!(generate_name(&"x".repeat(80)).len() <= 63);
    }

    #[test]
    fn deletion_plans_follow_upstream() {
        let scheduled = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 20}, "status": {"phase": "Running"}});
        let unscheduled = json!({"metadata": {"name": "p"}, "spec": {}});
        let finished = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Succeeded"}});
        let with_finalizer = json!({"metadata": {"name": "p", "finalizers": ["x"]}, "spec": {}});
        let options = |grace: Option<i64>, policy: Option<&str>| DeleteOptions {
            grace_period_seconds: grace,
            propagation_policy: policy.map(str::to_string),
            ..Default::default()
        };
        let grace_of = |plan: &Deletion| match plan {
            Deletion::Now => None,
            Deletion::Mark(o) => o
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64),
        };
        let cases: &[(&Value, DeleteOptions, Option<i64>)] = &[
            (&scheduled, options(None, None), Some(20)),
            (&scheduled, options(Some(5), None), Some(5)),
            (&scheduled, options(Some(0), None), None),
            (&unscheduled, options(None, None), None),
            (&finished, options(None, None), None),
            (&with_finalizer, options(None, None), Some(0)),
            (&unscheduled, options(None, Some("Orphan")), Some(0)),
        ];
        for (object, options, expected) in cases {
            assert_eq!(
                grace_of(&plan_deletion(pods(), object, options)),
                *expected,
                "{object} {options:?}"
            );
        }
        let Deletion::Mark(orphaned) =
            plan_deletion(pods(), &unscheduled, &options(None, Some("Foreground")))
        else {
            panic!("foreground deletion must mark the object");
        };
        assert_eq!(object::finalizers(&orphaned), vec!["foregroundDeletion"]);
    }

    #[test]
    fn filtered_watch_events_follow_selection_changes() {
        let filter = Filter::new(pods(), Some("app=web"), None).unwrap();
        let web = Arc::new(
            json!({"metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"}}}),
        );
        let other = Arc::new(
            json!({"metadata": {"name": "a", "namespace": "default", "labels": {"app": "db"}}}),
        );
        let event = |kind, object: &Arc<Value>, previous: Option<&Arc<Value>>| WatchEvent {
            kind,
            object: object.clone(),
            previous: previous.cloned(),
            revision: 2,
        };
        let cases = [
            (event(EventType::Added, &web, None), Some(EventType::Added)),
            (event(EventType::Added, &other, None), None),
            (
                event(EventType::Modified, &web, Some(&web)),
                Some(EventType::Modified),
            ),
            (
                event(EventType::Modified, &other, Some(&web)),
                Some(EventType::Deleted),
            ),
            (
                event(EventType::Modified, &web, Some(&other)),
                Some(EventType::Added),
            ),
            (
                event(EventType::Deleted, &web, Some(&web)),
                Some(EventType::Deleted),
            ),
            (event(EventType::Deleted, &other, Some(&other)), None),
        ];
        for (event, expected) in cases {
            assert_eq!(
                filtered_event(&event, Some("default"), &filter),
                expected,
                "{event:?}"
            );
        }
        let left = event(EventType::Modified, &other, Some(&web));
        assert_eq!(
            shown_object(&left, EventType::Deleted),
            json!({"metadata": {"name": "a", "namespace": "default", "labels": {"app": "web"}, "resourceVersion": "2"}}),
            "a DELETED for leaving the selection shows the object as it was selected"
        );
        let everything = Filter::default();
        assert_eq!(
            filtered_event(
                &event(EventType::Added, &web, None),
                Some("kube-system"),
                &everything
            ),
            None
        );
    }
}
