//! Decoding a JSON value into a typed k8s-openapi object the way upstream's
//! JSON decoder (`sigs.k8s.io/json`, Go `encoding/json`) does.
//!
//! * Wrong JSON types are errors that name the field path
//!   (`spec.template.spec.containers[0].ports[0].containerPort: invalid type:
//!   string "80", expected i32`).
//! * `null` is accepted anywhere and means "the zero value", as in Go: a null
//!   string is `""`, a null number `0`, a null list or object is empty.
//! * Unknown fields are dropped, but their paths are collected so callers can
//!   implement `fieldValidation=Strict|Warn`.
//! * Quantities are parsed (bad ones are decode errors, as upstream) and
//!   re-encoded in upstream's canonical form (`0.5` -> `500m`).

use std::cell::RefCell;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use tinykube_apimachinery::quantity::Quantity;

type Error = serde_json::Error;

/// Why a value could not be decoded: the deepest field path involved and the
/// decoder's message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub path: String,
    pub message: String,
}

/// A decoded object and the paths of the fields that were ignored.
pub(super) struct Decoded<T> {
    pub value: T,
    pub unknown_fields: Vec<String>,
}

#[derive(Default)]
struct State {
    error_path: Option<String>,
    unknown: Vec<String>,
}

/// Decodes `value` into `T`, tracking field paths.
pub(super) fn decode<T: DeserializeOwned>(value: &Value) -> Result<Decoded<T>, Failure> {
    let state = RefCell::new(State::default());
    let result = T::deserialize(Track {
        value,
        path: String::new(),
        state: &state,
    });
    let state = state.into_inner();
    match result {
        Ok(value) => Ok(Decoded {
            value,
            unknown_fields: state.unknown,
        }),
        Err(error) => Err(Failure {
            path: state.error_path.unwrap_or_default(),
            message: error.to_string(),
        }),
    }
}

fn record_error(state: &RefCell<State>, path: &str) {
    let mut state = state.borrow_mut();
    if state.error_path.is_none() {
        state.error_path = Some(path.to_string());
    }
}

/// How the members of a JSON object are addressed in paths.
#[derive(Clone, Copy)]
enum Shape {
    /// Struct fields: `a.b`; members not in the list are unknown fields.
    Struct(&'static [&'static str]),
    /// Map entries: `a[key]`.
    Map,
}

fn member_path(parent: &str, shape: Shape, key: &str) -> String {
    match shape {
        Shape::Struct(_) if parent.is_empty() => key.to_string(),
        Shape::Struct(_) => format!("{parent}.{key}"),
        Shape::Map => format!("{parent}[{key}]"),
    }
}

/// A deserializer over one JSON value that knows its own path.
struct Track<'a, 'de> {
    value: &'de Value,
    path: String,
    state: &'a RefCell<State>,
}

impl<'a, 'de> Track<'a, 'de> {
    fn visit_object<V: Visitor<'de>>(self, shape: Shape, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(map) => visitor.visit_map(ObjectAccess {
                iter: map.iter(),
                pending: None,
                path: self.path,
                state: self.state,
                shape,
            }),
            Value::Null => visitor.visit_map(Empty),
            _ => self.deserialize_any(visitor),
        }
    }

    fn visit_array<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(ArrayAccess {
                iter: items.iter().enumerate(),
                path: self.path,
                state: self.state,
            }),
            Value::Null => visitor.visit_seq(Empty),
            _ => self.deserialize_any(visitor),
        }
    }

    fn quantity<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = match self.value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Null => "0".to_string(),
            _ => return visitor.visit_newtype_struct(self),
        };
        let quantity = Quantity::parse(text.trim()).map_err(de::Error::custom)?;
        visitor.visit_newtype_struct(StringDeserializer::<Error>::new(quantity.to_string()))
    }
}

macro_rules! zero_on_null {
    ($($method:ident => $zero:expr),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self.value {
                    Value::Null => $zero(visitor),
                    _ => self.deserialize_any(visitor),
                }
            }
        )*
    };
}

fn visit_zero<'de, V: Visitor<'de>>(visitor: V) -> Result<V::Value, Error> {
    visitor.visit_u64(0)
}

fn visit_false<'de, V: Visitor<'de>>(visitor: V) -> Result<V::Value, Error> {
    visitor.visit_bool(false)
}

fn visit_empty_str<'de, V: Visitor<'de>>(visitor: V) -> Result<V::Value, Error> {
    visitor.visit_borrowed_str("")
}

