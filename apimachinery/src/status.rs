//! Kubernetes `Status` errors, as the apiserver returns them.
//!
//! * [`FieldPath`] builds validation paths (`spec.containers[0].name`,
//!   `metadata.labels[app]`), as upstream `field.Path`.
//! * [`FieldError`] is one validation problem at a path, worded as upstream
//!   `field.Error` (`spec.replicas: Invalid value: -1: must be greater than or
//!   equal to 0`) and carried into `details.causes` with upstream's cause types
//!   (`FieldValueInvalid`, ...).
//! * [`ApiError`] is a failed request: an HTTP code, a [`Reason`], upstream's
//!   exact message and `details`. Its constructors mirror
//!   `k8s.io/apimachinery/pkg/api/errors` (`NewNotFound`, `NewConflict`,
//!   `NewInvalid`, ...), and [`ApiError::to_status`] gives the k8s-openapi
//!   `Status` object whose JSON `kubectl` and client libraries decode
//!   (`kind: Status`, `apiVersion: v1`, `status: Failure`, empty fields omitted).

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ListMeta, Status, StatusCause, StatusDetails,
};

/// Upstream's detail for a resourceVersion precondition failure
/// (`registry.OptimisticLockErrorMsg`), for use with [`ApiError::conflict`].
pub const OPTIMISTIC_LOCK_ERROR_MSG: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Quotes a string the way Go's `%q` / `strconv.Quote` does: double quotes,
/// `\"`, `\\`, the usual C escapes, and `\x`/`\u`/`\U` for other control
/// characters. Upstream messages quote names this way (`pods "web" not found`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() || is_invisible_format(c) => {
                let n = u32::from(c);
                if n < 0x80 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A few non-printing format characters Go escapes that `char::is_control`
/// does not cover (zero-width and bidi controls, BOM).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// A path to a field, rendered as upstream `field.Path`: children joined with
/// `.`, list indexes and map keys in brackets.
///
/// ```
/// use tinykube_apimachinery::FieldPath;
/// let p = FieldPath::new("spec").child("containers").index(0).child("name");
/// assert_eq!(p.to_string(), "spec.containers[0].name");
/// assert_eq!(FieldPath::new("metadata").child("labels").key("app").to_string(), "metadata.labels[app]");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(String);

impl FieldPath {
    /// A root path element such as `spec` or `metadata`.
    pub fn new(name: &str) -> FieldPath {
        FieldPath(name.to_string())
    }

    /// `self.name` (just `name` when `self` is the empty path).
    pub fn child(&self, name: &str) -> FieldPath {
        if self.0.is_empty() {
            FieldPath::new(name)
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    /// `self[index]`, for list elements.
    pub fn index(&self, index: usize) -> FieldPath {
        FieldPath(format!("{}[{index}]", self.0))
    }

    /// `self[key]`, for map entries (the key is not quoted, as upstream).
    pub fn key(&self, key: &str) -> FieldPath {
        FieldPath(format!("{}[{key}]", self.0))
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for FieldPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.0
    }
}

impl From<&FieldPath> for String {
    fn from(p: &FieldPath) -> String {
        p.0.clone()
    }
}

/// The type of a field validation error (upstream `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorKind {
    /// A required value is missing.
    Required,
    /// The value is malformed.
    Invalid,
    /// The value is not one of an enumeration.
    NotSupported,
    /// The value collides with another that must be unique.
    Duplicate,
    /// The value is too long (the value itself is not echoed).
    TooLong,
    /// The value is valid in form but not allowed here.
    Forbidden,
    /// A list has too many items.
    TooMany,
    /// A referenced value was not found.
    NotFound,
    /// The value does not match the schema type.
    TypeInvalid,
    /// A server-side failure while validating.
    Internal,
}

impl FieldErrorKind {
    /// The `details.causes[].reason` string (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::Internal => "InternalError",
        }
    }

    /// The human label at the start of the message (`Invalid value`, ...).
    pub fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Internal => "Internal error",
        }
    }
}

