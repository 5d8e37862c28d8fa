//! Lambda: the alias traffic router, the pre-flight checks and the hook invoker.

use crate::error::{Error, Result};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, InvocationType};
use aws_sdk_lambda::Client;
use cutover_core::model::{AliasView, HookResponse, LambdaTarget};
use lambda_runtime::tracing;
use std::collections::HashMap;

const SVC: &str = "Lambda";

/// How long a synchronous hook invocation may take: Lambda's 15-minute limit and half a
/// minute for the call (within the 16-minute claim the engine saves before it).
pub const HOOK_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60 + 30);

/// Largest hook answer read, in bytes; a bigger one is treated as no verdict.
pub const MAX_HOOK_ANSWER: usize = 64 * 1024;

/// The alias as read, with the revision to pass back on update.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasState {
    /// What the engine sees.
    pub view: AliasView,
    /// Lambda's revision id of the alias.
    pub revision_id: Option<String>,
}

/// What an alias update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// Applied; the alias's new RevisionId.
    Applied(Option<String>),
    /// Refused by the precondition: the alias is no longer at the revision the decision
    /// saw. Nothing was changed.
    Stale,
}

/// Moves Lambda aliases and invokes hooks.
#[derive(Debug, Clone)]
pub struct LambdaRouter {
    client: Client,
    allowed_hooks: Vec<String>,
}

/// Whether `name` matches an IAM-style pattern: `*` any run of characters, `?` one.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer wildcard match with one backtrack point.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// The function name in a function reference: a name, `name:qualifier`, a partial ARN
/// (`123456789012:function:name`) or a full ARN.
pub fn function_name(reference: &str) -> &str {
    let rest = match reference.find("function:") {
        Some(i) => &reference[i + "function:".len()..],
        None => reference,
    };
    rest.split(':').next().unwrap_or(rest)
}

fn is_not_found<E: aws_sdk_lambda::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ResourceNotFoundException")
}

impl LambdaRouter {
    /// A router on a Lambda client.
    pub fn new(client: Client) -> LambdaRouter {
        LambdaRouter {
            client,
            allowed_hooks: Vec::new(),
        }
    }

    /// Only lets deployments use hook functions whose names match one of these patterns
    /// (the stack's `AllowedHookFunctions`, which its IAM policy grants); empty allows any.
    pub fn with_allowed_hooks(mut self, patterns: Vec<String>) -> LambdaRouter {
        self.allowed_hooks = patterns;
        self
    }

