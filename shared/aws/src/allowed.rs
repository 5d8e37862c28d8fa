//! Which targets deployments may start for: the stack's `AllowedTargets` parameter, passed
//! to the functions (and read by the CLI's `--local` mode) as `CUTOVER_ALLOWED_TARGETS`.
//!
//! Comma-separated entries: `lambda:FUNCTION` (every alias of the function),
//! `lambda:FUNCTION:ALIAS` and `ecs:CLUSTER/SERVICE`, names only (an ARN in an AppSpec or a
//! group is matched by its last segment); `*` matches any run of characters within a name.
//! Unset or empty: every target (a stack that does not set it trusts whoever can start a
//! deployment). A malformed list refuses every start, naming the entry: a typo must never
//! widen what may be deployed.

use crate::lambda::matches_pattern;
use crate::{Error, Result};
use cutover_core::model::last_segment;

/// The environment variable the list comes in.
pub const ALLOWED_TARGETS_ENV: &str = "CUTOVER_ALLOWED_TARGETS";

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Lambda {
        function: String,
        alias: Option<String>,
    },
    Ecs {
        cluster: String,
        service: String,
    },
}

/// What a start is about to move, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// A Lambda function's alias (name or ARN of the function).
    Lambda {
        /// Function name or ARN.
        function: &'a str,
        /// Alias name.
        alias: &'a str,
    },
    /// An ECS service (names or ARNs).
    Ecs {
        /// Cluster name or ARN.
        cluster: &'a str,
        /// Service name or ARN.
        service: &'a str,
    },
}

impl Wanted<'_> {
    /// As the list spells it: `lambda:orders:live`, `ecs:shop/web`.
    pub fn spelled(&self) -> String {
        match self {
            Wanted::Lambda { function, alias } => {
                format!("lambda:{}:{alias}", function_name(function))
            }
            Wanted::Ecs { cluster, service } => {
                format!("ecs:{}/{}", last_segment(cluster), last_segment(service))
            }
        }
    }
}

/// The allowed targets: `None` inside means every target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTargets {
    list: Option<Result<Vec<Entry>, String>>,
    raw: String,
}

impl AllowedTargets {
    /// Every target.
    pub fn everything() -> AllowedTargets {
        AllowedTargets::default()
    }

    /// Reads [`ALLOWED_TARGETS_ENV`].
    pub fn from_env() -> AllowedTargets {
        AllowedTargets::parse(&std::env::var(ALLOWED_TARGETS_ENV).unwrap_or_default())
    }

    /// Parses a list; empty means every target. A malformed entry is kept as the reason
    /// every start is refused.
    pub fn parse(list: &str) -> AllowedTargets {
        let raw = list.trim().to_string();
        if raw.is_empty() {
            return AllowedTargets::everything();
        }
        let entries = raw
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>, String>>();
        AllowedTargets {
            list: Some(entries),
            raw,
        }
    }

    /// Whether every target is allowed.
    pub fn is_everything(&self) -> bool {
        self.list.is_none()
    }

    /// Refuses `wanted` unless the list allows it (`TargetNotAllowed`, naming the target,
    /// the list and the parameter), or refuses everything when the list is malformed.
    pub fn check(&self, wanted: &Wanted) -> Result<()> {
        let entries = match &self.list {
            None => return Ok(()),
            Some(Err(why)) => {
                return Err(Error::refused(
                    "TargetNotAllowed",
                    format!(
                        "{ALLOWED_TARGETS_ENV} (the stack's AllowedTargets parameter) is malformed: {why}; no deployment starts until it is fixed"
                    ),
                ))
            }
            Some(Ok(entries)) => entries,
        };
        let allowed = entries.iter().any(|e| match (e, wanted) {
            (
                Entry::Lambda { function, alias },
                Wanted::Lambda {
                    function: f,
                    alias: a,
                },
            ) => {
                matches_pattern(function, function_name(f))
                    && alias.as_deref().is_none_or(|p| matches_pattern(p, a))
            }
            (
                Entry::Ecs { cluster, service },
                Wanted::Ecs {
                    cluster: c,
                    service: s,
                },
            ) => {
                matches_pattern(cluster, last_segment(c))
                    && matches_pattern(service, last_segment(s))
            }
            _ => false,
        });
        if allowed {
            return Ok(());
        }
        Err(Error::refused(
            "TargetNotAllowed",
            format!(
                "{} is not an allowed target: {ALLOWED_TARGETS_ENV} is \"{}\"; add it to the stack's AllowedTargets parameter (lambda:FUNCTION[:ALIAS], ecs:CLUSTER/SERVICE, * within a name) to deploy it",
                wanted.spelled(),
                self.raw
            ),
        ))
    }
}

