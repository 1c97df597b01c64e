//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded to JSON.
//!
//! client-go, and so the real `kubectl`'s typed commands (`kubectl create namespace|deployment|
//! secret|configmap|service|serviceaccount`, `kubectl debug --copy-to`, the pod deletes of
//! `kubectl drain`), sends request bodies as `k8s\0` followed by a `runtime.Unknown` message:
//! `typeMeta` (apiVersion, kind), `raw` (the object's own protobuf encoding), `contentEncoding`
//! and `contentType`. The apiserver works on JSON, so this module turns such a body into the JSON
//! the same object has in the JSON API. A small wire-format reader walks the bytes, driven by the
//! schema table in [`schema`]; responses stay JSON (clients decode by the response Content-Type).
//!
//! What the JSON looks like (Go's `encoding/json` over the Go struct the message decodes into):
//! * go-to-protobuf writes non-pointer scalars even when zero; fields that are `omitempty` in Go
//!   are left out when zero (marked `?` in the table); pointer fields keep whatever was sent.
//! * `Time` is RFC 3339 in UTC to the second, `MicroTime` to the microsecond; the zero time (an
//!   empty message) is left out rather than written as `null`.
//! * `Quantity` is its string, `IntOrString` a number or a string, `bytes` base64, `FieldsV1`
//!   the JSON it holds, `map<string, T>` a JSON object.
//! * An embedded message sent twice is merged, repeated fields append, a scalar's last value wins
//!   (protobuf merge semantics, as upstream's generated `Unmarshal` has them).
//!
//! Kinds, and field numbers, that the table does not know are errors (the client is told to send
//! JSON), never silently dropped data. Malformed input is an error, never a panic.

mod schema;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use serde_json::{Map, Value};

use schema::{Schema, Ty};

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// What every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Deeper than any message in the table nests; guards the recursion all the same.
const MAX_DEPTH: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the k8s\\0 prefix")]
    Magic,
    #[error("malformed protobuf in {message}: {reason}")]
    Malformed {
        message: &'static str,
        reason: String,
    },
    #[error("invalid protobuf field {message}.{field}: {reason}")]
    InvalidField {
        message: &'static str,
        field: &'static str,
        reason: String,
    },
    #[error("protobuf messages nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("protobuf content encoding {0:?} is not supported, send application/json")]
    ContentEncoding(String),
    #[error("protobuf content type {0:?} of the embedded object is not supported, send application/json")]
    ContentType(String),
    #[error("{api_version}, Kind={kind} is not supported as protobuf, send application/json")]
    UnsupportedKind { api_version: String, kind: String },
    #[error("protobuf field {tag} of {message} is not supported, send application/json")]
    UnknownField { message: &'static str, tag: u32 },
    #[error("protobuf schema table is broken: {0}")]
    Schema(&'static str),
}

impl ProtobufError {
    /// The HTTP status to answer with: 415 where the body is well-formed but uses something we do
    /// not decode (the client can send JSON instead), 400 where the body is broken.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::ContentEncoding(_)
            | Self::ContentType(_)
            | Self::UnsupportedKind { .. }
            | Self::UnknownField { .. } => 415,
            Self::Magic
            | Self::Malformed { .. }
            | Self::InvalidField { .. }
            | Self::TooDeep
            | Self::Schema(_) => 400,
        }
    }
}

/// Decodes `k8s\0` + `runtime.Unknown` into the object's JSON, with `apiVersion` and `kind` set
/// from the envelope's typeMeta.
pub fn decode_request(body: &[u8]) -> Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtobufError::Magic)?;
    let unknown = Envelope::parse(rest)?;
    if !unknown.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(unknown.content_encoding));
    }
    if !unknown.content_type.is_empty() && unknown.content_type != MEDIA_TYPE {
        return Err(ProtobufError::ContentType(unknown.content_type));
    }
    let schema = schema::schema().map_err(ProtobufError::Schema)?;
    let name = if unknown.kind == "DeleteOptions" {
        Some(schema::DELETE_OPTIONS)
    } else {
        schema::KINDS
            .iter()
            .find(|(v, k, _)| *v == unknown.api_version && *k == unknown.kind)
            .map(|(_, _, m)| *m)
    };
    let Some(message) = name.and_then(|n| schema.message(n)) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: unknown.api_version,
            kind: unknown.kind,
        });
    };
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(unknown.api_version));
    object.insert("kind".into(), Value::String(unknown.kind));
    decode_into(schema, message, unknown.raw, &mut object, 0)?;
    Ok(Value::Object(object))
}

