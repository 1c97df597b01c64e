//! go-spew's `%#v` rendering of a Go `v1.PodTemplateSpec`, byte for byte, the input upstream
//! feeds to FNV-32a for the pod-template-hash (`hashutil.DeepHashObject`: `spew.ConfigState{
//! Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}`; `Indent` only affects
//! spew's `Dump`, not `%#v`).
//!
//! The Go value is rebuilt from the template's JSON with the Go layouts in
//! `go_types_v1_33.txt`, the way upstream's controller manager sees it: it reads objects as
//! protobuf, so absent fields are Go zero values, and empty lists and maps come back as nil
//! (protobuf does not tell empty from absent); a `resource.Quantity` is what `ParseQuantity`
//! makes of the string the apiserver writes for it ([`super::go_quantity`]); a `metav1.Time`
//! keeps whole seconds and the controller's local zone (assumed to be UTC).
//!
//! spew's rules, from `format.go`: a value is preceded by `(<type>)` unless it is an element of
//! a slice, a key or value of a map, or the target of a pointer; struct fields print as
//! `Name:value` separated by spaces inside `{}`; strings print raw, without quotes; nil
//! pointers, slices and maps print `<nil>`; a pointer prints `(*T)` and then its target
//! without a type (inside a slice or map, `<*>` instead); map keys are sorted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use serde_json::Value;

use super::go_quantity::GoQuantity;

/// The Go layouts, Kubernetes v1.33.
const LAYOUT_SOURCE: &str = include_str!("go_types_v1_33.txt");

static LAYOUT: LazyLock<Result<Layout, String>> = LazyLock::new(|| Layout::parse(LAYOUT_SOURCE));

/// Why a template cannot be rendered as upstream would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpewError {
    /// The embedded Go layout is broken (a bug, caught by the unit tests).
    #[error("go type layout: {0}")]
    Layout(String),
    /// A field holds a value its Go type cannot take.
    #[error("at {path}: {message}")]
    Value { path: String, message: String },
}

/// spew's `%#v` of the Go struct `go_type` (e.g. `v1.PodTemplateSpec`) holding `json`.
pub fn sprint_go_value(go_type: &str, json: &Value) -> Result<String, SpewError> {
    let layout = LAYOUT.as_ref().map_err(|e| SpewError::Layout(e.clone()))?;
    let ty = layout.resolve(go_type).map_err(SpewError::Layout)?;
    let mut printer = Printer {
        layout,
        out: String::with_capacity(4096),
        path: Vec::new(),
        unknown: None,
        inline_struct: false,
    };
    printer.value(&ty, Some(json), true)?;
    Ok(printer.out)
}

/// The JSON fields of `json` (as `a.b[0].c` paths) that no Go field of `go_type` reads: fields
/// k8s-openapi knows and the layout does not (a version mismatch).
#[cfg(test)]
pub fn unread_json_fields(go_type: &str, json: &Value) -> Result<Vec<String>, SpewError> {
    let layout = LAYOUT.as_ref().map_err(|e| SpewError::Layout(e.clone()))?;
    let ty = layout.resolve(go_type).map_err(SpewError::Layout)?;
    let mut printer = Printer {
        layout,
        out: String::new(),
        path: Vec::new(),
        unknown: Some(Vec::new()),
        inline_struct: false,
    };
    printer.value(&ty, Some(json), true)?;
    Ok(printer.unknown.unwrap_or_default())
}

