//! Remote mode: `deploy`, `status`, `stop`, `continue` and `list` through the deployed
//! `start` and `control` functions, named by a flag, its environment variable or the
//! outputs of the stack `sam deploy` created.

use crate::{Failure, EXIT_ENDED_BADLY, EXIT_REFUSED};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use cutover_aws::functions::{is_failure_code, ControlInput, QueryInput};
use cutover_aws::StartRequest;
use serde_json::Value;
use std::collections::BTreeMap;

/// The deployed functions the CLI calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Validates, records and starts a deployment.
    Start,
    /// Stop and continue (and, on stacks without a query function, status and list).
    Control,
    /// Status and list, read-only.
    Query,
}

impl Role {
    /// The flag that names the function.
    pub(crate) const fn flag(self) -> &'static str {
        match self {
            Role::Start => "--start-function",
            Role::Control => "--control-function",
            Role::Query => "--query-function",
        }
    }

    /// The environment variable that names the function.
    pub(crate) const fn env(self) -> &'static str {
        match self {
            Role::Start => "CUTOVER_START_FUNCTION",
            Role::Control => "CUTOVER_CONTROL_FUNCTION",
            Role::Query => "CUTOVER_QUERY_FUNCTION",
        }
    }

    /// The stack output that names the function.
    pub(crate) const fn output(self) -> &'static str {
        match self {
            Role::Start => "StartFunctionName",
            Role::Control => "ControlFunctionName",
            Role::Query => "QueryFunctionName",
        }
    }

    const fn word(self) -> &'static str {
        match self {
            Role::Start => "start",
            Role::Control => "control",
            Role::Query => "query",
        }
    }
}

/// A deployed function, and the setting that named it, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Function {
    pub(crate) role: Role,
    /// Function name or ARN (a qualified one too).
    pub(crate) name: String,
    /// `--start-function`, `CUTOVER_CONTROL_FUNCTION`, `output StartFunctionName of stack S`.
    pub(crate) named_by: String,
}

impl Function {
    fn label(&self) -> String {
        format!(
            "the {} function {} (named by {})",
            self.role.word(),
            self.name,
            self.named_by
        )
    }
}

/// A stack's outputs, by key.
pub(crate) type Outputs = BTreeMap<String, String>;

/// One output of a stack, or an error that names the stack and the missing output.
pub(crate) fn stack_output<'a>(
    stack: &str,
    outputs: &'a Outputs,
    key: &str,
) -> Result<&'a str, Failure> {
    match outputs.get(key) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Failure {
            code: EXIT_REFUSED,
            error_code: "StackOutputMissing".into(),
            message: format!(
                "--stack {stack}: the stack has no output {key} (its outputs: {}); deploy \
                 Cutover's current template.yaml to it with `sam deploy`, or check the stack name",
                if outputs.is_empty() {
                    "none".to_string()
                } else {
                    outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        }),
    }
}

/// The function for `role`: the one a flag or its variable names, else the stack's output.
pub(crate) fn pick(
    role: Role,
    given: Option<Function>,
    stack: Option<(&str, &Outputs)>,
) -> Result<Function, Failure> {
    if let Some(f) = given {
        return Ok(f);
    }
    match stack {
        Some((name, outputs)) => Ok(Function {
            role,
            name: stack_output(name, outputs, role.output())?.to_string(),
            named_by: format!("output {} of stack {name}", role.output()),
        }),
        None => Err(not_configured(role)),
    }
}

/// The refusal when nothing names the function: it teaches the three ways out.
pub(crate) fn not_configured(role: Role) -> Failure {
    Failure {
        code: EXIT_REFUSED,
        error_code: "NoFunction".into(),
        message: format!(
            "without --local, this command goes through Cutover's deployed {} function, and \
             nothing names it: pass --stack NAME (the stack name you gave `sam deploy`; \
             or set CUTOVER_STACK), or set {} to the function names, or add --local to work \
             on the DynamoDB table from this machine",
            role.word(),
            match role {
                Role::Start => "CUTOVER_START_FUNCTION and CUTOVER_CONTROL_FUNCTION",
                Role::Control => "CUTOVER_CONTROL_FUNCTION (and CUTOVER_START_FUNCTION for deploy)",
                Role::Query => "CUTOVER_QUERY_FUNCTION (or CUTOVER_CONTROL_FUNCTION)",
            }
        ),
    }
}