/// `runtime.Unknown`.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, ProtobufError> {
        const NAME: &str = "Unknown";
        let mut out = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut reader = Reader::new(buf, NAME);
        while let Some((tag, wire)) = reader.next_field()? {
            match tag {
                1 => {
                    let mut type_meta = Reader::new(wire.bytes(NAME, "typeMeta")?, "TypeMeta");
                    while let Some((tag, wire)) = type_meta.next_field()? {
                        match tag {
                            1 => out.api_version = wire.string("TypeMeta", "apiVersion")?,
                            2 => out.kind = wire.string("TypeMeta", "kind")?,
                            tag => return Err(unknown_field("TypeMeta", tag)),
                        }
                    }
                }
                2 => out.raw = wire.bytes(NAME, "raw")?,
                3 => out.content_encoding = wire.string(NAME, "contentEncoding")?,
                4 => out.content_type = wire.string(NAME, "contentType")?,
                tag => return Err(unknown_field(NAME, tag)),
            }
        }
        Ok(out)
    }
}

fn unknown_field(message: &'static str, tag: u32) -> ProtobufError {
    ProtobufError::UnknownField { message, tag }
}

/// Decodes message `index` from `buf` into `out`, merging with what is there already.
fn decode_into(
    schema: &Schema,
    index: usize,
    buf: &[u8],
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let message = &schema.messages[index];
    let mut reader = Reader::new(buf, message.name);
    while let Some((tag, wire)) = reader.next_field()? {
        let field = message
            .field(tag)
            .ok_or_else(|| unknown_field(message.name, tag))?;
        let ctx = (message.name, field.name);
        match &field.ty {
            Ty::Inline(inner) => {
                decode_into(schema, *inner, wire.bytes(ctx.0, ctx.1)?, out, depth + 1)?
            }
            Ty::Message(inner) => {
                let bytes = wire.bytes(ctx.0, ctx.1)?;
                let slot = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(map) = slot {
                    decode_into(schema, *inner, bytes, map, depth + 1)?;
                }
            }
            Ty::List(elem) => {
                let mut items = Vec::new();
                match (&**elem, wire) {
                    // Packed repeated numbers (proto2 writes them unpacked; accept both).
                    (Ty::I32 | Ty::I64 | Ty::Bool, Wire::Len(bytes)) => {
                        let mut packed = Reader::new(bytes, message.name);
                        while !packed.is_empty() {
                            let v = packed.varint()?;
                            items.push(scalar_number(elem, v));
                        }
                    }
                    (elem, wire) => items
                        .push(decode_value(schema, elem, wire, ctx, depth)?.unwrap_or(Value::Null)),
                }
                let slot = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = slot {
                    list.extend(items);
                } else {
                    *slot = Value::Array(items);
                }
            }
            Ty::Map(value_ty) => {
                let (key, value) =
                    decode_map_entry(schema, value_ty, wire.bytes(ctx.0, ctx.1)?, ctx, depth)?;
                let slot = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(map) = slot {
                    map.insert(key, value);
                }
            }
            ty => match decode_value(schema, ty, wire, ctx, depth)? {
                Some(v) if !(field.omit_zero && is_zero(&v)) => {
                    out.insert(field.name.to_string(), v);
                }
                _ => {
                    out.remove(field.name);
                }
            },
        }
    }
    Ok(())
}

/// A map entry: `key` = 1 (string), `value` = 2. A missing value is the type's zero value.
fn decode_map_entry(
    schema: &Schema,
    value_ty: &Ty,
    buf: &[u8],
    ctx: (&'static str, &'static str),
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(buf, ctx.0);
    while let Some((tag, wire)) = reader.next_field()? {
        match tag {
            1 => key = wire.string(ctx.0, ctx.1)?,
            2 => value = decode_value(schema, value_ty, wire, ctx, depth)?,
            tag => {
                return Err(ProtobufError::InvalidField {
                    message: ctx.0,
                    field: ctx.1,
                    reason: format!("map entry with a field {tag}"),
                })
            }
        }
    }
    let value = value.unwrap_or_else(|| match value_ty {
        Ty::Str | Ty::Bytes => Value::String(String::new()),
        Ty::Quantity => Value::String("0".into()),
        Ty::Bool => Value::Bool(false),
        Ty::I32 | Ty::I64 => Value::from(0),
        Ty::Message(_) => Value::Object(Map::new()),
        _ => Value::Null,
    });
    Ok((key, value))
}