/// A Go type, as far as spew's output depends on it.
#[derive(Debug, Clone, PartialEq)]
enum GoType {
    /// `string`, `bool`, `int32`, ... or a named type with such an underlying type.
    Basic {
        name: String,
        kind: BasicKind,
    },
    Struct(String),
    Pointer(Box<GoType>),
    /// `name` is set for named slice types.
    Slice {
        name: Option<String>,
        elem: Box<GoType>,
    },
    /// `name` is set for named map types such as `v1.ResourceList`.
    Map {
        name: Option<String>,
        key: Box<GoType>,
        value: Box<GoType>,
    },
    Quantity,
    Time,
    IntOrString,
    FieldsV1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BasicKind {
    String,
    Bool,
    Int,
    Uint,
}

impl GoType {
    /// reflect's `Type.String()`.
    fn type_string(&self) -> String {
        match self {
            GoType::Basic { name, .. } | GoType::Struct(name) => name.clone(),
            GoType::Pointer(target) => format!("*{}", target.type_string()),
            GoType::Slice {
                name: Some(name), ..
            }
            | GoType::Map {
                name: Some(name), ..
            } => name.clone(),
            GoType::Slice { name: None, elem } => format!("[]{}", elem.type_string()),
            GoType::Map {
                name: None,
                key,
                value,
            } => format!("map[{}]{}", key.type_string(), value.type_string()),
            GoType::Quantity => "resource.Quantity".into(),
            GoType::Time => "v1.Time".into(),
            GoType::IntOrString => "intstr.IntOrString".into(),
            GoType::FieldsV1 => "v1.FieldsV1".into(),
        }
    }
}

/// How a struct field is found in the JSON object of its struct.
#[derive(Debug, Clone, PartialEq)]
enum JsonName {
    Named(String),
    /// An embedded struct whose fields sit in the same JSON object (`json:",inline"`).
    Inline,
    /// Not in JSON at all (`json:"-"`).
    Skipped,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: String,
    json: JsonName,
}

#[derive(Debug, Default)]
struct Layout {
    structs: HashMap<String, Vec<Field>>,
    /// Named non-struct types and their underlying type expressions.
    named: HashMap<String, String>,
}

impl Layout {
    fn parse(source: &str) -> Result<Layout, String> {
        let mut layout = Layout::default();
        let mut current: Option<String> = None;
        for (number, line) in source.lines().enumerate() {
            let number = number + 1;
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with("  ") {
                let (Some(owner), [name, ty, json]) = (&current, words.as_slice()) else {
                    return Err(format!(
                        "line {number}: expected a field of a struct: {line:?}"
                    ));
                };
                let json = match *json {
                    "inline" => JsonName::Inline,
                    "-" => JsonName::Skipped,
                    other => JsonName::Named(other.to_string()),
                };
                layout
                    .structs
                    .entry(owner.clone())
                    .or_default()
                    .push(Field {
                        name: name.to_string(),
                        ty: ty.to_string(),
                        json,
                    });
                continue;
            }
            match words.as_slice() {
                ["struct", name] => {
                    if layout
                        .structs
                        .insert(name.to_string(), Vec::new())
                        .is_some()
                    {
                        return Err(format!("line {number}: struct {name} declared twice"));
                    }
                    current = Some(name.to_string());
                }
                ["type", name, underlying] => {
                    layout
                        .named
                        .insert(name.to_string(), underlying.to_string());
                    current = None;
                }
                _ => return Err(format!("line {number}: not a declaration: {line:?}")),
            }
        }
        // Every field type must resolve, so a typo fails at first use, not on some template.
        for fields in layout.structs.values() {
            for field in fields {
                layout.resolve(&field.ty)?;
            }
        }
        Ok(layout)
    }