    /// Reads the alias.
    pub async fn read_alias(&self, target: &LambdaTarget) -> Result<AliasState> {
        let out = self
            .client
            .get_alias()
            .function_name(&target.function)
            .name(&target.alias)
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "GetAlias", &e))?;
        let additional = out
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .and_then(|m| m.iter().next())
            .map(|(v, w)| (v.clone(), *w));
        Ok(AliasState {
            view: AliasView {
                version: out.function_version().unwrap_or_default().to_string(),
                additional,
            },
            revision_id: out.revision_id().map(str::to_string),
        })
    }

    /// Sets the alias to `weight` % on the target version (absolute, so repeating it is
    /// harmless). 0 and 100 leave no routing config. The update carries `revision`, the
    /// alias's RevisionId the decision was made on, as Lambda's precondition: if anyone
    /// (a person, another tool, a stale tick of Cutover's own) changed the alias since, the
    /// update is refused and nothing is overwritten ([`Routed::Stale`]); the next decision
    /// reads the alias again. Nothing is read here: the decision saw the alias.
    pub async fn route(
        &self,
        target: &LambdaTarget,
        weight: u8,
        revision: Option<&str>,
    ) -> Result<Routed> {
        if weight > 100 {
            return Err(Error::refused(
                "InvalidWeight",
                format!("weight {weight} is over 100"),
            ));
        }
        let (version, weights): (&str, HashMap<String, f64>) = match weight {
            0 => (&target.current_version, HashMap::new()),
            100 => (&target.target_version, HashMap::new()),
            w => (
                &target.current_version,
                HashMap::from([(target.target_version.clone(), f64::from(w) / 100.0)]),
            ),
        };
        let routing = AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(weights))
            .build();
        let out = self
            .client
            .update_alias()
            .function_name(&target.function)
            .name(&target.alias)
            .function_version(version)
            .routing_config(routing)
            .set_revision_id(revision.map(str::to_string))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Routed::Applied(o.revision_id().map(str::to_string))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_precondition_failed_exception()) =>
            {
                tracing::info!(
                    alias = %target.alias,
                    revision = revision.unwrap_or("-"),
                    "alias changed since the decision; update not applied, reading it again"
                );
                Ok(Routed::Stale)
            }
            Err(e) => Err(Error::aws(SVC, "UpdateAlias", &e)),
        }
    }

    /// Checks, before anything changes, that the function and both versions exist (published
    /// versions, sharing role and dead-letter settings), and that the alias points at the
    /// current version with no extra weights.
    /// Returns the alias's RevisionId as checked: the deployment's first fence.
    pub async fn preflight(&self, target: &LambdaTarget) -> Result<Option<String>> {
        let f = &target.function;
        match self.client.get_function_configuration().function_name(f).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {
                return Err(Error::refused(
                    "FunctionNotFound",
                    format!("Resources[0].Properties.Name: function {f} does not exist in this account and region"),
                ))
            }
            Err(e) => return Err(Error::aws(SVC, "GetFunctionConfiguration", &e)),
        }
        let mut versions: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_versions_by_function()
                .function_name(f)
                .set_marker(marker.take())
                .send()
                .await;
            let page = match page {
                Ok(p) => p,
                Err(e) if e.as_service_error().is_some_and(is_not_found) => {
                    return Err(Error::refused(
                        "FunctionNotFound",
                        format!("Resources[0].Properties.Name: function {f} does not exist in this account and region"),
                    ))
                }
                Err(e) => return Err(Error::aws(SVC, "ListVersionsByFunction", &e)),
            };
            for v in page.versions() {
                if let Some(num) = v.version() {
                    let dlq = v
                        .dead_letter_config()
                        .and_then(|d| d.target_arn())
                        .map(str::to_string);
                    versions.insert(num.to_string(), (v.role().map(str::to_string), dlq));
                }
            }
            match page.next_marker() {
                Some(m) if !m.is_empty() => marker = Some(m.to_string()),
                _ => break,
            }
        }
        let mut published: Vec<u64> = versions.keys().filter_map(|v| v.parse().ok()).collect();
        published.sort_unstable();
        let list = if published.is_empty() {
            "none — publish one with `aws lambda publish-version`".to_string()
        } else {
            published
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (field, v) in [
            ("CurrentVersion", &target.current_version),
            ("TargetVersion", &target.target_version),
        ] {
            if !versions.contains_key(v.as_str()) {
                return Err(Error::refused(
                    "VersionNotFound",
                    format!("Resources[0].Properties.{field}: version {v} of function {f} does not exist; published versions: {list}"),
                ));
            }
        }
        let cur = &versions[target.current_version.as_str()];
        let tgt = &versions[target.target_version.as_str()];
        if cur.0 != tgt.0 {
            return Err(Error::refused(
                "VersionsIncompatible",
                format!(
                    "versions {} and {} of {f} use different execution roles ({} vs {}); an alias can only split traffic between versions with the same role",
                    target.current_version,
                    target.target_version,
                    cur.0.as_deref().unwrap_or("none"),
                    tgt.0.as_deref().unwrap_or("none")
                ),
            ));
        }
        if cur.1 != tgt.1 {
            return Err(Error::refused(
                "VersionsIncompatible",
                format!(
                    "versions {} and {} of {f} have different dead-letter queues; an alias can only split traffic between versions with the same DLQ setting",
                    target.current_version, target.target_version
                ),
            ));
        }
        let (alias, revision) = match self.read_alias(target).await {
            Ok(a) => (a.view, a.revision_id),
            Err(Error::Aws { message, .. }) if message.starts_with("ResourceNotFoundException") => {
                return Err(Error::refused(
                    "AliasNotFound",
                    format!(
                        "Resources[0].Properties.Alias: alias {} does not exist on function {f}; create it on the current version first: aws lambda create-alias --function-name {f} --name {} --function-version {}",
                        target.alias, target.alias, target.current_version
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        if alias.version != target.current_version {
            return Err(Error::refused(
                "AliasNotOnCurrentVersion",
                format!(
                    "Resources[0].Properties.CurrentVersion: alias {} points at version {}, not {}; set CurrentVersion to {} (or move the alias back) and deploy again",
                    target.alias, alias.version, target.current_version, alias.version
                ),
            ));
        }
        if let Some((v, w)) = alias.additional {
            return Err(Error::refused(
                "AliasAlreadySplit",
                format!(
                    "alias {} already sends {:.1}% of traffic to version {v}; finish or roll back that shift first (aws lambda update-alias --routing-config '{{}}')",
                    target.alias,
                    w * 100.0
                ),
            ));
        }
        Ok(revision)
    }

    /// Checks that a hook function exists.
    pub async fn check_hook(&self, field: &str, function: &str) -> Result<()> {
        let name = function_name(function);
        if !self.allowed_hooks.is_empty()
            && !self.allowed_hooks.iter().any(|p| matches_pattern(p, name))
        {
            return Err(Error::refused(
                "HookFunctionNotAllowed",
                format!(
                    "{field}: hook function {name} is not one this Cutover stack may invoke (AllowedHookFunctions: {}); name the hook to match, or add it to the stack parameter AllowedHookFunctions and redeploy the stack",
                    self.allowed_hooks.join(",")
                ),
            ));
        }
        match self
            .client
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(is_not_found) => Err(Error::refused(
                "HookFunctionNotFound",
                format!(
                    "{field}: hook function {function} does not exist in this account and region"
                ),
            )),
            Err(e) => Err(Error::aws(SVC, "GetFunctionConfiguration", &e)),
        }
    }

    /// Invokes a hook synchronously and reads its verdict. A function error is a failure;
    /// an answer that is not a verdict means the hook will report later.
    ///
    /// The SDK does not retry this call: a retried Invoke can start the function a second
    /// time while the first still runs. A refusal that comes before the function runs
    /// (throttling) is [`HookResponse::NotInvoked`]; a failure that leaves it unknown
    /// whether it ran (a timeout, a dropped connection, a 5xx) is [`HookResponse::Unknown`],
    /// and the claim stands until it lapses.
    pub async fn invoke_hook(
        &self,
        function: &str,
        payload: &serde_json::Value,
    ) -> Result<HookResponse> {
        let body = serde_json::to_vec(payload).map_err(|e| Error::Corrupt(e.to_string()))?;
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(body))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
                    // A hook runs up to Lambda's 15 minutes; the claim lasts 16.
                    .timeout_config(
                        aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                            .operation_timeout(HOOK_CALL_TIMEOUT)
                            .operation_attempt_timeout(HOOK_CALL_TIMEOUT)
                            .build(),
                    ),
            )
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(is_not_found) => {
                return Ok(HookResponse::FunctionError(format!(
                    "function {function} does not exist"
                )))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_too_many_requests_exception()) =>
            {
                return Ok(HookResponse::NotInvoked(format!(
                    "{function} was throttled"
                )));
            }
            Err(e) => {
                let err = Error::aws(SVC, "Invoke", &e);
                if err.is_retryable() {
                    return Ok(HookResponse::Unknown(err.to_string()));
                }
                return Ok(HookResponse::FunctionError(err.to_string()));
            }
        };
        let bytes = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        if let Some(kind) = out.function_error() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_string();
            return Ok(HookResponse::FunctionError(format!("{kind}: {text}")));
        }
        if bytes.len() > MAX_HOOK_ANSWER {
            return Ok(HookResponse::Deferred);
        }
        Ok(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(v) => HookResponse::from_payload(&v),
            Err(_) => HookResponse::Deferred,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
    use aws_sdk_lambda::operation::update_alias::{UpdateAliasError, UpdateAliasOutput};
    use aws_sdk_lambda::types::error::{PreconditionFailedException, TooManyRequestsException};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[test]
    fn hook_patterns_match_like_iam() {
        for (p, n, want) in [
            ("CodeDeployHook_*", "CodeDeployHook_orders", true),
            ("CodeDeployHook_*", "CodeDeployHook_", true),
            ("CodeDeployHook_*", "codedeployhook_orders", false),
            ("CodeDeployHook_*", "orders-CodeDeployHook_x", false),
            ("*-hook", "orders-pre-hook", true),
            ("*-hook", "orders-hook-2", false),
            ("orders-?-check", "orders-1-check", true),
            ("orders-?-check", "orders-12-check", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(matches_pattern(p, n), want, "{p} ~ {n}");
        }
        for (r, want) in [
            ("orders", "orders"),
            ("orders:live", "orders"),
            ("123456789012:function:orders", "orders"),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:orders:7",
                "orders",
            ),
        ] {
            assert_eq!(function_name(r), want);
        }
    }

    #[tokio::test]
    async fn a_hook_outside_the_allowed_patterns_is_refused_without_a_call() {
        let never = mock!(Client::get_function_configuration).then_output(|| {
            aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput::builder().build()
        });
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&never]);
        let router = LambdaRouter::new(client)
            .with_allowed_hooks(vec!["CodeDeployHook_*".into(), "orders-*".into()]);
        let err = router
            .check_hook(
                "Hooks[0].BeforeAllowTraffic",
                "arn:aws:lambda:us-east-1:123456789012:function:billing-check",
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "HookFunctionNotAllowed");
        let text = err.to_string();
        assert!(
            text.contains("Hooks[0].BeforeAllowTraffic") && text.contains("billing-check"),
            "{text}"
        );
        assert!(text.contains("CodeDeployHook_*,orders-*"), "{text}");
        assert_eq!(never.num_calls(), 0);
        router
            .check_hook("Hooks[0].BeforeAllowTraffic", "orders-check")
            .await
            .unwrap();
        assert_eq!(never.num_calls(), 1);
    }

    fn target() -> LambdaTarget {
        LambdaTarget {
            function: "orders".into(),
            alias: "live".into(),
            current_version: "1".into(),
            target_version: "2".into(),
        }
    }

    fn alias_on(version: &str, revision: &str) -> GetAliasOutput {
        GetAliasOutput::builder()
            .function_version(version)
            .revision_id(revision)
            .build()
    }

    #[tokio::test]
    async fn update_carries_the_decisions_revision_and_a_stale_one_changes_nothing() {
        let stale = mock!(aws_sdk_lambda::Client::update_alias)
            .match_requests(|r| r.revision_id() == Some("rev-7"))
            .then_error(|| {
                UpdateAliasError::PreconditionFailedException(
                    PreconditionFailedException::builder()
                        .message("The Revision Id provided does not match the latest Revision Id")
                        .build(),
                )
            });
        let fresh = mock!(aws_sdk_lambda::Client::update_alias)
            .match_requests(|r| {
                r.revision_id() == Some("rev-8")
                    && r.function_version() == Some("1")
                    && r.routing_config()
                        .and_then(|c| c.additional_version_weights())
                        .and_then(|w| w.get("2"))
                        == Some(&0.1)
            })
            .then_output(|| UpdateAliasOutput::builder().revision_id("rev-9").build());
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&stale, &fresh]);
        let router = LambdaRouter::new(client);
        let refused = router.route(&target(), 10, Some("rev-7")).await.unwrap();
        assert_eq!(refused, Routed::Stale);
        assert_eq!(stale.num_calls(), 1);
        let applied = router.route(&target(), 10, Some("rev-8")).await.unwrap();
        assert_eq!(applied, Routed::Applied(Some("rev-9".into())));
        assert_eq!(fresh.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_update_reads_nothing_first() {
        let get = mock!(aws_sdk_lambda::Client::get_alias).then_output(|| alias_on("5", "rev-1"));
        let update = mock!(aws_sdk_lambda::Client::update_alias)
            .match_requests(|r| {
                r.function_version() == Some("1") && r.revision_id() == Some("rev-1")
            })
            .then_output(|| UpdateAliasOutput::builder().revision_id("rev-2").build());
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get, &update]);
        LambdaRouter::new(client)
            .route(&target(), 0, Some("rev-1"))
            .await
            .unwrap();
        assert_eq!(get.num_calls(), 0, "the decision saw the alias");
        assert_eq!(update.num_calls(), 1);
    }

    #[tokio::test]
    async fn throttling_is_retryable() {
        let get = mock!(aws_sdk_lambda::Client::get_alias).then_error(|| {
            aws_sdk_lambda::operation::get_alias::GetAliasError::TooManyRequestsException(
                TooManyRequestsException::builder()
                    .message("Rate exceeded")
                    // What the deserializer records from the response's error code.
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("TooManyRequestsException")
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&get]);
        let err = LambdaRouter::new(client)
            .read_alias(&target())
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