/// One value of a scalar, special or message type; `None` for the zero `Time`, `FieldsV1`.
fn decode_value(
    schema: &Schema,
    ty: &Ty,
    wire: Wire<'_>,
    ctx: (&'static str, &'static str),
    depth: usize,
) -> Result<Option<Value>, ProtobufError> {
    let (message, field) = ctx;
    let invalid = |reason: String| ProtobufError::InvalidField {
        message,
        field,
        reason,
    };
    Ok(Some(match ty {
        Ty::Str => Value::String(wire.string(message, field)?),
        Ty::Bool | Ty::I32 | Ty::I64 => scalar_number(ty, wire.varint(message, field)?),
        Ty::Bytes => Value::String(
            base64::engine::general_purpose::STANDARD.encode(wire.bytes(message, field)?),
        ),
        Ty::Quantity => {
            // resource.Quantity: `string` = 1. The zero Quantity prints as "0".
            let mut s = String::new();
            let mut reader = Reader::new(wire.bytes(message, field)?, "Quantity");
            while let Some((tag, wire)) = reader.next_field()? {
                match tag {
                    1 => s = wire.string("Quantity", "string")?,
                    tag => return Err(unknown_field("Quantity", tag)),
                }
            }
            Value::String(if s.is_empty() { "0".into() } else { s })
        }
        Ty::Time | Ty::MicroTime => {
            // Timestamp: `seconds` = 1, `nanos` = 2; the zero time is sent as an empty message.
            let bytes = wire.bytes(message, field)?;
            let (mut seconds, mut nanos) = (0i64, 0i32);
            let mut reader = Reader::new(bytes, "Timestamp");
            while let Some((tag, wire)) = reader.next_field()? {
                match tag {
                    1 => seconds = wire.varint("Timestamp", "seconds")? as i64,
                    2 => nanos = wire.varint("Timestamp", "nanos")? as i32,
                    tag => return Err(unknown_field("Timestamp", tag)),
                }
            }
            if bytes.is_empty() {
                return Ok(None);
            }
            match format_time(seconds, nanos, matches!(ty, Ty::MicroTime)).map_err(invalid)? {
                Some(s) => Value::String(s),
                None => return Ok(None),
            }
        }
        Ty::IntOrString => {
            // intstr.IntOrString: `type` = 1 (0 int, 1 string), `intVal` = 2, `strVal` = 3.
            let (mut kind, mut int_val, mut str_val) = (0i64, 0i32, String::new());
            let mut reader = Reader::new(wire.bytes(message, field)?, "IntOrString");
            while let Some((tag, wire)) = reader.next_field()? {
                match tag {
                    1 => kind = wire.varint("IntOrString", "type")? as i64,
                    2 => int_val = wire.varint("IntOrString", "intVal")? as i32,
                    3 => str_val = wire.string("IntOrString", "strVal")?,
                    tag => return Err(unknown_field("IntOrString", tag)),
                }
            }
            match kind {
                0 => Value::from(int_val),
                1 => Value::String(str_val),
                other => return Err(invalid(format!("IntOrString of unknown type {other}"))),
            }
        }
        Ty::RawJson => {
            // FieldsV1: `Raw` = 1, the JSON itself.
            let mut raw: &[u8] = &[];
            let mut reader = Reader::new(wire.bytes(message, field)?, "FieldsV1");
            while let Some((tag, wire)) = reader.next_field()? {
                match tag {
                    1 => raw = wire.bytes("FieldsV1", "Raw")?,
                    tag => return Err(unknown_field("FieldsV1", tag)),
                }
            }
            if raw.is_empty() {
                return Ok(None);
            }
            serde_json::from_slice(raw).map_err(|e| invalid(format!("not JSON: {e}")))?
        }
        Ty::Message(inner) => {
            let mut map = Map::new();
            decode_into(
                schema,
                *inner,
                wire.bytes(message, field)?,
                &mut map,
                depth + 1,
            )?;
            Value::Object(map)
        }
        Ty::Inline(_) | Ty::List(_) | Ty::Map(_) => {
            return Err(invalid("nested lists and maps are not protobuf".into()))
        }
    }))
}