    /// Parses a Go type expression such as `[]v1.Container` or `map[string]string`.
    fn resolve(&self, expr: &str) -> Result<GoType, String> {
        if let Some(target) = expr.strip_prefix('*') {
            return Ok(GoType::Pointer(Box::new(self.resolve(target)?)));
        }
        if let Some(elem) = expr.strip_prefix("[]") {
            return Ok(GoType::Slice {
                name: None,
                elem: Box::new(self.resolve(elem)?),
            });
        }
        if let Some(rest) = expr.strip_prefix("map[") {
            let close = rest
                .find(']')
                .ok_or_else(|| format!("unbalanced map type {expr:?}"))?;
            return Ok(GoType::Map {
                name: None,
                key: Box::new(self.resolve(&rest[..close])?),
                value: Box::new(self.resolve(&rest[close + 1..])?),
            });
        }
        let basic = |kind| GoType::Basic {
            name: expr.to_string(),
            kind,
        };
        Ok(match expr {
            "string" => basic(BasicKind::String),
            "bool" => basic(BasicKind::Bool),
            "int" | "int8" | "int16" | "int32" | "int64" => basic(BasicKind::Int),
            "uint" | "uint8" | "uint16" | "uint32" | "uint64" => basic(BasicKind::Uint),
            "resource.Quantity" => GoType::Quantity,
            "v1.Time" => GoType::Time,
            "intstr.IntOrString" => GoType::IntOrString,
            "v1.FieldsV1" => GoType::FieldsV1,
            _ if self.structs.contains_key(expr) => GoType::Struct(expr.to_string()),
            _ => {
                let underlying = self
                    .named
                    .get(expr)
                    .ok_or_else(|| format!("unknown go type {expr:?}"))?;
                match self.resolve(underlying)? {
                    GoType::Basic { kind, .. } => basic(kind),
                    GoType::Slice { elem, .. } => GoType::Slice {
                        name: Some(expr.to_string()),
                        elem,
                    },
                    GoType::Map { key, value, .. } => GoType::Map {
                        name: Some(expr.to_string()),
                        key,
                        value,
                    },
                    other => return Err(format!("named type {expr} of {other:?}")),
                }
            }
        })
    }
}

struct Printer<'a> {
    layout: &'a Layout,
    out: String,
    /// Where in the JSON the printer is, for error messages.
    path: Vec<String>,
    /// JSON fields no Go field read, when asked for.
    unknown: Option<Vec<String>>,
    /// The next struct printed is an inlined one.
    inline_struct: bool,
}

