//! Text parsing shared with the AppSpec parser.

use super::custom::join;
use super::MAX_DOCUMENT_BYTES;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use std::fmt;

/// A problem reading a JSON/YAML text. `path` is `None` for syntax problems (the message
/// then reads as a predicate of the text: "is empty", "is not valid YAML: ..."), and the
/// path of the value (`""` for the root) when the text parsed but a value in it cannot be
/// represented (YAML tags, non-finite numbers, odd or repeated keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextError {
    pub(crate) path: Option<String>,
    pub(crate) message: String,
}

impl TextError {
    fn syntax(message: String) -> Self {
        TextError {
            path: None,
            message,
        }
    }
}

/// Parses a JSON or YAML text (at most [`MAX_DOCUMENT_BYTES`]) into a JSON value. A text
/// starting with `{` or `[` is JSON (with serde_json's messages, and duplicate keys
/// rejected as YAML does); anything else is YAML.
pub(crate) fn parse_text(text: &str) -> Result<Value, TextError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(TextError::syntax(format!(
            "is {} bytes; at most {MAX_DOCUMENT_BYTES} bytes (64 KiB) are accepted",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(TextError::syntax("is empty".to_string()));
    }
    // A text that starts like JSON is read as JSON only: YAML would accept many broken JSON
    // texts (a missing value becomes null) and hide the mistake.
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str::<StrictJson>(text)
            .map(|StrictJson(v)| v)
            .map_err(|e| TextError::syntax(format!("is not valid JSON: {e}")));
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(yaml) => yaml_to_json(&yaml, ""),
        Err(e) => Err(TextError::syntax(format!("is not valid YAML: {e}"))),
    }
}

fn yaml_to_json(v: &serde_yaml_ng::Value, path: &str) -> Result<Value, TextError> {
    use serde_yaml_ng::Value as Y;
    let at = |message: String| TextError {
        path: Some(path.to_string()),
        message,
    };
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| at(format!("{n} is not a finite number")))?
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (k, item) in mapping {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => return Err(at("mapping keys must be plain names".to_string())),
                };
                let item_path = join(path, &key);
                if map.contains_key(&key) {
                    return Err(TextError {
                        path: Some(item_path),
                        message: "appears twice".to_string(),
                    });
                }
                let converted = yaml_to_json(item, &item_path)?;
                map.insert(key, converted);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => {
            return Err(at(format!(
                "the YAML tag {} is not supported; write a plain value (CloudFormation \
                 functions such as !Ref are not resolved here)",
                tagged.tag
            )))
        }
    })
}

/// A JSON value read with duplicate keys rejected (serde_json keeps the last silently).
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictJson(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// "a string", "a list", ... for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
