//! REST calls on objects of any served type, as JSON values: what the writing verbs send.
//!
//! Objects stay `serde_json::Value`s end to end (no typed round trip) so that a three-way patch
//! compares exactly what the server stored. Failures become [`CliError`]s worded as upstream
//! prints them; validation failures (422 with causes) read `The Deployment "web" is invalid:
//! spec.replicas: Invalid value: ...`.

use crate::error::CliError;
use crate::resources::ResourceType;
use serde_json::Value;

/// The field manager upstream's client-side apply records.
pub const APPLY_FIELD_MANAGER: &str = "kubectl-client-side-apply";

/// The content types of the patches we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Strategic,
    Merge,
    Json,
}

impl PatchType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Strategic => "application/strategic-merge-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::Json => "application/json-patch+json",
        }
    }
}

/// One served type in one namespace (`None` for cluster-scoped types).
#[derive(Clone)]
pub struct Endpoint<'a> {
    pub client: &'a kube::Client,
    pub rtype: &'a ResourceType,
    pub namespace: Option<&'a str>,
}

impl<'a> Endpoint<'a> {
    /// `namespace` is ignored for cluster-scoped types.
    pub fn new(client: &'a kube::Client, rtype: &'a ResourceType, namespace: &'a str) -> Self {
        Self {
            client,
            rtype,
            namespace: rtype.namespaced.then_some(namespace),
        }
    }

    /// `/apis/apps/v1/namespaces/default/deployments`.
    pub fn collection_path(&self) -> String {
        resource_path(self.rtype, self.namespace, None)
    }

    fn object_path(&self, name: &str, subresource: Option<&str>) -> String {
        let mut path = resource_path(self.rtype, self.namespace, Some(name));
        if let Some(sub) = subresource {
            path.push('/');
            path.push_str(sub);
        }
        path
    }

    pub async fn get(&self, name: &str) -> Result<Value, CliError> {
        self.send(http::Method::GET, self.object_path(name, None), None, &[])
            .await
    }

    /// The object, or `None` when the server says it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<Value>, CliError> {
        match self.get(name).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn get_subresource(&self, name: &str, sub: &str) -> Result<Value, CliError> {
        self.send(
            http::Method::GET,
            self.object_path(name, Some(sub)),
            None,
            &[],
        )
        .await
    }

    /// The items of a list (each with its `apiVersion` and `kind`), filtered by a label
    /// selector when given.
    pub async fn list(&self, label_selector: Option<&str>) -> Result<Vec<Value>, CliError> {
        let query: Vec<(&str, &str)> = label_selector
            .map(|s| vec![("labelSelector", s)])
            .unwrap_or_default();
        let list = self
            .send(http::Method::GET, self.collection_path(), None, &query)
            .await?;
        Ok(crate::printers::items_of_list(list))
    }

    pub async fn create(&self, body: &Value, query: &[(&str, &str)]) -> Result<Value, CliError> {
        self.create_with(body, query, api_error).await
    }

    /// POST, with the server's failures worded by `on_error` (generators wrap the message).
    pub async fn create_with(
        &self,
        body: &Value,
        query: &[(&str, &str)],
        on_error: impl FnOnce(kube::Error) -> CliError,
    ) -> Result<Value, CliError> {
        let request = http::Request::post(with_query(&self.collection_path(), query))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(body_of(body)?)
            .map_err(|e| CliError::usage(e.to_string()))?;
        self.client.request(request).await.map_err(on_error)
    }

    pub async fn replace(
        &self,
        name: &str,
        subresource: Option<&str>,
        body: &Value,
    ) -> Result<Value, CliError> {
        self.send(
            http::Method::PUT,
            self.object_path(name, subresource),
            Some(body_of(body)?),
            &[],
        )
        .await
    }

    pub async fn patch(
        &self,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: &Value,
        query: &[(&str, &str)],
    ) -> Result<Value, CliError> {
        let request = http::Request::patch(with_query(&self.object_path(name, subresource), query))
            .header(http::header::CONTENT_TYPE, patch_type.content_type())
            .header(http::header::ACCEPT, "application/json")
            .body(body_of(patch)?)
            .map_err(|e| CliError::usage(e.to_string()))?;
        self.client.request(request).await.map_err(api_error)
    }

    /// Watches one object by name from `resource_version` (events as JSON values).
    pub async fn watch_one(
        &self,
        name: &str,
        resource_version: &str,
    ) -> Result<
        impl futures::Stream<Item = Result<kube::core::WatchEvent<Value>, kube::Error>>,
        CliError,
    > {
        let selector = format!("metadata.name={name}");
        let query = [
            ("watch", "true"),
            ("fieldSelector", selector.as_str()),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", "300"),
        ];
        let request = http::Request::get(with_query(&self.collection_path(), &query))
            .body(Vec::new())
            .map_err(|e| CliError::usage(e.to_string()))?;
        self.client
            .request_events::<Value>(request)
            .await
            .map_err(api_error)
    }

