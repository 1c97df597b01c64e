//! Request bodies in, responses out: JSON or YAML bodies with upstream's size limit and error
//! messages, and the content negotiation kubectl relies on (`as=Table` for server-side printing).

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tinykube_apimachinery::status::{ApiError, Reason};

/// Request bodies larger than this get `413`, as upstream's 3 MiB limit.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Media types accepted for object bodies.
pub const OBJECT_MEDIA_TYPES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];

fn reason_for(code: u16) -> Reason {
    match code {
        415 => Reason::UnsupportedMediaType,
        _ => Reason::BadRequest,
    }
}

/// The request's media type without parameters (`application/json`).
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Parses a create or update body as JSON or YAML, by its content type.
pub fn parse_object(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    check_size(body)?;
    let media = content_type(headers);
    let value: Value =
        match media.as_str() {
            "application/json" | "" => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("json: {e}")))?,
            "application/yaml" | "application/x-yaml" | "text/yaml" => serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("yaml: {e}")))?,
            crate::protobuf::MEDIA_TYPE => crate::protobuf::decode_request(body).map_err(|e| {
                ApiError::new(e.status_code(), reason_for(e.status_code()), e.to_string())
            })?,
            _ => return Err(ApiError::unsupported_media_type(OBJECT_MEDIA_TYPES)),
        };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    }
    Ok(value)
}

pub fn check_size(body: &Bytes) -> Result<(), ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::request_entity_too_large(&format!(
            "limit is {MAX_BODY_BYTES}"
        )));
    }
    Ok(())
}

/// What the client asked the response to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// The object or list itself.
    Object,
    /// A `meta.k8s.io/v1` Table (server-side printing).
    Table,
}

/// Reads the `Accept` header. kubectl asks for
/// `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`;
/// we serve the first alternative we can.
pub fn wanted(headers: &HeaderMap) -> Wanted {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for alternative in accept.split(',') {
        let mut parts = alternative.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let params: Vec<&str> = parts.collect();
        let is_table = params.contains(&"as=Table")
            && params.contains(&"g=meta.k8s.io")
            && (params.contains(&"v=v1") || params.contains(&"v=v1beta1"));
        if is_table && (media == "application/json" || media == "*/*") {
            return Wanted::Table;
        }
        if params.iter().any(|p| p.starts_with("as=")) {
            continue;
        }
        if matches!(
            media,
            "application/json" | "*/*" | "application/*" | "" | "application/yaml"
        ) {
            return Wanted::Object;
        }
    }
    Wanted::Object
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(value).unwrap_or_default(),
    )
        .into_response()
}

/// An error as a `Status` body with its code.
pub fn error(error: &ApiError) -> Response {
    let status = StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(
        status,
        &serde_json::to_value(error.to_status()).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn accept_header_selects_table_or_object() {
        let cases = [
            ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", Wanted::Table),
            ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", Wanted::Table),
            ("application/json", Wanted::Object),
            ("application/vnd.kubernetes.protobuf, */*", Wanted::Object),
            ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", Wanted::Object),
            ("", Wanted::Object),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                wanted(&headers(header::ACCEPT, accept)),
                expected,
                "{accept}"
            );
        }
    }

    #[test]
    fn bodies_parse_as_json_or_yaml_and_errors_are_4xx() {
        let cases: &[(&str, &str, Result<(), u16>)] = &[
            ("application/json", r#"{"kind":"Pod"}"#, Ok(())),
            (
                "application/yaml",
                "kind: Pod\nmetadata:\n  name: a\n",
                Ok(()),
            ),
            ("application/json", "{not json", Err(400)),
            ("application/json", "[1,2]", Err(400)),
            ("application/yaml", "a: [", Err(400)),
            ("text/plain", "x", Err(415)),
            ("application/vnd.kubernetes.protobuf", "not k8s", Err(400)),
        ];
        for (media, body, expected) in cases {
            let result = parse_object(
                &headers(header::CONTENT_TYPE, media),
                &Bytes::from(body.to_string()),
            );
            assert_eq!(
                result.map(|_| ()).map_err(|e| e.code),
                *expected,
                "{media} {body}"
            );
        }
        let huge = Bytes::from(vec![b' '; MAX_BODY_BYTES + 1]);
        let error = parse_object(&HeaderMap::new(), &huge).unwrap_err();
        assert_eq!(error.code, 413);
    }
}