/// One field validation problem (upstream `field.Error`).
///
/// `Display` is `<field>: <body>` exactly as upstream `Error()`; [`body`](Self::body)
/// is the part after the path, which becomes the cause message.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// The path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// The offending value, echoed in the message; `None` leaves it out.
    pub value: Option<serde_json::Value>,
    pub detail: String,
}

impl FieldError {
    fn build(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<serde_json::Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    /// `field: Required value: detail` (upstream `field.Required`).
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::build(FieldErrorKind::Required, field, None, detail)
    }

    /// `field: Invalid value: <value>: detail` (upstream `field.Invalid`).
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<serde_json::Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::build(FieldErrorKind::Invalid, field, Some(value.into()), detail)
    }

    /// `field: Unsupported value: <value>: supported values: "a", "b"`
    /// (upstream `field.NotSupported`).
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<serde_json::Value>,
        supported: &[&str],
    ) -> FieldError {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::build(
            FieldErrorKind::NotSupported,
            field,
            Some(value.into()),
            detail,
        )
    }

    /// `field: Duplicate value: <value>` (upstream `field.Duplicate`).
    pub fn duplicate(field: impl Into<String>, value: impl Into<serde_json::Value>) -> FieldError {
        FieldError::build(FieldErrorKind::Duplicate, field, Some(value.into()), "")
    }

    /// `field: Forbidden: detail` (upstream `field.Forbidden`).
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::build(FieldErrorKind::Forbidden, field, None, detail)
    }

    /// `field: Too long: may not be more than N bytes`, or `value is too long`
    /// without a limit (upstream `field.TooLong`).
    pub fn too_long(field: impl Into<String>, max_len: Option<usize>) -> FieldError {
        let detail = match max_len {
            Some(n) => format!("may not be more than {n} bytes"),
            None => "value is too long".to_string(),
        };
        FieldError::build(FieldErrorKind::TooLong, field, None, detail)
    }

    /// `field: Too many: <actual>: must have at most N items` (upstream
    /// `field.TooMany`; either number may be unknown).
    pub fn too_many(
        field: impl Into<String>,
        actual: Option<usize>,
        max: Option<usize>,
    ) -> FieldError {
        let detail = match max {
            Some(n) => format!("must have at most {n} items"),
            None => "has too many items".to_string(),
        };
        FieldError::build(
            FieldErrorKind::TooMany,
            field,
            actual.map(serde_json::Value::from),
            detail,
        )
    }

    /// `field: Not found: <value>` (upstream `field.NotFound`).
    pub fn not_found(field: impl Into<String>, value: impl Into<serde_json::Value>) -> FieldError {
        FieldError::build(FieldErrorKind::NotFound, field, Some(value.into()), "")
    }

    /// `field: Invalid value: <value>: detail` with the `FieldValueTypeInvalid`
    /// cause (upstream `field.TypeInvalid`).
    pub fn type_invalid(
        field: impl Into<String>,
        value: impl Into<serde_json::Value>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::build(
            FieldErrorKind::TypeInvalid,
            field,
            Some(value.into()),
            detail,
        )
    }

    /// `field: Internal error: detail` (upstream `field.InternalError`).
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::build(FieldErrorKind::Internal, field, None, detail)
    }

    /// The message without the path (upstream `ErrorBody`). Required,
    /// Forbidden, TooLong and Internal never echo the value.
    pub fn body(&self) -> String {
        let mut s = self.kind.label().to_string();
        let echoes_value = !matches!(
            self.kind,
            FieldErrorKind::Required
                | FieldErrorKind::Forbidden
                | FieldErrorKind::TooLong
                | FieldErrorKind::Internal
        );
        if let (true, Some(value)) = (echoes_value, &self.value) {
            s.push_str(": ");
            s.push_str(&render_value(value));
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// This error as a `details.causes[]` entry.
    pub fn to_cause(&self) -> StatusCause {
        StatusCause {
            field: non_empty(&self.field),
            message: Some(self.body()),
            reason: Some(self.kind.reason().to_string()),
        }
    }
}

/// Renders a bad value as upstream's `%v`/`%q`: strings quoted, numbers and
/// booleans bare, `null`; lists and objects (Go prints its own types there)
/// as compact JSON.
fn render_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => quote(s),
        serde_json::Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// A `Status` reason (upstream `metav1.StatusReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No reason given (the empty string).
    Unknown,
    Unauthorized,
    Forbidden,
    NotFound,
    AlreadyExists,
    Conflict,
    Gone,
    Invalid,
    ServerTimeout,
    StoreReadError,
    Timeout,
    TooManyRequests,
    BadRequest,
    MethodNotAllowed,
    NotAcceptable,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    InternalError,
    Expired,
    ServiceUnavailable,
}

