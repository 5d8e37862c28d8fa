//! Custom configuration documents: CodeDeploy's JSON shape (`deploymentConfigName`,
//! `computePlatform`, `trafficRoutingConfig`) with Cutover's extensions, read from JSON or
//! YAML and written back.

use super::validate::{check_percentage, check_range};
use super::*;
use serde::de;
use serde::Deserializer;
use serde::Serializer;
use serde_json::{json, Map, Value};

impl DeploymentConfig {
    /// Reads a custom configuration document (JSON or YAML, at most 64 KiB):
    ///
    /// ```json
    /// {
    ///   "deploymentConfigName": "MyCanary20",
    ///   "computePlatform": "Lambda",
    ///   "trafficRoutingConfig": {
    ///     "type": "TimeBasedCanary",
    ///     "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 15}
    ///   },
    ///   "bakeAfterSeconds": 300
    /// }
    /// ```
    ///
    /// `type` is `TimeBasedCanary` (with `timeBasedCanary`), `TimeBasedLinear` (with
    /// `timeBasedLinear: {linearPercentage, linearInterval}`), `AllAtOnce` (no member) or
    /// `Steps` (with `steps: [{weight, bakeSeconds}, ...]`). `computePlatform` defaults to
    /// `Lambda`, `bakeAfterSeconds` to 0. Unknown keys are errors. The result is validated.
    pub fn parse_document(text: &str) -> Result<DeploymentConfig, ConfigError> {
        let value = parse_text(text).map_err(|e| match e.path {
            Some(path) if path.is_empty() => ConfigError::invalid("document", e.message),
            Some(path) => ConfigError::Invalid {
                field: path,
                message: e.message,
            },
            None => ConfigError::Syntax {
                message: format!("the deployment configuration document {}", e.message),
            },
        })?;
        Self::from_document(&value)
    }

    /// Like [`Self::parse_document`], from an already parsed JSON value.
    pub fn from_document(value: &Value) -> Result<DeploymentConfig, ConfigError> {
        let root = match value {
            Value::Object(map) => map,
            Value::Null => {
                return Err(ConfigError::Syntax {
                    message: "the deployment configuration document is empty".to_string(),
                })
            }
            other => {
                return Err(ConfigError::invalid(
                    "document",
                    format!(
                        "must be an object with deploymentConfigName and trafficRoutingConfig, \
                         not {}",
                        type_name(other)
                    ),
                ))
            }
        };
        check_keys(
            root,
            "",
            &[
                "deploymentConfigName",
                "computePlatform",
                "trafficRoutingConfig",
                "bakeAfterSeconds",
            ],
        )?;
        let name = as_str(
            required(root, "", "deploymentConfigName")?,
            "deploymentConfigName",
        )?;
        let platform = match get(root, "computePlatform") {
            None => ComputePlatform::Lambda,
            Some(v) => parse_platform(as_str(v, "computePlatform")?, "computePlatform")?,
        };
        let routing = parse_routing(required(root, "", "trafficRoutingConfig")?)?;
        let bake_after_seconds = match get(root, "bakeAfterSeconds") {
            None => 0,
            Some(v) => {
                let n = whole_number(v, "bakeAfterSeconds")?;
                check_range(
                    "bakeAfterSeconds",
                    n,
                    0,
                    i128::from(MAX_BAKE_SECONDS),
                    Some("of seconds"),
                )?;
                n as u64
            }
        };
        let config = DeploymentConfig {
            name: name.to_string(),
            platform,
            routing,
            bake_after_seconds,
        };
        config.validate()?;
        Ok(config)
    }

    /// The configuration as a document of the shape [`Self::parse_document`] reads
    /// (`computePlatform` and `bakeAfterSeconds` always written).
    pub fn to_document(&self) -> Value {
        let mut routing = Map::new();
        routing.insert("type".into(), json!(self.routing.type_name()));
        match &self.routing {
            TrafficRouting::AllAtOnce => {}
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => {
                routing.insert(
                    "timeBasedCanary".into(),
                    json!({"canaryPercentage": percentage, "canaryInterval": interval_minutes}),
                );
            }
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => {
                routing.insert(
                    "timeBasedLinear".into(),
                    json!({"linearPercentage": percentage, "linearInterval": interval_minutes}),
                );
            }
            TrafficRouting::Steps(steps) => {
                routing.insert(
                    "steps".into(),
                    Value::Array(
                        steps
                            .iter()
                            .map(|s| json!({"weight": s.weight, "bakeSeconds": s.bake_seconds}))
                            .collect(),
                    ),
                );
            }
        }
        json!({
            "deploymentConfigName": self.name,
            "computePlatform": self.platform.as_str(),
            "trafficRoutingConfig": Value::Object(routing),
            "bakeAfterSeconds": self.bake_after_seconds,
        })
    }
}

impl Serialize for DeploymentConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_document().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeploymentConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DeploymentConfig::from_document(&value).map_err(de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// Document walking

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A member, with `null` treated as absent.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn required<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a Value, ConfigError> {
    get(map, key).ok_or_else(|| ConfigError::invalid(join(path, key), "is required"))
}

fn check_keys(map: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(ConfigError::invalid(
            join(path, key),
            unknown_key_message(key, allowed),
        )),
    }
}

/// "is not a known key; allowed: a, b, c" with a did-you-mean when one is close.
pub(crate) fn unknown_key_message(key: &str, allowed: &[&str]) -> String {
    let mut message = format!("is not a known key; allowed: {}", allowed.join(", "));
    if let Some(best) = suggest(key, allowed, 1).first() {
        message.push_str(&format!(" (did you mean {best}?)"));
    }
    message
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or_else(|| {
        ConfigError::invalid(field, format!("must be a string, not {}", type_name(v)))
    })
}

fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| {
        ConfigError::invalid(
            field,
            format!("must be an object (mapping), not {}", type_name(v)),
        )
    })
}

/// A whole number (10 or 10.0), or an error saying it must be one.
fn whole_number(v: &Value, field: &str) -> Result<i128, ConfigError> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 {
                    // Saturating cast; huge values are reported as out of range.
                    Ok(f as i128)
                } else {
                    Err(ConfigError::invalid(
                        field,
                        format!("must be a whole number, not {n}"),
                    ))
                }
            }
        }
        Value::String(s) => Err(ConfigError::invalid(
            field,
            format!("must be a whole number, not a string ({s:?}); write it without quotes"),
        )),
        other => Err(ConfigError::invalid(
            field,
            format!("must be a whole number, not {}", type_name(other)),
        )),
    }
}

/// A whole number in `lo..=hi`.
fn number_in(
    map: &Map<String, Value>,
    path: &str,
    key: &str,
    lo: i128,
    hi: i128,
    unit: Option<&str>,
) -> Result<i128, ConfigError> {
    let field = join(path, key);
    let n = whole_number(required(map, path, key)?, &field)?;
    if n == 100 && hi == 99 {
        // Same message as validation gives for percentages.
        check_percentage(&field, 100)?;
    }
    check_range(&field, n, lo, hi, unit)?;
    Ok(n)
}

const ROUTING_TYPES: [&str; 4] = ["TimeBasedCanary", "TimeBasedLinear", "AllAtOnce", "Steps"];
const ROUTING_MEMBERS: [(&str, &str); 3] = [
    ("TimeBasedCanary", "timeBasedCanary"),
    ("TimeBasedLinear", "timeBasedLinear"),
    ("Steps", "steps"),
];

fn parse_routing(v: &Value) -> Result<TrafficRouting, ConfigError> {
    let path = "trafficRoutingConfig";
    let map = as_object(v, path)?;
    check_keys(
        map,
        path,
        &["type", "timeBasedCanary", "timeBasedLinear", "steps"],
    )?;
    let type_field = join(path, "type");
    let kind = as_str(required(map, path, "type")?, &type_field)?;
    if !ROUTING_TYPES.contains(&kind) {
        let mut message = format!(
            "{kind:?} is not a traffic routing type; use {}",
            ROUTING_TYPES.join(", ")
        );
        if let Some(best) = suggest(kind, &ROUTING_TYPES, 1).first() {
            message.push_str(&format!(" (did you mean {best}?)"));
        }
        return Err(ConfigError::invalid(type_field, message));
    }
    // Only the member matching `type` may be present.
    for (member_type, member) in ROUTING_MEMBERS {
        if member_type != kind && get(map, member).is_some() {
            let expected = ROUTING_MEMBERS
                .iter()
                .find(|(t, _)| *t == kind)
                .map(|(_, m)| format!("only {m} may be given"))
                .unwrap_or_else(|| "no other member may be given".to_string());
            return Err(ConfigError::invalid(
                join(path, member),
                format!("is not allowed with type {kind}; {expected}"),
            ));
        }
    }
    let minutes_max = i128::from(MAX_SHIFTING_MINUTES);
    match kind {
        "AllAtOnce" => Ok(TrafficRouting::AllAtOnce),
        "TimeBasedCanary" | "TimeBasedLinear" => {
            let (member, pct_key, int_key) = if kind == "TimeBasedCanary" {
                ("timeBasedCanary", "canaryPercentage", "canaryInterval")
            } else {
                ("timeBasedLinear", "linearPercentage", "linearInterval")
            };
            let member_path = join(path, member);
            let m = as_object(required(map, path, member)?, &member_path)?;
            check_keys(m, &member_path, &[pct_key, int_key])?;
            let percentage = number_in(m, &member_path, pct_key, 1, 99, None)? as u8;
            let interval_minutes =
                number_in(m, &member_path, int_key, 1, minutes_max, Some("of minutes"))? as u32;
            Ok(if kind == "TimeBasedCanary" {
                TrafficRouting::TimeBasedCanary {
                    percentage,
                    interval_minutes,
                }
            } else {
                TrafficRouting::TimeBasedLinear {
                    percentage,
                    interval_minutes,
                }
            })
        }
        _ => {
            let steps_path = join(path, "steps");
            let list = required(map, path, "steps")?;
            let items = list.as_array().ok_or_else(|| {
                ConfigError::invalid(
                    &steps_path,
                    format!(
                        "must be a list of {{weight, bakeSeconds}} steps, not {}",
                        type_name(list)
                    ),
                )
            })?;
            if items.len() > MAX_STEPS {
                return Err(ConfigError::invalid(
                    steps_path,
                    format!(
                        "{} steps given; at most {MAX_STEPS} are allowed",
                        items.len()
                    ),
                ));
            }
            let mut steps = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{steps_path}[{i}]");
                let m = as_object(item, &item_path)?;
                check_keys(m, &item_path, &["weight", "bakeSeconds"])?;
                let weight = number_in(m, &item_path, "weight", 1, 100, None)? as u8;
                let bake_seconds = number_in(
                    m,
                    &item_path,
                    "bakeSeconds",
                    0,
                    i128::from(MAX_SHIFTING_SECONDS),
                    Some("of seconds"),
                )? as u64;
                steps.push(StepSpec {
                    weight,
                    bake_seconds,
                });
            }
            Ok(TrafficRouting::Steps(steps))
        }
    }
}
