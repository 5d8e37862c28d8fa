//! Lifecycle hooks: the payload, execution ids, the claimed invocation and its answer.

use super::*;

/// The payload a hook receives: CodeDeploy's two fields plus what users asked for.
/// `execution_id` is the one this invocation was given ([`issue_execution_id`]).
pub fn hook_payload(
    dep: &Deployment,
    hook: &HookExecution,
    execution_id: &str,
) -> serde_json::Value {
    let mut payload = serde_json::json!({
        "DeploymentId": dep.id,
        "LifecycleEventHookExecutionId": execution_id,
        "LifecycleEvent": hook.event.as_str(),
        "TrafficWeight": dep.traffic,
    });
    let extra = match &dep.target {
        Target::Lambda(t) => serde_json::json!({
            "FunctionName": t.function,
            "Alias": t.alias,
            "CurrentVersion": t.current_version,
            "TargetVersion": t.target_version,
        }),
        Target::Ecs(t) => serde_json::json!({
            "Cluster": t.cluster,
            "Service": t.service,
            "TaskDefinition": t.resource.task_definition,
            "OriginalTargetGroupArn": t.original_target_group,
            "ReplacementTargetGroupArn": t.replacement_target_group,
            "TestListenerArn": t.test_listener,
            "ReplacementTaskSetArn": replacement(dep).map(|ts| ts.arn.clone()),
        }),
    };
    if let (Some(p), serde_json::Value::Object(e)) = (payload.as_object_mut(), extra) {
        p.extend(e);
    }
    payload
}

/// Gives the claimed invocation of `next`'s running hook the execution id `id` (a fresh
/// random secret the caller made for it): its hash is kept in the hook, so a report with
/// it is accepted. The engine stays free of randomness; whoever sends the invocation makes
/// the id, after [`decide`](super::decide) and before the decision is saved. Returns
/// `false` when no hook is running.
pub fn issue_execution_id(next: &mut Deployment, id: &str) -> bool {
    match next.hook_mut() {
        Some(h) => {
            h.issue(id);
            true
        }
        None => false,
    }
}

/// The call [`Action::InvokeHook`] makes: the running hook's function and payload, with
/// the execution id the invocation was given.
pub fn hook_call(dep: &Deployment, execution_id: &str) -> Option<HookInvocation> {
    dep.hook().map(|h| HookInvocation {
        function: h.function.clone(),
        payload: hook_payload(dep, h, execution_id),
    })
}

pub(super) fn hook_step(c: &mut Ctx, obs: &Observation, mut hook: HookExecution) {
    let now = c.now;
    let auto = c.d.options.auto_rollback;
    let event = hook.event;
    let mut verdict: Option<Result<String, String>> = None;
    if let Some(report) = obs
        .hook_report
        .as_ref()
        .filter(|r| hook.accepts(&r.execution_id))
    {
        verdict = Some(if report.succeeded {
            Ok("hook reported Succeeded".into())
        } else {
            Err(format!("hook {} reported Failed", hook.function))
        });
    } else if let Some(answer) = obs.hook_response.as_ref().filter(|a| {
        hook.accepts(&a.execution_id)
            && a.invocation == hook.invocations
            && hook.in_flight_until.is_some()
    }) {
        // The answer of the claimed invocation (a stale one, of an earlier invocation or of
        // another event, is dropped).
        if !matches!(answer.response, HookResponse::Unknown(_)) {
            hook.in_flight_until = None;
        }
        match &answer.response {
            HookResponse::Succeeded => verdict = Some(Ok("hook returned Succeeded".into())),
            HookResponse::Failed(reason) => {
                verdict = Some(Err(format!(
                    "hook {} returned Failed: {reason}",
                    hook.function
                )))
            }
            HookResponse::FunctionError(err) => {
                verdict = Some(Err(format!(
                    "hook {} raised an error: {err}",
                    hook.function
                )))
            }
            HookResponse::InProgress => {
                hook.next_invoke_at =
                    Some(now + c.d.options.scaled_ms(c.d.options.hook_retry_seconds));
                c.set_detail(
                    event,
                    format!(
                        "hook answered InProgress ({} invocations)",
                        hook.invocations
                    ),
                );
            }
            HookResponse::Unknown(why) => {
                c.set_detail(
                    event,
                    format!(
                        "the answer of {} was lost ({why}); waiting for its report before invoking it again",
                        hook.function
                    ),
                );
            }
            HookResponse::NotInvoked(why) => {
                hook.next_invoke_at =
                    Some(now + c.d.options.scaled_ms(c.d.options.hook_retry_seconds));
                c.set_detail(
                    event,
                    format!(
                        "{} could not be invoked ({why}); trying again",
                        hook.function
                    ),
                );
            }
            HookResponse::Deferred => {
                hook.next_invoke_at = None;
                c.set_detail(event, format!("waiting for {} to report", hook.function));
            }
        }
    } else if hook.in_flight_until.is_some_and(|t| now >= t) {
        // The claimed invocation's answer never came back (its process died): the hook may
        // still report; if it does not, it is invoked again.
        hook.in_flight_until = None;
        hook.next_invoke_at = Some(now);
    }
    match verdict {
        Some(Ok(detail)) => {
            c.set_event(event, EventStatus::Succeeded, Some(detail));
            c.enter_after(Stage::Event(event));
        }
        Some(Err(msg)) => {
            c.fail(
                DeploymentStatus::Failed,
                ErrorCode::HookExecutionFailure,
                msg,
                auto,
            );
        }
        None => {
            let deadline = hook.started_at + c.d.options.hook_timeout_seconds * 1000;
            let function = hook.function.clone();
            if now >= deadline {
                let msg = format!(
                    "{event} hook {function} gave no verdict within {} s",
                    c.d.options.hook_timeout_seconds
                );
                c.fail(DeploymentStatus::Failed, ErrorCode::Timeout, msg, auto);
                return;
            }
            let due =
                hook.in_flight_until.is_none() && hook.next_invoke_at.is_some_and(|t| t <= now);
            if due {
                c.claim_hook(&mut hook);
            }
            c.d.phase = Phase::Hook(hook);
        }
    }
}