impl<'a, 'de> Deserializer<'de> for Track<'a, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(_) => self.visit_array(visitor),
            Value::Object(_) => self.visit_object(Shape::Map, visitor),
        }
    }

    zero_on_null! {
        deserialize_i8 => visit_zero,
        deserialize_i16 => visit_zero,
        deserialize_i32 => visit_zero,
        deserialize_i64 => visit_zero,
        deserialize_i128 => visit_zero,
        deserialize_u8 => visit_zero,
        deserialize_u16 => visit_zero,
        deserialize_u32 => visit_zero,
        deserialize_u64 => visit_zero,
        deserialize_u128 => visit_zero,
        deserialize_f32 => visit_zero,
        deserialize_f64 => visit_zero,
        deserialize_bool => visit_false,
        deserialize_char => visit_empty_str,
        deserialize_str => visit_empty_str,
        deserialize_string => visit_empty_str,
        deserialize_bytes => visit_empty_str,
        deserialize_byte_buf => visit_empty_str,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == "Quantity" {
            return self.quantity(visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_array(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_array(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_array(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.visit_object(Shape::Map, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.visit_object(Shape::Struct(fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        Deserializer::deserialize_enum(self.value, name, variants, visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct ObjectAccess<'a, 'de> {
    iter: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: String,
    state: &'a RefCell<State>,
    shape: Shape,
}

impl<'a, 'de> MapAccess<'de> for ObjectAccess<'a, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        if let Shape::Struct(fields) = self.shape {
            if !fields.contains(&key.as_str()) {
                let path = member_path(&self.path, self.shape, key);
                self.state.borrow_mut().unknown.push(path);
            }
        }
        self.pending = Some((key.as_str(), value));
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was requested before its key"))?;
        let path = member_path(&self.path, self.shape, key);
        let result = seed.deserialize(Track {
            value,
            path: path.clone(),
            state: self.state,
        });
        if result.is_err() {
            record_error(self.state, &path);
        }
        result
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct ArrayAccess<'a, 'de> {
    iter: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: String,
    state: &'a RefCell<State>,
}

impl<'a, 'de> SeqAccess<'de> for ArrayAccess<'a, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, value)) = self.iter.next() else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.path);
        let result = seed.deserialize(Track {
            value,
            path: path.clone(),
            state: self.state,
        });
        if result.is_err() {
            record_error(self.state, &path);
        }
        result.map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An empty object or list, for `null`.
struct Empty;

impl<'de> MapAccess<'de> for Empty {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _seed: K,
    ) -> Result<Option<K::Value>, Error> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _seed: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(
            "a value was requested from an empty object",
        ))
    }
}

impl<'de> SeqAccess<'de> for Empty {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        _seed: T,
    ) -> Result<Option<T::Value>, Error> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Pod, Secret};
    use serde_json::json;

    fn failure<T: DeserializeOwned>(value: Value) -> Failure {
        match decode::<T>(&value) {
            Ok(_) => panic!("expected a decode failure for {value}"),
            Err(f) => f,
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"spec": {"replicas": "3"}}),
                "spec.replicas",
                "invalid type: string \"3\", expected i32",
            ),
            (
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": 5}]}}}}),
                "spec.template.spec.containers[0].image",
                "invalid type: integer `5`, expected a string",
            ),
            (
                json!({"metadata": {"labels": {"app": 1}}}),
                "metadata.labels[app]",
                "invalid type: integer `1`, expected a string",
            ),
            (
                json!({"spec": {"replicas": 99999999999u64}}),
                "spec.replicas",
                "invalid value: integer `99999999999`, expected i32",
            ),
            (
                json!({"spec": {"replicas": 1.5}}),
                "spec.replicas",
                "invalid type: floating point `1.5`, expected i32",
            ),
            (
                json!({"spec": []}),
                "spec",
                "invalid type: sequence, expected DeploymentSpec",
            ),
            (
                json!({"metadata": {"labels": []}}),
                "metadata.labels",
                "invalid type: sequence, expected a map",
            ),
        ];
        for (value, path, message) in cases {
            let f = failure::<Deployment>(value.clone());
            assert_eq!(f.path, path, "{value}");
            assert_eq!(f.message, message, "{value}");
        }
    }

    #[test]
    fn nulls_are_zero_values() {
        let value = json!({
            "metadata": {"name": null, "labels": {"a": null}, "finalizers": null},
            "spec": {"containers": [null, {"name": null, "ports": [{"containerPort": null}]}]},
        });
        let pod = decode::<Pod>(&value).unwrap().value;
        assert_eq!(pod.metadata.name, None);
        assert_eq!(pod.metadata.labels.unwrap()["a"], "");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.len(), 2);
        assert_eq!(spec.containers[1].name, "");
        assert_eq!(
            spec.containers[1].ports.as_ref().unwrap()[0].container_port,
            0
        );
    }

    #[test]
    fn unknown_fields_are_dropped_and_reported() {
        let value = json!({
            "metadata": {"name": "a", "nmae": "b"},
            "spec": {"containers": [{"name": "c", "imagee": "x"}], "foo": {"bar": 1}},
            "extra": true,
        });
        let mut unknown = decode::<Pod>(&value).unwrap().unknown_fields;
        unknown.sort();
        assert_eq!(
            unknown,
            vec![
                "extra",
                "metadata.nmae",
                "spec.containers[0].imagee",
                "spec.foo"
            ]
        );
    }

    #[test]
    fn quantities_are_checked_and_canonical() {
        let value = json!({"spec": {"containers": [{"name": "c", "resources": {
            "limits": {"cpu": 0.5, "memory": "1024Mi"}, "requests": {"cpu": "1000m", "memory": null}}}]}});
        let pod = decode::<Pod>(&value).unwrap().value;
        let resources = pod.spec.unwrap().containers[0].resources.clone().unwrap();
        let limits = resources.limits.unwrap();
        assert_eq!(limits["cpu"].0, "500m");
        assert_eq!(limits["memory"].0, "1Gi");
        let requests = resources.requests.unwrap();
        assert_eq!(requests["cpu"].0, "1");
        assert_eq!(requests["memory"].0, "0");

        let bad = json!({"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "lots"}}}]}});
        let f = failure::<Pod>(bad);
        assert_eq!(f.path, "spec.containers[0].resources.limits[cpu]");
        assert!(
            f.message
                .contains("quantities must match the regular expression"),
            "{}",
            f.message
        );
    }

    #[test]
    fn bad_base64_and_times_fail() {
        let f = failure::<Secret>(json!({"data": {"k": "not base64!"}}));
        assert_eq!(f.path, "data[k]");
        let f = failure::<Pod>(json!({"metadata": {"creationTimestamp": "yesterday"}}));
        assert_eq!(f.path, "metadata.creationTimestamp");
    }

    #[test]
    fn wrong_api_version_fails_at_the_root() {
        let f = failure::<Pod>(json!({"apiVersion": "v2", "kind": "Pod"}));
        assert_eq!(f.path, "");
        assert!(f.message.contains("v2"), "{}", f.message);
    }
}