impl Reason {
    const ALL: [Reason; 20] = [
        Reason::Unknown,
        Reason::Unauthorized,
        Reason::Forbidden,
        Reason::NotFound,
        Reason::AlreadyExists,
        Reason::Conflict,
        Reason::Gone,
        Reason::Invalid,
        Reason::ServerTimeout,
        Reason::StoreReadError,
        Reason::Timeout,
        Reason::TooManyRequests,
        Reason::BadRequest,
        Reason::MethodNotAllowed,
        Reason::NotAcceptable,
        Reason::RequestEntityTooLarge,
        Reason::UnsupportedMediaType,
        Reason::InternalError,
        Reason::Expired,
        Reason::ServiceUnavailable,
    ];

    /// The wire string (`NotFound`, ...; empty for [`Reason::Unknown`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unknown => "",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Invalid => "Invalid",
            Reason::ServerTimeout => "ServerTimeout",
            Reason::StoreReadError => "StorageReadError",
            Reason::Timeout => "Timeout",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::BadRequest => "BadRequest",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::InternalError => "InternalError",
            Reason::Expired => "Expired",
            Reason::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// Parses a wire string; unknown strings map to [`Reason::Unknown`].
    pub fn from_wire(s: &str) -> Reason {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or(Reason::Unknown)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed API request, convertible to a `Status` body. `Display` is the
/// Status message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    pub reason: Reason,
    pub message: String,
    /// Boxed so that `Result<_, ApiError>` stays small on every handler path.
    pub details: Option<Box<StatusDetails>>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// `resource.group`, or `resource` for the core group (upstream `GroupResource.String`).
fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

fn object_details(group: &str, kind: &str, name: &str) -> StatusDetails {
    StatusDetails {
        group: non_empty(group),
        kind: non_empty(kind),
        name: non_empty(name),
        ..StatusDetails::default()
    }
}

fn retry_details(retry_after_seconds: i32) -> StatusDetails {
    StatusDetails {
        retry_after_seconds: (retry_after_seconds != 0).then_some(retry_after_seconds),
        ..StatusDetails::default()
    }
}

impl ApiError {
    /// A bare error with no details.
    pub fn new(code: u16, reason: Reason, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: StatusDetails) -> ApiError {
        self.details = Some(Box::new(details));
        self
    }

    /// 404 NotFound: `pods "x" not found`, `deployments.apps "web" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            Reason::NotFound,
            format!("{} {} not found", qualified(resource, group), quote(name)),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 409 AlreadyExists: `pods "x" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            Reason::AlreadyExists,
            format!(
                "{} {} already exists",
                qualified(resource, group),
                quote(name)
            ),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 409 Conflict: `Operation cannot be fulfilled on pods "x": <detail>`; pass
    /// [`OPTIMISTIC_LOCK_ERROR_MSG`] for a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> ApiError {
        ApiError::new(
            409,
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} {}: {detail}",
                qualified(resource, group),
                quote(name)
            ),
        )
        .with_details(object_details(group, resource, name))
    }

    /// 422 Invalid: `Deployment.apps "web" is invalid: <errors>` where one
    /// error is printed bare and several as `[a, b]` (duplicates once), with one
    /// cause per field error (upstream `NewInvalid`). `kind` is the Kind
    /// (`Pod`), not the resource.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: Vec<FieldError>) -> ApiError {
        let mut unique: Vec<String> = Vec::new();
        for e in &errors {
            let msg = e.to_string();
            if !unique.contains(&msg) {
                unique.push(msg);
            }
        }
        let subject = format!("{} {}", qualified(kind, group), quote(name));
        let message = match unique.as_slice() {
            [] => format!("{subject} is invalid"),
            [one] => format!("{subject} is invalid: {one}"),
            many => format!("{subject} is invalid: [{}]", many.join(", ")),
        };
        let causes: Vec<StatusCause> = errors.iter().map(FieldError::to_cause).collect();
        let mut details = object_details(group, kind, name);
        details.causes = (!causes.is_empty()).then_some(causes);
        ApiError::new(422, Reason::Invalid, message).with_details(details)
    }

    /// 400 BadRequest with `message` as is.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, Reason::BadRequest, message)
    }

    /// 401 Unauthorized; an empty reason reads `not authorized`.
    pub fn unauthorized(reason: &str) -> ApiError {
        let message = if reason.is_empty() {
            "not authorized"
        } else {
            reason
        };
        ApiError::new(401, Reason::Unauthorized, message)
    }

    /// 403 Forbidden: `pods "x" is forbidden: <reason>`, `pods is forbidden:
    /// <reason>` without a name, `forbidden: <reason>` without a resource.
    pub fn forbidden(group: &str, resource: &str, name: &str, reason: &str) -> ApiError {
        let message = if resource.is_empty() && group.is_empty() {
            format!("forbidden: {reason}")
        } else if name.is_empty() {
            format!("{} is forbidden: {reason}", qualified(resource, group))
        } else {
            format!(
                "{} {} is forbidden: {reason}",
                qualified(resource, group),
                quote(name)
            )
        };
        ApiError::new(403, Reason::Forbidden, message)
            .with_details(object_details(group, resource, name))
    }

    /// 405 MethodNotAllowed: `<action> is not supported on resources of kind "pods"`.
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> ApiError {
        ApiError::new(
            405,
            Reason::MethodNotAllowed,
            format!(
                "{action} is not supported on resources of kind {}",
                quote(&qualified(resource, group))
            ),
        )
        .with_details(object_details(group, resource, ""))
    }

    /// 406 NotAcceptable: `only the following media types are accepted: a, b`.
    pub fn not_acceptable(accepted: &[&str]) -> ApiError {
        ApiError::new(
            406,
            Reason::NotAcceptable,
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 410 Gone with reason `Gone` (upstream's deprecated `NewGone`).
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(410, Reason::Gone, message)
    }

    /// 410 Gone with reason `Expired` (upstream `NewResourceExpired`): what a
    /// watch or list from a compacted resourceVersion gets, so clients relist.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, Reason::Expired, message)
    }

    /// 413 RequestEntityTooLarge: `Request entity too large: <message>`.
    pub fn request_entity_too_large(message: &str) -> ApiError {
        ApiError::new(
            413,
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: {message}"),
        )
    }

    /// 415 UnsupportedMediaType: `the body of the request was in an unknown
    /// format - accepted media types include: a, b`.
    pub fn unsupported_media_type(accepted: &[&str]) -> ApiError {
        ApiError::new(
            415,
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 429 TooManyRequests with `message` as is and `retryAfterSeconds`
    /// (upstream `NewTooManyRequests`; 0 leaves it out).
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i32) -> ApiError {
        ApiError::new(429, Reason::TooManyRequests, message)
            .with_details(retry_details(retry_after_seconds))
    }

    /// 500 InternalError: `Internal error occurred: <message>`, with the message
    /// as the single cause.
    pub fn internal(message: &str) -> ApiError {
        ApiError::new(
            500,
            Reason::InternalError,
            format!("Internal error occurred: {message}"),
        )
        .with_details(StatusDetails {
            causes: Some(vec![StatusCause {
                message: Some(message.to_string()),
                ..StatusCause::default()
            }]),
            ..StatusDetails::default()
        })
    }

    /// 500 ServerTimeout: `The <operation> operation against <resource> could
    /// not be completed at this time, please try again.`
    pub fn server_timeout(
        group: &str,
        resource: &str,
        operation: &str,
        retry_after_seconds: i32,
    ) -> ApiError {
        let mut details = object_details(group, resource, operation);
        details.retry_after_seconds = retry_details(retry_after_seconds).retry_after_seconds;
        ApiError::new(
            500,
            Reason::ServerTimeout,
            format!(
                "The {operation} operation against {} could not be completed at this time, please try again.",
                qualified(resource, group)
            ),
        )
        .with_details(details)
    }

    /// 503 ServiceUnavailable with `message` as is.
    pub fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, Reason::ServiceUnavailable, message)
    }

    /// 504 Timeout: `Timeout: <message>` (upstream `NewTimeoutError`).
    pub fn timeout(message: &str, retry_after_seconds: i32) -> ApiError {
        ApiError::new(504, Reason::Timeout, format!("Timeout: {message}"))
            .with_details(retry_details(retry_after_seconds))
    }

    /// The `Status` body to send (`kind: Status`, `apiVersion: v1`, `status:
    /// Failure`); empty reason and message are omitted as upstream does.
    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code)),
            details: self.details.as_deref().cloned(),
            message: non_empty(&self.message),
            metadata: ListMeta::default(),
            reason: non_empty(self.reason.as_str()),
            status: Some("Failure".to_string()),
        }
    }

    /// Reads a `Status` received from a server. A missing or out-of-range code
    /// reads as 500.
    pub fn from_status(status: &Status) -> ApiError {
        ApiError {
            code: status
                .code
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500),
            reason: Reason::from_wire(status.reason.as_deref().unwrap_or("")),
            message: status.message.clone().unwrap_or_default(),
            details: status.details.clone().map(Box::new),
        }
    }

    /// The Status body as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.to_status()).unwrap_or(serde_json::Value::Null)
    }

    /// Reason NotFound.
    pub fn is_not_found(&self) -> bool {
        self.reason == Reason::NotFound
    }

    /// Reason AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        self.reason == Reason::AlreadyExists
    }

    /// Reason Conflict.
    pub fn is_conflict(&self) -> bool {
        self.reason == Reason::Conflict
    }

    /// Reason Invalid.
    pub fn is_invalid(&self) -> bool {
        self.reason == Reason::Invalid
    }

    /// Reason Expired or Gone: the client must relist.
    pub fn is_expired(&self) -> bool {
        matches!(self.reason, Reason::Expired | Reason::Gone)
    }
}