/// Reads a stack's outputs with CloudFormation `DescribeStacks`.
pub(crate) async fn describe_stack(
    cf: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<Outputs, Failure> {
    let res = cf.describe_stacks().stack_name(stack).send().await;
    let out = match res {
        Ok(out) => out,
        Err(e) => {
            // CloudFormation answers a missing stack with a plain ValidationError.
            let missing = aws_sdk_cloudformation::error::ProvideErrorMetadata::code(&e)
                == Some("ValidationError");
            let e = cutover_aws::Error::aws("CloudFormation", "DescribeStacks", &e);
            return Err(if missing {
                Failure {
                    code: EXIT_REFUSED,
                    error_code: "StackNotFound".into(),
                    message: format!(
                        "--stack {stack}: no such stack in this account and region ({e}); \
                         give the stack name you passed to `sam deploy` (see `sam list \
                         stack-outputs`), and check AWS_REGION / AWS_PROFILE"
                    ),
                }
            } else {
                Failure {
                    code: if e.is_retryable() {
                        EXIT_ENDED_BADLY
                    } else {
                        EXIT_REFUSED
                    },
                    error_code: e.code().into(),
                    message: format!("--stack {stack}: cannot read the stack's outputs: {e}"),
                }
            });
        }
    };
    Ok(out
        .stacks()
        .iter()
        .flat_map(|s| s.outputs())
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}

/// Whether a function error's `errorType` is one of Cutover's error codes
/// (`cutover_aws::Error::code`, `InvalidAppSpec`, `AwsError`, ...) rather than the Lambda
/// runtime's own (`Runtime.ExitError`, `Sandbox.Timedout`, a panic's type name).
pub(crate) fn is_cutover_code(code: &str) -> bool {
    code.starts_with(|c: char| c.is_ascii_uppercase())
        && code.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What an Invoke answered: the function's result, or its error as a [`Failure`]. As in
/// local mode, a refusal exits 2 and a failure 1, and every error of `start` exits 2; a
/// function that crashed or timed out is a failure (1): what it did is not known.
pub(crate) fn answer(
    f: &Function,
    function_error: Option<&str>,
    payload: &[u8],
) -> Result<Value, Failure> {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    let Some(_) = function_error else {
        return parsed.ok_or_else(|| Failure {
            code: EXIT_ENDED_BADLY,
            error_code: "FunctionError".into(),
            message: format!(
                "{} answered with something that is not JSON: {}",
                f.label(),
                excerpt(payload)
            ),
        });
    };
    let text = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[key].as_str())
            .map(str::to_string)
    };
    let (kind, message) = (text("errorType"), text("errorMessage"));
    match (kind, message) {
        // A start that errs leaves nothing running (the start function ends what it
        // recorded when the state machine cannot take it): refused, as in local mode.
        (Some(kind), Some(message)) if is_cutover_code(&kind) => Err(Failure {
            code: if f.role != Role::Start && is_failure_code(&kind) {
                EXIT_ENDED_BADLY
            } else {
                EXIT_REFUSED
            },
            error_code: kind,
            message,
        }),
        (kind, message) => Err(Failure {
            code: EXIT_ENDED_BADLY,
            error_code: "FunctionError".into(),
            message: format!(
                "{} failed: {}{}",
                f.label(),
                kind.map(|k| format!("{k}: ")).unwrap_or_default(),
                message.unwrap_or_else(|| excerpt(payload))
            ),
        }),
    }
}

fn excerpt(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.into_owned(),
    }
}

/// The deployed functions, and the Lambda client that invokes them.
pub(crate) struct Remote {
    lambda: aws_sdk_lambda::Client,
    start: Result<Function, Failure>,
    control: Result<Function, Failure>,
    query: Option<Function>,
}

impl Remote {
    /// A client for the functions as resolved; a function that could not be resolved
    /// fails the first call that needs it. Without a query function (a stack made before
    /// it existed), reads go to the control function.
    pub(crate) fn new(
        lambda: aws_sdk_lambda::Client,
        start: Result<Function, Failure>,
        control: Result<Function, Failure>,
        query: Option<Function>,
    ) -> Remote {
        Remote {
            lambda,
            start,
            control,
            query,
        }
    }

    /// Whether the control function is known (deploy without --wait can do without it).
    pub(crate) fn has_control(&self) -> bool {
        self.control.is_ok()
    }