/// A varint as the JSON of a `bool`, `int32` (the low 32 bits, as Go reads it) or `int64`.
fn scalar_number(ty: &Ty, v: u64) -> Value {
    match ty {
        Ty::Bool => Value::Bool(v != 0),
        Ty::I32 => Value::from(v as i32),
        _ => Value::from(v as i64),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Null => true,
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// Seconds since the Unix epoch as Go's `metav1.Time` (RFC 3339, seconds) or `MicroTime`
/// (RFC 3339, microseconds) print it in UTC; `None` for Go's zero time (which prints `null`).
fn format_time(seconds: i64, nanos: i32, micro: bool) -> Result<Option<String>, String> {
    const NANOS_PER_SEC: i128 = 1_000_000_000;
    let total = i128::from(seconds) * NANOS_PER_SEC + i128::from(nanos);
    let secs = total.div_euclid(NANOS_PER_SEC);
    let nanos = total.rem_euclid(NANOS_PER_SEC);
    // 0001-01-01T00:00:00Z, Go's zero time.
    if secs == -62_135_596_800 && nanos == 0 {
        return Ok(None);
    }
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(format!("time {seconds}s is outside the years 0 to 9999"));
    }
    let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let mut out = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}");
    if micro {
        out.push_str(&format!(".{:06}", nanos / 1000));
    }
    out.push('Z');
    Ok(Some(out))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (year, month, day)
}

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Len(&'a [u8]),
    Fixed32,
}

impl<'a> Wire<'a> {
    fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "varint",
            Wire::Fixed64 => "64-bit",
            Wire::Len(_) => "length-delimited",
            Wire::Fixed32 => "32-bit",
        }
    }

    fn mismatch(&self, message: &'static str, field: &'static str, want: &str) -> ProtobufError {
        ProtobufError::InvalidField {
            message,
            field,
            reason: format!("wire type {}, expected {want}", self.kind()),
        }
    }

    fn bytes(self, message: &'static str, field: &'static str) -> Result<&'a [u8], ProtobufError> {
        match self {
            Wire::Len(b) => Ok(b),
            other => Err(other.mismatch(message, field, "length-delimited")),
        }
    }

    fn string(self, message: &'static str, field: &'static str) -> Result<String, ProtobufError> {
        let bytes = self.bytes(message, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::InvalidField {
            message,
            field,
            reason: "string is not UTF-8".into(),
        })
    }

    fn varint(self, message: &'static str, field: &'static str) -> Result<u64, ProtobufError> {
        match self {
            Wire::Varint(v) => Ok(v),
            other => Err(other.mismatch(message, field, "varint")),
        }
    }
}

/// The protobuf wire format: a sequence of (key varint, value) with key = tag << 3 | wire type.
struct Reader<'a> {
    buf: &'a [u8],
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader { buf, message }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn malformed(&self, reason: impl Into<String>) -> ProtobufError {
        ProtobufError::Malformed {
            message: self.message,
            reason: reason.into(),
        }
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            if i == 9 && byte > 1 {
                return Err(self.malformed("varint overflows 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        // Fewer than 10 bytes, the last with its continuation bit set (a 10th byte with it set
        // overflows, above).
        Err(self.malformed("truncated varint"))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], ProtobufError> {
        match usize::try_from(len) {
            Ok(len) if len <= self.buf.len() => {
                let (head, tail) = self.buf.split_at(len);
                self.buf = tail;
                Ok(head)
            }
            _ => Err(self.malformed(format!(
                "length {len} runs past the end ({} bytes left)",
                self.buf.len()
            ))),
        }
    }

    /// The next field, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = match u32::try_from(key >> 3) {
            Ok(tag) if tag != 0 && tag < 1 << 29 => tag,
            _ => return Err(self.malformed(format!("invalid field number {}", key >> 3))),
        };
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed64
            }
            2 => {
                let len = self.varint()?;
                Wire::Len(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            3 | 4 => return Err(self.malformed("groups are not supported")),
            other => return Err(self.malformed(format!("invalid wire type {other}"))),
        };
        Ok(Some((tag, wire)))
    }
}