impl Printer<'_> {
    fn error(&self, message: impl Into<String>) -> SpewError {
        SpewError::Value {
            path: if self.path.is_empty() {
                ".".to_string()
            } else {
                self.path.concat()
            },
            message: message.into(),
        }
    }

    fn type_prefix(&mut self, ty: &GoType, show_type: bool) {
        if show_type {
            self.out.push('(');
            self.out.push_str(&ty.type_string());
            self.out.push(')');
        }
    }

    /// Prints `json` as a Go value of type `ty`; `None` and JSON `null` are the zero value.
    fn value(
        &mut self,
        ty: &GoType,
        json: Option<&Value>,
        show_type: bool,
    ) -> Result<(), SpewError> {
        let json = json.filter(|v| !v.is_null());
        match ty {
            GoType::Pointer(target) => {
                match json {
                    None if show_type => {
                        self.type_prefix(ty, true);
                        self.out.push_str("<nil>");
                    }
                    None => self.out.push_str("<nil>"),
                    Some(json) => {
                        if show_type {
                            self.type_prefix(ty, true);
                        } else {
                            self.out.push_str("<*>");
                        }
                        self.value(target, Some(json), false)?;
                    }
                }
                return Ok(());
            }
            _ => self.type_prefix(ty, show_type),
        }
        match ty {
            GoType::Pointer(_) => unreachable!("pointers are printed above"),
            GoType::Basic { kind, .. } => self.basic(*kind, json)?,
            GoType::Struct(name) => self.structure(name, json)?,
            GoType::Slice { elem, .. } => {
                let items = match json {
                    None => &[][..],
                    Some(Value::Array(items)) => items.as_slice(),
                    Some(other) => return Err(self.error(format!("expected a list, got {other}"))),
                };
                // Protobuf does not tell an empty list from an absent one: both decode as nil.
                if items.is_empty() {
                    self.out.push_str("<nil>");
                    return Ok(());
                }
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.path.push(format!("[{i}]"));
                    self.value(elem, Some(item), false)?;
                    self.path.pop();
                }
                self.out.push(']');
            }
            GoType::Map { key, value, .. } => {
                let entries = match json {
                    None => None,
                    Some(Value::Object(map)) => Some(map),
                    Some(other) => return Err(self.error(format!("expected a map, got {other}"))),
                };
                let Some(entries) = entries.filter(|m| !m.is_empty()) else {
                    self.out.push_str("<nil>");
                    return Ok(());
                };
                if !matches!(
                    **key,
                    GoType::Basic {
                        kind: BasicKind::String,
                        ..
                    }
                ) {
                    return Err(self.error("only string-keyed maps are supported"));
                }
                // spew sorts string keys with Go's `<`: byte order, as Rust's `str` ordering.
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                self.out.push_str("map[");
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.out.push_str(k);
                    self.out.push(':');
                    self.path.push(format!("[{k:?}]"));
                    self.value(value, entries.get(k), false)?;
                    self.path.pop();
                }
                self.out.push(']');
            }
            GoType::Quantity => {
                let quantity = match json {
                    // A struct field (never a pointer) holding the zero Quantity: upstream's
                    // protobuf writes its String(), "0", and the controller parses that back.
                    None => GoQuantity::from_wire("0"),
                    Some(Value::String(text)) => GoQuantity::from_api_string(text),
                    Some(other) => {
                        return Err(self.error(format!("expected a quantity string, got {other}")))
                    }
                };
                let quantity = quantity.map_err(|e| self.error(e.to_string()))?;
                quantity.write_go_struct(&mut self.out);
            }
            GoType::Time => self.time(json)?,
            GoType::IntOrString => {
                let (kind, int_val, str_val) = match json {
                    None => (0, 0, ""),
                    Some(Value::String(s)) => (1, 0, s.as_str()),
                    Some(Value::Number(n)) => {
                        let n = n
                            .as_i64()
                            .and_then(|n| i32::try_from(n).ok())
                            .ok_or_else(|| self.error(format!("{n} is not an int32")))?;
                        (0, n, "")
                    }
                    Some(other) => {
                        return Err(self.error(format!("expected an int or string, got {other}")))
                    }
                };
                let _ = write!(
                    self.out,
                    "{{Type:(intstr.Type){kind} IntVal:(int32){int_val} StrVal:(string){str_val}}}"
                );
            }
            GoType::FieldsV1 => {
                // `Raw` holds the JSON as the apiserver received it; our compact rendering is
                // the closest we can get (exact for compact input).
                let raw = json
                    .map(|v| serde_json::to_string(v).unwrap_or_default())
                    .unwrap_or_default();
                self.out.push_str("{Raw:([]uint8)");
                if raw.is_empty() {
                    self.out.push_str("<nil>");
                } else {
                    self.out.push('[');
                    for (i, byte) in raw.bytes().enumerate() {
                        if i > 0 {
                            self.out.push(' ');
                        }
                        let _ = write!(self.out, "{byte}");
                    }
                    self.out.push(']');
                }
                self.out.push('}');
            }
        }
        Ok(())
    }

    fn basic(&mut self, kind: BasicKind, json: Option<&Value>) -> Result<(), SpewError> {
        match (kind, json) {
            (BasicKind::String, None) => {}
            (BasicKind::Int | BasicKind::Uint, None) => self.out.push('0'),
            (BasicKind::Bool, None) => self.out.push_str("false"),
            (BasicKind::String, Some(Value::String(s))) => self.out.push_str(s),
            (BasicKind::Bool, Some(Value::Bool(b))) => {
                self.out.push_str(if *b { "true" } else { "false" })
            }
            (BasicKind::Int, Some(Value::Number(n))) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| self.error(format!("{n} is not an integer")))?;
                let _ = write!(self.out, "{n}");
            }
            (BasicKind::Uint, Some(Value::Number(n))) => {
                let n = n
                    .as_u64()
                    .ok_or_else(|| self.error(format!("{n} is not an unsigned integer")))?;
                let _ = write!(self.out, "{n}");
            }
            (kind, Some(other)) => {
                return Err(self.error(format!("expected a {kind:?} value, got {other}")))
            }
        }
        Ok(())
    }

    fn structure(&mut self, name: &str, json: Option<&Value>) -> Result<(), SpewError> {
        let object = match json {
            None => None,
            Some(Value::Object(object)) => Some(object),
            Some(other) => return Err(self.error(format!("expected an object, got {other}"))),
        };
        // An inlined struct shares its object with the enclosing one, which checks its keys.
        let check_keys = !std::mem::take(&mut self.inline_struct);
        let layout = self.layout;
        let fields = &layout.structs[name];
        self.out.push('{');
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            self.out.push_str(&field.name);
            self.out.push(':');
            let ty = layout.resolve(&field.ty).map_err(SpewError::Layout)?;
            match &field.json {
                JsonName::Named(key) => {
                    self.path.push(format!(".{key}"));
                    self.value(&ty, object.and_then(|o| o.get(key)), true)?;
                    self.path.pop();
                }
                JsonName::Inline => {
                    self.inline_struct = true;
                    self.value(&ty, json, true)?;
                }
                JsonName::Skipped => self.value(&ty, None, true)?,
            }
        }
        self.out.push('}');
        if let (true, Some(unknown), Some(object)) = (check_keys, self.unknown.as_mut(), object) {
            for key in object.keys() {
                if !struct_reads(layout, name, key) {
                    unknown.push(format!("{}.{key}", self.path.concat()));
                }
            }
        }
        Ok(())
    }

    /// A `metav1.Time`: `time.Time{wall, ext, loc}` as `time.Unix(seconds, 0).Local()` makes it
    /// (no monotonic reading, so `wall` holds only nanoseconds, which protobuf drops).
    fn time(&mut self, json: Option<&Value>) -> Result<(), SpewError> {
        let Some(json) = json else {
            self.out.push_str(
                "{Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}}",
            );
            return Ok(());
        };
        let Some(text) = json.as_str() else {
            return Err(self.error(format!("expected a timestamp string, got {json}")));
        };
        let timestamp: jiff::Timestamp = text
            .parse()
            .map_err(|e| self.error(format!("timestamp {text:?}: {e}")))?;
        // Seconds from January 1 of year 1 (Go's internal epoch) to the Unix epoch.
        const UNIX_TO_INTERNAL: i64 = 62_135_596_800;
        let _ = write!(
            self.out,
            "{{Time:(time.Time){{wall:(uint64)0 ext:(int64){} loc:(*time.Location){{name:(string)UTC \
             zone:([]time.zone)<nil> tx:([]time.zoneTrans)<nil> extend:(string) \
             cacheStart:(int64)0 cacheEnd:(int64)0 cacheZone:(*time.zone)<nil>}}}}}}",
            timestamp.as_second() + UNIX_TO_INTERNAL
        );
        Ok(())
    }
}