    /// Why a function is not known, if it is not.
    pub(crate) fn check(&self, role: Role) -> Result<(), Failure> {
        let f = match role {
            Role::Start => &self.start,
            Role::Control => &self.control,
            Role::Query if self.query.is_some() => return Ok(()),
            Role::Query => &self.control,
        };
        f.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    async fn invoke(&self, f: &Function, payload: &Value) -> Result<Value, Failure> {
        let res = self
            .lambda
            .invoke()
            .function_name(&f.name)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await;
        match res {
            Ok(out) => answer(
                f,
                out.function_error(),
                out.payload().map(|b| b.as_ref()).unwrap_or_default(),
            ),
            Err(e) => {
                let e = cutover_aws::Error::aws("Lambda", "Invoke", &e);
                // Not found, access denied, a bad name: nothing ran, fix the setting (2).
                // Throttled, timed out, unreachable: a failure of the moment (1).
                Err(Failure {
                    code: if e.is_retryable() {
                        EXIT_ENDED_BADLY
                    } else {
                        EXIT_REFUSED
                    },
                    error_code: e.code().into(),
                    message: format!("cannot invoke {}: {e}", f.label()),
                })
            }
        }
    }

    /// Invokes `start`; answers `{"deploymentId", "status"}`. A start function of an
    /// earlier version refuses the caller identity (`requestedBy`, a field it does not
    /// know): the request is made again without it, as that version would record nothing
    /// of it anyway.
    pub(crate) async fn start(&self, req: &StartRequest) -> Result<Value, Failure> {
        let f = self.start.as_ref().map_err(Clone::clone)?;
        match self.invoke(f, &request(req, "start")?).await {
            Err(e) if req.requested_by.is_some() && e.message.contains("`requestedBy`") => {
                let older = StartRequest {
                    requested_by: None,
                    ..req.clone()
                };
                self.invoke(f, &request(&older, "start")?).await
            }
            other => other,
        }
    }

    /// Invokes `control`; answers a deployment summary.
    pub(crate) async fn control(&self, input: &ControlInput) -> Result<Value, Failure> {
        let f = self.control.as_ref().map_err(Clone::clone)?;
        self.invoke(f, &request(input, "control")?).await
    }

    /// Invokes `query` (or, without one, `control`); answers a deployment summary for
    /// `status`, `{"deployments", "nextToken"}` for `list`.
    pub(crate) async fn query(&self, input: &QueryInput) -> Result<Value, Failure> {
        if let Some(f) = &self.query {
            return self.invoke(f, &request(input, "query")?).await;
        }
        match input {
            QueryInput::Status { deployment_id } => {
                self.control(&ControlInput::Status {
                    deployment_id: deployment_id.clone(),
                })
                .await
            }
            // A control function of an earlier version answers every deployment at once: the
            // first `limit` are the page, and there is no next one to ask for.
            QueryInput::List {
                active,
                limit,
                next_token,
            } => {
                if next_token.is_some() {
                    return Err(Failure {
                        code: EXIT_REFUSED,
                        error_code: "InvalidNextToken".into(),
                        message: "--next-token: this stack has no query function (QueryFunctionName), and its control function lists every deployment at once; update the stack, or leave --next-token out".into(),
                    });
                }
                let all = self
                    .control(&ControlInput::List { active: *active })
                    .await?;
                let mut all = match all {
                    Value::Array(all) => all,
                    other => {
                        return Ok(serde_json::json!({"deployments": other, "nextToken": null}))
                    }
                };
                all.truncate(limit.unwrap_or(usize::MAX));
                Ok(serde_json::json!({"deployments": all, "nextToken": null}))
            }
        }
    }
}

/// A function's input as JSON.
fn request(input: &impl serde::Serialize, what: &str) -> Result<Value, Failure> {
    serde_json::to_value(input).map_err(|e| Failure {
        code: EXIT_REFUSED,
        error_code: "InvalidInput".into(),
        message: format!("cannot write the {what} request: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn control(named_by: &str) -> Function {
        Function {
            role: Role::Control,
            name: "cutover-ControlFunction-ABC".into(),
            named_by: named_by.into(),
        }
    }

    fn outputs(pairs: &[(&str, &str)]) -> Outputs {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_flag_or_variable_wins_over_the_stack() {
        let out = outputs(&[
            ("StartFunctionName", "stack-start"),
            ("ControlFunctionName", "stack-control"),
        ]);
        let given = Function {
            role: Role::Start,
            name: "my-start".into(),
            named_by: "CUTOVER_START_FUNCTION".into(),
        };
        let f = pick(Role::Start, Some(given.clone()), Some(("cutover", &out))).unwrap();
        assert_eq!(f, given);
        let f = pick(Role::Control, None, Some(("cutover", &out))).unwrap();
        assert_eq!(f.name, "stack-control");
        assert_eq!(f.named_by, "output ControlFunctionName of stack cutover");
        let f = pick(Role::Start, None, Some(("cutover", &out))).unwrap();
        assert_eq!(f.name, "stack-start");
    }

    #[test]
    fn a_missing_output_names_the_stack_and_the_output() {
        let out = outputs(&[("TableName", "cutover-Table-1")]);
        let e = pick(Role::Control, None, Some(("prod-cutover", &out))).unwrap_err();
        assert_eq!(e.code, EXIT_REFUSED);
        assert_eq!(e.error_code, "StackOutputMissing");
        assert!(e.message.contains("prod-cutover"), "{}", e.message);
        assert!(e.message.contains("ControlFunctionName"), "{}", e.message);
        assert!(e.message.contains("TableName"), "{}", e.message);
        let empty = outputs(&[("StartFunctionName", "")]);
        assert!(pick(Role::Start, None, Some(("s", &empty))).is_err());
    }

    #[test]
    fn nothing_configured_teaches_the_three_ways() {
        let e = pick(Role::Start, None, None).unwrap_err();
        assert_eq!(e.code, EXIT_REFUSED);
        for needle in [
            "--stack",
            "sam deploy",
            "CUTOVER_START_FUNCTION",
            "CUTOVER_CONTROL_FUNCTION",
            "--local",
        ] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn a_result_is_the_payload() {
        let v = answer(
            &control("--control-function"),
            None,
            br#"{"deploymentId":"d-ABCDEFGHI","status":"Created"}"#,
        )
        .unwrap();
        assert_eq!(v["status"], "Created");
        let e = answer(&control("--control-function"), None, b"<html>").unwrap_err();
        assert_eq!(e.code, EXIT_ENDED_BADLY);
        assert!(
            e.message.contains("cutover-ControlFunction-ABC"),
            "{}",
            e.message
        );
    }

    #[test]
    fn cutover_errors_keep_their_code_and_exit_code() {
        let f = control("CUTOVER_CONTROL_FUNCTION");
        let refusal = json!({"errorType": "DeploymentNotFound", "errorMessage": "deployment d-AAAAAAAAA not found"});
        let e = answer(&f, Some("Unhandled"), refusal.to_string().as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.error_code.as_str(), e.message.as_str()),
            (
                EXIT_REFUSED,
                "DeploymentNotFound",
                "deployment d-AAAAAAAAA not found"
            )
        );
        for (kind, exit) in [
            ("AwsError", EXIT_ENDED_BADLY),
            ("Conflict", EXIT_ENDED_BADLY),
            ("CorruptRecord", EXIT_ENDED_BADLY),
            ("NothingToContinue", EXIT_REFUSED),
            ("InvalidAppSpec", EXIT_REFUSED),
            ("DeploymentInProgress", EXIT_REFUSED),
        ] {
            let payload = json!({"errorType": kind, "errorMessage": "m"}).to_string();
            let e = answer(&f, Some("Handled"), payload.as_bytes()).unwrap_err();
            assert_eq!((e.code, e.error_code.as_str()), (exit, kind));
        }
    }

    #[test]
    fn a_start_that_errs_is_refused_unless_it_crashed() {
        let f = Function {
            role: Role::Start,
            name: "cutover-StartFunction-XYZ".into(),
            named_by: "--start-function".into(),
        };
        for kind in ["AwsError", "InvalidAppSpec", "DeploymentInProgress"] {
            let payload = json!({"errorType": kind, "errorMessage": "m"}).to_string();
            let e = answer(&f, Some("Unhandled"), payload.as_bytes()).unwrap_err();
            assert_eq!((e.code, e.error_code.as_str()), (EXIT_REFUSED, kind));
        }
        let crash = json!({"errorType": "Sandbox.Timedout", "errorMessage": "timed out"});
        let e = answer(&f, Some("Unhandled"), crash.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.code, EXIT_ENDED_BADLY);
        assert!(e.message.contains("--start-function"), "{}", e.message);
    }

    #[test]
    fn runtime_errors_are_failures_that_name_the_function_and_its_setting() {
        let f = control("output ControlFunctionName of stack cutover");
        for payload in [
            json!({"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 30.00 seconds"}).to_string(),
            json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 101"}).to_string(),
            json!({"errorType": "&str", "errorMessage": "panicked"}).to_string(),
            json!({"errorMessage": "no type"}).to_string(),
            "not json".to_string(),
        ] {
            let e = answer(&f, Some("Unhandled"), payload.as_bytes()).unwrap_err();
            assert_eq!(e.code, EXIT_ENDED_BADLY, "{payload}");
            assert_eq!(e.error_code, "FunctionError");
            assert!(
                e.message.contains("cutover-ControlFunction-ABC")
                    && e.message.contains("stack cutover"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn control_inputs_are_what_the_control_function_reads() {
        let stop = serde_json::to_value(ControlInput::Stop {
            requested_by: None,
            deployment_id: "d-ABCDEFGHI".into(),
            rollback: Some(true),
            force: false,
            from_driver: false,
        })
        .unwrap();
        assert_eq!(
            stop,
            json!({"action": "stop", "deploymentId": "d-ABCDEFGHI", "rollback": true, "force": false})
        );
        let drive = serde_json::to_value(ControlInput::Drive {
            deployment_id: "d-ABCDEFGHI".into(),
        })
        .unwrap();
        assert_eq!(
            drive,
            json!({"action": "drive", "deploymentId": "d-ABCDEFGHI"})
        );
        let list = serde_json::to_value(ControlInput::List { active: true }).unwrap();
        assert_eq!(list, json!({"action": "list", "active": true}));
    }
}