    /// DELETE with `DeleteOptions` (propagation policy, grace period, preconditions).
    pub async fn delete(&self, name: &str, options: &Value) -> Result<Value, CliError> {
        self.send(
            http::Method::DELETE,
            self.object_path(name, None),
            Some(body_of(options)?),
            &[],
        )
        .await
    }

    async fn send(
        &self,
        method: http::Method,
        path: String,
        body: Option<Vec<u8>>,
        query: &[(&str, &str)],
    ) -> Result<Value, CliError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(with_query(&path, query))
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.unwrap_or_default())
            .map_err(|e| CliError::usage(e.to_string()))?;
        self.client.request(request).await.map_err(api_error)
    }
}

fn body_of(value: &Value) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec(value).map_err(|e| CliError::usage(e.to_string()))
}

/// `/api/v1/namespaces/default/pods/web`, `/apis/apps/v1/deployments`: the URL path of a type
/// (in `namespace` when it is namespaced and one is given) and optionally one object.
pub fn resource_path(
    resource: &ResourceType,
    namespace: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut path = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    if let (true, Some(namespace)) = (resource.namespaced, namespace) {
        path.push_str(&format!("/namespaces/{}", percent_encode(namespace)));
    }
    path.push('/');
    path.push_str(&resource.plural);
    if let Some(name) = name {
        path.push('/');
        path.push_str(&percent_encode(name));
    }
    path
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved bytes).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `path?k=v&...` with the values percent-encoded; empty values are left out.
pub fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect();
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

/// A kube-rs failure as upstream prints it. A 422 with details reads
/// `The Deployment "web" is invalid: <field>: <message>` (one cause) or the causes as a list.
pub fn api_error(error: kube::Error) -> CliError {
    if let kube::Error::Api(status) = &error {
        if status.code == 422 && status.reason == "Invalid" {
            if let Some(text) = invalid_message(status) {
                return CliError::Plain(text);
            }
        }
    }
    CliError::from(error)
}

fn invalid_message(status: &kube::core::Status) -> Option<String> {
    let details = status.details.as_ref()?;
    let head = if !details.kind.is_empty() || !details.name.is_empty() {
        format!("The {} \"{}\" is invalid", details.kind, details.name)
    } else {
        "The request is invalid".to_owned()
    };
    let causes: Vec<String> = details
        .causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    Some(match causes.len() {
        0 => head,
        1 => format!("{head}: {}", causes[0]),
        _ => format!(
            "{head}: \n{}",
            causes
                .iter()
                .map(|c| format!("* {c}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    })
}

/// Adds upstream's `error when <verb> "<source>": ` in front of a server error's message (its
/// `AddSourceToErr`); other errors get it in front of their text.
pub fn with_source(error: CliError, verb: &str, source: &str) -> CliError {
    if source.is_empty() {
        return error;
    }
    match error {
        CliError::Server {
            reason,
            message,
            code,
        } => CliError::Server {
            reason,
            message: format!("error when {verb} \"{source}\": {message}"),
            code,
        },
        CliError::Usage(message) => {
            CliError::Usage(format!("error when {verb} \"{source}\": {message}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::{StatusCause, StatusDetails};
    use kube::core::Status;

    fn invalid(causes: &[(&str, &str)]) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code: 422,
            reason: "Invalid".into(),
            message: "ignored".into(),
            details: Some(StatusDetails {
                kind: "Deployment".into(),
                name: "web".into(),
                causes: causes
                    .iter()
                    .map(|(f, m)| StatusCause {
                        field: f.to_string(),
                        message: m.to_string(),
                        reason: "FieldValueInvalid".into(),
                    })
                    .collect(),
                group: String::new(),
                uid: String::new(),
                retry_after_seconds: 0,
            }),
            ..Status::default()
        }))
    }

    #[test]
    fn invalid_objects_read_like_upstream() {
        assert_eq!(
            api_error(invalid(&[("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")])).to_string(),
            "The Deployment \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            api_error(invalid(&[("a", "x"), ("b", "y")])).to_string(),
            "The Deployment \"web\" is invalid: \n* a: x\n* b: y"
        );
    }

    #[test]
    fn sources_are_named_in_server_errors() {
        let error = CliError::Server {
            reason: "AlreadyExists".into(),
            message: "deployments.apps \"web\" already exists".into(),
            code: 409,
        };
        assert_eq!(
            with_source(error, "creating", "web.yaml").to_string(),
            "Error from server (AlreadyExists): error when creating \"web.yaml\": deployments.apps \"web\" already exists"
        );
        assert_eq!(percent_encode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
    }
}