/// A Lambda function's name, from a name, a full ARN (`arn:aws:lambda:...:function:NAME`)
/// or a partial one (`ACCOUNT:function:NAME`).
fn function_name(function: &str) -> &str {
    match function.find("function:") {
        Some(at) => function[at + "function:".len()..]
            .split(':')
            .next()
            .unwrap_or_default(),
        None => function,
    }
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 140
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '*'))
    };
    let bad = |why: &str| {
        format!("entry \"{entry}\" {why}; use lambda:FUNCTION, lambda:FUNCTION:ALIAS or ecs:CLUSTER/SERVICE")
    };
    if let Some(rest) = entry.strip_prefix("lambda:") {
        let mut parts = rest.split(':');
        let function = parts.next().unwrap_or_default();
        let alias = parts.next();
        if parts.next().is_some() || !name_ok(function) || alias.is_some_and(|a| !name_ok(a)) {
            return Err(bad("is not a function name with an optional alias"));
        }
        return Ok(Entry::Lambda {
            function: function.to_string(),
            alias: alias.map(str::to_string),
        });
    }
    if let Some(rest) = entry.strip_prefix("ecs:") {
        let Some((cluster, service)) = rest.split_once('/') else {
            return Err(bad("names no service"));
        };
        if !name_ok(cluster) || !name_ok(service) {
            return Err(bad("is not a cluster and a service name"));
        }
        return Ok(Entry::Ecs {
            cluster: cluster.to_string(),
            service: service.to_string(),
        });
    }
    Err(bad("names no platform"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(list: &str, wanted: &Wanted) -> String {
        match AllowedTargets::parse(list).check(wanted) {
            Err(Error::Refused(r)) => {
                assert_eq!(r.code, "TargetNotAllowed");
                r.message
            }
            other => panic!("{list}: {wanted:?} was not refused: {other:?}"),
        }
    }

    const LIVE: Wanted = Wanted::Lambda {
        function: "orders",
        alias: "live",
    };

    #[test]
    fn entries_allow_their_targets_and_nothing_else() {
        let list = "lambda:orders:live, lambda:billing-*, ecs:shop/web";
        let allowed = AllowedTargets::parse(list);
        allowed.check(&LIVE).unwrap();
        allowed
            .check(&Wanted::Lambda {
                function: "arn:aws:lambda:us-east-1:1:function:billing-api",
                alias: "any",
            })
            .unwrap();
        allowed
            .check(&Wanted::Ecs {
                cluster: "arn:aws:ecs:us-east-1:1:cluster/shop",
                service: "web",
            })
            .unwrap();
        let m = refused(
            list,
            &Wanted::Lambda {
                function: "orders",
                alias: "beta",
            },
        );
        assert!(
            m.contains("lambda:orders:beta is not an allowed target")
                && m.contains(list)
                && m.contains("AllowedTargets"),
            "{m}"
        );
        refused(
            list,
            &Wanted::Ecs {
                cluster: "shop",
                service: "api",
            },
        );
        // A Lambda entry never allows an ECS service of the same name.
        refused(
            "lambda:web",
            &Wanted::Ecs {
                cluster: "web",
                service: "web",
            },
        );
    }

    #[test]
    fn unset_allows_everything_and_a_malformed_list_nothing() {
        assert!(AllowedTargets::parse("  ").is_everything());
        AllowedTargets::parse("").check(&LIVE).unwrap();
        for list in [
            "orders",
            "lambda:a:b:c",
            "ecs:shop",
            "lambda:or ders",
            "lambda:orders, s3:x",
        ] {
            let m = refused(list, &LIVE);
            assert!(
                m.contains("is malformed") && m.contains("entry"),
                "{list}: {m}"
            );
        }
    }
}
