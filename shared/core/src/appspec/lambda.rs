//! The Lambda AppSpec: an `AWS::Lambda::Function` resource, its alias and versions.

use super::*;

/// The `Properties` of an `AWS::Lambda::Function` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaResource {
    /// The resource's logical name in the AppSpec (`myLambdaFunction`).
    pub logical_name: String,
    /// `Name`: the function's name, or its full or partial ARN (unqualified).
    pub name: String,
    /// `Alias`: the alias whose traffic shifts.
    pub alias: String,
    /// `CurrentVersion`: the published version the alias points at now (e.g. `"1"`).
    pub current_version: String,
    /// `TargetVersion`: the published version to shift to (e.g. `"2"`).
    pub target_version: String,
}

impl Walker {
    pub(super) fn lambda(
        &mut self,
        logical: &str,
        props: &Map<String, Value>,
        path: &str,
    ) -> Option<LambdaResource> {
        self.keys(
            props,
            path,
            &["Name", "Alias", "CurrentVersion", "TargetVersion"],
        );
        let name = self
            .required_string(props, path, "Name", " (the function's name or ARN)")
            .and_then(|n| {
                let check = check_function_name(n, false);
                self.report(join(path, "Name"), check)
            });
        let alias = self
            .required_string(
                props,
                path,
                "Alias",
                " (the alias whose traffic shifts, e.g. live)",
            )
            .and_then(|a| {
                let check = check_alias(a);
                self.report(join(path, "Alias"), check)
            });
        let current = self.lambda_version(props, path, "CurrentVersion");
        let target = self.lambda_version(props, path, "TargetVersion");
        if let (Some(c), Some(t)) = (&current, &target) {
            if c == t {
                self.err(
                    join(path, "TargetVersion"),
                    format!(
                        "is the same as CurrentVersion ({c}); the target must be another \
                         published version"
                    ),
                );
            }
        }
        Some(LambdaResource {
            logical_name: logical.to_string(),
            name: name?,
            alias: alias?,
            current_version: current?,
            target_version: target?,
        })
    }

    fn lambda_version(
        &mut self,
        props: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let v = self.required(
            props,
            path,
            key,
            " (a published version number, e.g. \"2\")",
        )?;
        let check = check_version(v);
        self.report(join(path, key), check)
    }
}

fn check_alias(alias: &str) -> Result<String, String> {
    if alias == "$LATEST" {
        return Err(
            "$LATEST is not an alias; use the alias that serves traffic, e.g. live".to_string(),
        );
    }
    if let Some(bad) = alias.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "{alias:?} contains {bad:?}; an alias uses only letters, digits, '-' and '_'"
        ));
    }
    if alias.len() > 128 {
        return Err(format!(
            "is {} characters long; an alias has at most 128",
            alias.len()
        ));
    }
    if alias.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{alias:?} is a number, not an alias name; put versions in CurrentVersion and \
             TargetVersion and the alias name (e.g. live) here"
        ));
    }
    Ok(alias.to_string())
}

/// A published version: a positive whole number, as a string or a number.
fn check_version(v: &Value) -> Result<String, String> {
    let usage = "use a published version number such as \"3\"";
    match v {
        Value::String(s) if s == "$LATEST" => Err(
            "$LATEST cannot be deployed; publish a version (aws lambda publish-version) and use \
             its number"
                .to_string(),
        ),
        Value::String(s) => {
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                match s.parse::<u64>() {
                    Ok(0) => Err(format!(
                        "{s:?} is not a published version; versions start at 1"
                    )),
                    Ok(n) if n.to_string() != *s => Err(format!(
                        "{s:?} is not a published version number; write \"{n}\""
                    )),
                    Ok(n) => Ok(n.to_string()),
                    Err(_) => Err(format!("{s:?} is too large for a version number")),
                }
            } else {
                Err(format!(
                    "{s:?} is not a published version; {usage} (aliases are not versions)"
                ))
            }
        }
        Value::Number(n) => match n.as_u64() {
            Some(0) => Err("0 is not a published version; versions start at 1".to_string()),
            Some(u) => Ok(u.to_string()),
            None => Err(format!("{n} is not a published version; {usage}")),
        },
        other => Err(format!(
            "must be a version number, not {}; {usage}",
            type_name(other)
        )),
    }
}