/// Whether struct `name` (or a struct it inlines) has a field with JSON name `key`.
fn struct_reads(layout: &Layout, name: &str, key: &str) -> bool {
    layout.structs[name].iter().any(|field| match &field.json {
        JsonName::Named(json) => json == key,
        JsonName::Inline => struct_reads(layout, &field.ty, key),
        JsonName::Skipped => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_layout_parses_and_every_type_resolves() {
        let layout = Layout::parse(LAYOUT_SOURCE).unwrap();
        assert!(layout.structs.len() > 100, "{}", layout.structs.len());
        let spec = &layout.structs["v1.PodTemplateSpec"];
        assert_eq!(spec[0].name, "ObjectMeta");
        assert_eq!(spec[1].name, "Spec");
        // (type expression, reflect's String())
        let cases = [
            ("*int64", "*int64"),
            ("[]v1.Container", "[]v1.Container"),
            ("v1.ResourceList", "v1.ResourceList"),
            ("map[string]string", "map[string]string"),
            ("*v1.PodSecurityContext", "*v1.PodSecurityContext"),
            ("v1.Protocol", "v1.Protocol"),
            ("*resource.Quantity", "*resource.Quantity"),
        ];
        for (expr, expected) in cases {
            assert_eq!(layout.resolve(expr).unwrap().type_string(), expected);
        }
        assert!(layout.resolve("v1.NoSuchType").is_err());
    }

    #[test]
    fn broken_layouts_are_reported() {
        // (source, error fragment)
        let cases = [
            ("  Name string name", "expected a field"),
            ("struct v1.A\n  Name v1.Missing name", "unknown go type"),
            ("struct v1.A\nstruct v1.A", "declared twice"),
            ("bogus", "not a declaration"),
        ];
        for (source, fragment) in cases {
            let error = Layout::parse(source).unwrap_err();
            assert!(error.contains(fragment), "{source:?}: {error}");
        }
    }

    #[test]
    fn values_print_as_spew_does() {
        // (go type, JSON, spew %#v)
        let cases = [
            (
                "v1.LocalObjectReference",
                json!({}),
                "(v1.LocalObjectReference){Name:(string)}",
            ),
            (
                "v1.LocalObjectReference",
                json!({"name": "pull"}),
                "(v1.LocalObjectReference){Name:(string)pull}",
            ),
            (
                "v1.KeyToPath",
                json!({"key": "k", "path": "p", "mode": 420}),
                "(v1.KeyToPath){Key:(string)k Path:(string)p Mode:(*int32)420}",
            ),
            (
                "v1.KeyToPath",
                json!({"key": "k", "path": "p"}),
                "(v1.KeyToPath){Key:(string)k Path:(string)p Mode:(*int32)<nil>}",
            ),
            (
                "v1.ContainerPort",
                json!({"containerPort": 80}),
                "(v1.ContainerPort){Name:(string) HostPort:(int32)0 ContainerPort:(int32)80 \
                 Protocol:(v1.Protocol) HostIP:(string)}",
            ),
            (
                "v1.Capabilities",
                json!({"add": ["NET_ADMIN", "SYS_TIME"], "drop": []}),
                "(v1.Capabilities){Add:([]v1.Capability)[NET_ADMIN SYS_TIME] \
                 Drop:([]v1.Capability)<nil>}",
            ),
            (
                "v1.HTTPGetAction",
                json!({"path": "/", "port": "http", "httpHeaders": [{"name": "a", "value": "b"}]}),
                "(v1.HTTPGetAction){Path:(string)/ Port:(intstr.IntOrString){Type:(intstr.Type)1 \
                 IntVal:(int32)0 StrVal:(string)http} Host:(string) Scheme:(v1.URIScheme) \
                 HTTPHeaders:([]v1.HTTPHeader)[{Name:(string)a Value:(string)b}]}",
            ),
            (
                "v1.TCPSocketAction",
                json!({"port": 8080}),
                "(v1.TCPSocketAction){Port:(intstr.IntOrString){Type:(intstr.Type)0 \
                 IntVal:(int32)8080 StrVal:(string)} Host:(string)}",
            ),
            (
                "v1.ResourceRequirements",
                json!({"limits": {"memory": "128Mi", "cpu": "500m"}}),
                "(v1.ResourceRequirements){Limits:(v1.ResourceList)map[\
                 cpu:{i:(resource.int64Amount){value:(int64)500 scale:(resource.Scale)-3} \
                 d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string)500m \
                 Format:(resource.Format)DecimalSI} \
                 memory:{i:(resource.int64Amount){value:(int64)134217728 scale:(resource.Scale)0} \
                 d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string) \
                 Format:(resource.Format)BinarySI}] \
                 Requests:(v1.ResourceList)<nil> Claims:([]v1.ResourceClaim)<nil>}",
            ),
            (
                "v1.PodSecurityContext",
                json!({"sysctls": [{"name": "a", "value": "1"}], "runAsUser": 1000}),
                "(v1.PodSecurityContext){SELinuxOptions:(*v1.SELinuxOptions)<nil> \
                 WindowsOptions:(*v1.WindowsSecurityContextOptions)<nil> \
                 RunAsUser:(*int64)1000 RunAsGroup:(*int64)<nil> RunAsNonRoot:(*bool)<nil> \
                 SupplementalGroups:([]int64)<nil> \
                 SupplementalGroupsPolicy:(*v1.SupplementalGroupsPolicy)<nil> \
                 FSGroup:(*int64)<nil> Sysctls:([]v1.Sysctl)[{Name:(string)a Value:(string)1}] \
                 FSGroupChangePolicy:(*v1.PodFSGroupChangePolicy)<nil> \
                 SeccompProfile:(*v1.SeccompProfile)<nil> \
                 AppArmorProfile:(*v1.AppArmorProfile)<nil> \
                 SELinuxChangePolicy:(*v1.PodSELinuxChangePolicy)<nil>}",
            ),
        ];
        for (go_type, value, expected) in cases {
            assert_eq!(
                sprint_go_value(go_type, &value).unwrap(),
                expected,
                "{go_type} {value}"
            );
        }
    }

    #[test]
    fn inline_fields_read_the_same_object() {
        let probe = json!({"exec": {"command": ["true"]}, "periodSeconds": 5});
        let out = sprint_go_value("v1.Probe", &probe).unwrap();
        assert!(
            out.starts_with(
                "(v1.Probe){ProbeHandler:(v1.ProbeHandler){Exec:(*v1.ExecAction){Command:([]string)[true]} \
                 HTTPGet:(*v1.HTTPGetAction)<nil>"
            ),
            "{out}"
        );
        assert!(out.contains(" PeriodSeconds:(int32)5 "), "{out}");
        assert_eq!(
            unread_json_fields("v1.Probe", &probe).unwrap(),
            Vec::<String>::new()
        );
        let unknown = json!({"exec": {"command": ["true"], "shell": "sh"}, "bogus": 1});
        assert_eq!(
            unread_json_fields("v1.Probe", &unknown).unwrap(),
            vec![".exec.shell".to_string(), ".bogus".to_string()]
        );
    }

    #[test]
    fn timestamps_keep_whole_seconds_in_the_local_zone() {
        let zero = sprint_go_value("v1.ObjectMeta", &json!({})).unwrap();
        assert!(
            zero.contains(
                "CreationTimestamp:(v1.Time){Time:(time.Time){wall:(uint64)0 ext:(int64)0 \
                 loc:(*time.Location)<nil>}} DeletionTimestamp:(*v1.Time)<nil>"
            ),
            "{zero}"
        );
        let set = sprint_go_value(
            "v1.ObjectMeta",
            &json!({"creationTimestamp": "1970-01-01T00:00:01Z"}),
        )
        .unwrap();
        assert!(
            set.contains(
                "{wall:(uint64)0 ext:(int64)62135596801 loc:(*time.Location){name:(string)UTC "
            ),
            "{set}"
        );
    }

    #[test]
    fn wrong_shapes_are_errors_with_the_field_path() {
        // (go type, JSON, error)
        let cases = [
            (
                "v1.KeyToPath",
                json!({"mode": "x"}),
                ".mode: expected a Int value, got \"x\"",
            ),
            (
                "v1.Capabilities",
                json!({"add": "x"}),
                ".add: expected a list, got \"x\"",
            ),
            (
                "v1.ResourceRequirements",
                json!({"limits": {"cpu": "lots"}}),
                ".limits[\"cpu\"]: ",
            ),
            ("v1.TCPSocketAction", json!({"port": 1e12}), ".port: "),
        ];
        for (go_type, value, expected) in cases {
            let error = sprint_go_value(go_type, &value).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("at {expected}")),
                "{value}: {error}"
            );
        }
    }
}