impl From<&ApiError> for Status {
    fn from(e: &ApiError) -> Status {
        e.to_status()
    }
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Status {
        e.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_paths() {
        let spec = FieldPath::new("spec");
        let cases = [
            (spec.clone(), "spec"),
            (spec.child("replicas"), "spec.replicas"),
            (
                spec.child("containers").index(0).child("name"),
                "spec.containers[0].name",
            ),
            (
                FieldPath::new("metadata").child("labels").key("foo"),
                "metadata.labels[foo]",
            ),
            (
                FieldPath::new("metadata").child("annotations").key("a/b.c"),
                "metadata.annotations[a/b.c]",
            ),
            (spec.child("x").index(1).index(2), "spec.x[1][2]"),
            (FieldPath::default().child("spec"), "spec"),
            (FieldPath::new("").key("k"), "[k]"),
        ];
        for (path, want) in cases {
            assert_eq!(path.to_string(), want);
            assert_eq!(String::from(&path), want);
        }
    }

    #[test]
    fn field_error_messages() {
        let p = FieldPath::new("spec");
        let cases = [
            (
                FieldError::invalid(p.child("replicas"), -1, "must be greater than or equal to 0"),
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "FieldValueInvalid",
            ),
            (
                FieldError::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
                "FieldValueRequired",
            ),
            (
                FieldError::required("spec.selector", ""),
                "spec.selector: Required value",
                "FieldValueRequired",
            ),
            (
                FieldError::invalid("metadata.name", "Web_1", "bad name"),
                "metadata.name: Invalid value: \"Web_1\": bad name",
                "FieldValueInvalid",
            ),
            (
                FieldError::invalid("spec.paused", true, "nope"),
                "spec.paused: Invalid value: true: nope",
                "FieldValueInvalid",
            ),
            (
                FieldError::invalid("spec.x", serde_json::Value::Null, "nope"),
                "spec.x: Invalid value: null: nope",
                "FieldValueInvalid",
            ),
            (
                FieldError::invalid("spec.x", json!(["a", "b"]), "nope"),
                "spec.x: Invalid value: [\"a\",\"b\"]: nope",
                "FieldValueInvalid",
            ),
            (
                FieldError::not_supported(
                    "spec.restartPolicy",
                    "Sometimes",
                    &["Always", "OnFailure", "Never"],
                ),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "FieldValueNotSupported",
            ),
            (
                FieldError::not_supported("spec.x", "y", &[]),
                "spec.x: Unsupported value: \"y\"",
                "FieldValueNotSupported",
            ),
            (
                FieldError::duplicate("spec.containers[1].name", "web"),
                "spec.containers[1].name: Duplicate value: \"web\"",
                "FieldValueDuplicate",
            ),
            (
                FieldError::too_long("metadata.annotations", Some(262144)),
                "metadata.annotations: Too long: may not be more than 262144 bytes",
                "FieldValueTooLong",
            ),
            (
                FieldError::too_long("metadata.name", None),
                "metadata.name: Too long: value is too long",
                "FieldValueTooLong",
            ),
            (
                FieldError::forbidden("spec.nodeName", "may not be changed"),
                "spec.nodeName: Forbidden: may not be changed",
                "FieldValueForbidden",
            ),
            (
                FieldError::too_many("spec.containers", Some(5), Some(3)),
                "spec.containers: Too many: 5: must have at most 3 items",
                "FieldValueTooMany",
            ),
            (
                FieldError::too_many("spec.containers", None, None),
                "spec.containers: Too many: has too many items",
                "FieldValueTooMany",
            ),
            (
                FieldError::not_found("spec.volumes", "data"),
                "spec.volumes: Not found: \"data\"",
                "FieldValueNotFound",
            ),
            (
                FieldError::type_invalid("spec.replicas", "three", "must be an integer"),
                "spec.replicas: Invalid value: \"three\": must be an integer",
                "FieldValueTypeInvalid",
            ),
            (
                FieldError::internal("spec", "boom"),
                "spec: Internal error: boom",
                "InternalError",
            ),
        ];
        for (err, want, reason) in cases {
            assert_eq!(err.to_string(), want);
            let cause = err.to_cause();
            assert_eq!(cause.reason.as_deref(), Some(reason));
            assert_eq!(cause.field.as_deref(), Some(err.field.as_str()));
            assert_eq!(Some(err.body()), cause.message);
        }
    }

    #[test]
    fn go_quoting() {
        let cases = [
            ("web", "\"web\""),
            ("", "\"\""),
            ("a\"b", "\"a\\\"b\""),
            ("a\\b", "\"a\\\\b\""),
            ("a\nb\tc", "\"a\\nb\\tc\""),
            ("\u{1}", "\"\\x01\""),
            ("\u{7f}", "\"\\x7f\""),
            ("\u{85}", "\"\\u0085\""),
            ("\u{200b}", "\"\\u200b\""),
            ("日本", "\"日本\""),
            ("é", "\"é\""),
        ];
        for (input, want) in cases {
            assert_eq!(quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn api_error_messages() {
        let conflict_msg = "Operation cannot be fulfilled on pods \"x\": the object has been modified; please apply your changes to the latest version and try again";
        let cases: Vec<(ApiError, u16, Reason, &str)> = vec![
            (ApiError::not_found("", "pods", "x"), 404, Reason::NotFound, "pods \"x\" not found"),
            (
                ApiError::not_found("apps", "deployments", "web"),
                404,
                Reason::NotFound,
                "deployments.apps \"web\" not found",
            ),
            (
                ApiError::already_exists("", "pods", "x"),
                409,
                Reason::AlreadyExists,
                "pods \"x\" already exists",
            ),
            (
                ApiError::conflict("", "pods", "x", OPTIMISTIC_LOCK_ERROR_MSG),
                409,
                Reason::Conflict,
                conflict_msg,
            ),
            (ApiError::bad_request("bad"), 400, Reason::BadRequest, "bad"),
            (ApiError::unauthorized(""), 401, Reason::Unauthorized, "not authorized"),
            (ApiError::unauthorized("Unauthorized"), 401, Reason::Unauthorized, "Unauthorized"),
            (
                ApiError::forbidden("", "pods", "x", "User \"bob\" cannot get resource \"pods\""),
                403,
                Reason::Forbidden,
                "pods \"x\" is forbidden: User \"bob\" cannot get resource \"pods\"",
            ),
            (
                ApiError::forbidden("apps", "deployments", "", "no"),
                403,
                Reason::Forbidden,
                "deployments.apps is forbidden: no",
            ),
            (ApiError::forbidden("", "", "", "no"), 403, Reason::Forbidden, "forbidden: no"),
            (
                ApiError::method_not_supported("", "pods", "deletecollection"),
                405,
                Reason::MethodNotAllowed,
                "deletecollection is not supported on resources of kind \"pods\"",
            ),
            (
                ApiError::not_acceptable(&["application/json", "application/yaml"]),
                406,
                Reason::NotAcceptable,
                "only the following media types are accepted: application/json, application/yaml",
            ),
            (ApiError::gone("gone"), 410, Reason::Gone, "gone"),
            (
                ApiError::expired("too old resource version: 1 (5)"),
                410,
                Reason::Expired,
                "too old resource version: 1 (5)",
            ),
            (
                ApiError::request_entity_too_large("limit is 3145728"),
                413,
                Reason::RequestEntityTooLarge,
                "Request entity too large: limit is 3145728",
            ),
            (
                ApiError::unsupported_media_type(&["application/json-patch+json", "application/merge-patch+json"]),
                415,
                Reason::UnsupportedMediaType,
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json",
            ),
            (
                ApiError::too_many_requests("slow down", 1),
                429,
                Reason::TooManyRequests,
                "slow down",
            ),
            (
                ApiError::internal("etcd is down"),
                500,
                Reason::InternalError,
                "Internal error occurred: etcd is down",
            ),
            (
                ApiError::server_timeout("", "pods", "create", 2),
                500,
                Reason::ServerTimeout,
                "The create operation against pods could not be completed at this time, please try again.",
            ),
            (
                ApiError::service_unavailable("starting"),
                503,
                Reason::ServiceUnavailable,
                "starting",
            ),
            (ApiError::timeout("took too long", 0), 504, Reason::Timeout, "Timeout: took too long"),
        ];
        for (err, code, reason, message) in cases {
            assert_eq!(err.code, code, "{message}");
            assert_eq!(err.reason, reason, "{message}");
            assert_eq!(err.to_string(), message);
            let status = err.to_status();
            assert_eq!(status.code, Some(i32::from(code)));
            assert_eq!(status.status.as_deref(), Some("Failure"));
            assert_eq!(ApiError::from_status(&status), err);
        }
    }

    #[test]
    fn invalid_messages() {
        let one = FieldError::invalid("spec.replicas", -1, "must be greater than or equal to 0");
        let two = FieldError::required("spec.selector", "");
        let cases = [
            (vec![], "Deployment.apps \"web\" is invalid"),
            (
                vec![one.clone()],
                "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
            (
                vec![one.clone(), two.clone()],
                "Deployment.apps \"web\" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.selector: Required value]",
            ),
            (
                vec![one.clone(), one.clone()],
                "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            ),
        ];
        for (errors, want) in cases {
            let n = errors.len();
            let err = ApiError::invalid("apps", "Deployment", "web", errors);
            assert_eq!(err.to_string(), want);
            assert_eq!(err.code, 422);
            let causes = err.details.as_ref().and_then(|d| d.causes.as_ref());
            assert_eq!(causes.map_or(0, Vec::len), n);
        }
        let core = ApiError::invalid("", "Pod", "p", vec![]);
        assert_eq!(core.to_string(), "Pod \"p\" is invalid");
    }

    #[test]
    fn status_json_matches_kubectl_expectations() {
        let cases = [
            (
                ApiError::not_found("", "pods", "x"),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "pods \"x\" not found",
                    "reason": "NotFound", "details": {"name": "x", "kind": "pods"}, "code": 404
                }),
            ),
            (
                ApiError::not_found("apps", "deployments", "web"),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "deployments.apps \"web\" not found",
                    "reason": "NotFound",
                    "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 404
                }),
            ),
            (
                ApiError::invalid(
                    "",
                    "Pod",
                    "p",
                    vec![FieldError::required(
                        FieldPath::new("spec")
                            .child("containers")
                            .index(0)
                            .child("image"),
                        "",
                    )],
                ),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure",
                    "message": "Pod \"p\" is invalid: spec.containers[0].image: Required value",
                    "reason": "Invalid",
                    "details": {
                        "name": "p", "kind": "Pod",
                        "causes": [{
                            "reason": "FieldValueRequired",
                            "message": "Required value",
                            "field": "spec.containers[0].image"
                        }]
                    },
                    "code": 422
                }),
            ),
            (
                ApiError::bad_request("the server could not parse the body"),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "the server could not parse the body",
                    "reason": "BadRequest", "code": 400
                }),
            ),
            (
                ApiError::internal("boom"),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "Internal error occurred: boom",
                    "reason": "InternalError", "details": {"causes": [{"message": "boom"}]},
                    "code": 500
                }),
            ),
            (
                ApiError::too_many_requests("slow down", 3),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "slow down",
                    "reason": "TooManyRequests", "details": {"retryAfterSeconds": 3}, "code": 429
                }),
            ),
            (
                ApiError::expired("too old resource version: 1 (5)"),
                json!({
                    "apiVersion": "v1", "kind": "Status", "metadata": {},
                    "status": "Failure", "message": "too old resource version: 1 (5)",
                    "reason": "Expired", "code": 410
                }),
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_json(), want, "{err}");
            // And it decodes back through k8s-openapi.
            let status: Status = serde_json::from_value(want).unwrap();
            assert_eq!(ApiError::from_status(&status), err);
        }
    }

    #[test]
    fn reasons_roundtrip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_wire(r.as_str()), r);
        }
        assert_eq!(Reason::from_wire("SomethingNew"), Reason::Unknown);
        let status = Status::default();
        let err = ApiError::from_status(&status);
        assert_eq!((err.code, err.reason), (500, Reason::Unknown));
        assert!(err.to_status().reason.is_none());
        assert!(ApiError::not_found("", "pods", "x").is_not_found());
        assert!(ApiError::conflict("", "pods", "x", "d").is_conflict());
        assert!(ApiError::already_exists("", "pods", "x").is_already_exists());
        assert!(ApiError::invalid("", "Pod", "x", vec![]).is_invalid());
        assert!(ApiError::expired("e").is_expired());
    }
}
