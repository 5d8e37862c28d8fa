//! ECS steps: installing the replacement, the termination wait, removing the original,
//! and the rollback in its safe order.

use super::*;

pub(super) fn installing_step(c: &mut Ctx, obs: &Observation, since: Millis, attempts: u32) {
    let Some(sets) = &obs.task_sets else { return };
    let now = c.now;
    let deadline = since + c.d.options.scaled_ms(c.d.options.install_timeout_seconds);
    let found = sets
        .iter()
        .find(|t| t.external_id.as_deref() == Some(c.d.id.as_str()));
    match found {
        Some(ts) if ts.is_steady() => {
            let detail = format!(
                "task set {} steady: {}/{} tasks running",
                crate::model::last_segment(&ts.arn),
                ts.running,
                ts.desired
            );
            c.set_event(
                LifecycleEvent::Install,
                EventStatus::Succeeded,
                Some(detail),
            );
            c.enter_after(Stage::Event(LifecycleEvent::Install));
        }
        found => {
            let state = match found {
                Some(ts) => format!(
                    "{}/{} tasks running ({})",
                    ts.running, ts.desired, ts.stability
                ),
                None => "not created yet".to_string(),
            };
            if now >= deadline {
                let msg = format!(
                    "the replacement task set did not become steady within {} s ({state}); \
                     production traffic never moved to it",
                    c.d.options.install_timeout_seconds
                );
                let auto = c.d.options.auto_rollback;
                c.fail(
                    DeploymentStatus::Failed,
                    ErrorCode::ReplacementNotSteady,
                    msg,
                    auto,
                );
                return;
            }
            c.set_detail(LifecycleEvent::Install, format!("replacement: {state}"));
            if found.is_none() {
                c.d.phase = Phase::Installing {
                    since,
                    attempts: attempts.saturating_add(1),
                };
                c.actions.push(Action::CreateTaskSet);
            }
        }
    }
}

pub(super) fn terminating_step(c: &mut Ctx, obs: &Observation, until: Millis, continued: bool) {
    let Some(sets) = &obs.task_sets else { return };
    let now = c.now;
    let Some(repl) = sets
        .iter()
        .find(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status != "DRAINING")
    else {
        // The original still exists: put everything back on it rather than delete it.
        let msg = "the replacement task set disappeared during the termination wait".to_string();
        let auto = c.d.options.auto_rollback;
        c.fail(
            DeploymentStatus::Failed,
            ErrorCode::InternalError,
            msg,
            auto,
        );
        return;
    };
    let primary = repl.status == "PRIMARY";
    if !primary {
        // Asked for on entry; a lost or failed call is asked again until it shows.
        c.actions.push(Action::SetPrimary { replacement: true });
        // An early `continue` is kept until the replacement shows PRIMARY.
        c.d.phase = Phase::Terminating { until, continued };
    }
    // `modified` has confirmed production 100 % on the replacement in this observation.
    let on_replacement = obs.listeners.is_some();
    if (continued || now >= until) && primary && on_replacement {
        c.d.phase = Phase::Cleaning { attempts: 1 };
        c.actions.push(Action::DeleteTaskSet { replacement: false });
        c.log.push(if continued {
            match &obs.requested_by {
                Some(who) => format!(
                    "termination wait ended on request, {}: deleting the original task set",
                    crate::text::requested_by(who)
                ),
                None => "termination wait ended on request: deleting the original task set".into(),
            }
        } else {
            "termination wait over: deleting the original task set".into()
        });
    }
}

pub(super) fn cleaning_step(c: &mut Ctx, obs: &Observation, attempts: u32) {
    let Some(sets) = &obs.task_sets else { return };
    let Some(t) = c.ecs().cloned() else { return };
    // ECS keeps a deleted task set DRAINING while its targets deregister: the deletion
    // was accepted, there is nothing more to wait for.
    let original_gone = !sets
        .iter()
        .any(|s| s.arn == t.original_task_set && s.status != "DRAINING");
    let primary = sets
        .iter()
        .any(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status == "PRIMARY");
    if original_gone && primary {
        c.log.push(format!(
            "original task set {} deleted",
            crate::model::last_segment(&t.original_task_set)
        ));
        c.enter_after(Stage::Terminate);
    } else if attempts < MAX_CLEANUP_ATTEMPTS {
        c.d.phase = Phase::Cleaning {
            attempts: attempts + 1,
        };
        if !primary {
            c.actions.push(Action::SetPrimary { replacement: true });
        }
        if !original_gone {
            c.actions.push(Action::DeleteTaskSet { replacement: false });
        }
    } else {
        let msg = format!(
            "all traffic is on the replacement, but the original task set {} could not be \
             removed after {attempts} attempts; delete it by hand",
            t.original_task_set
        );
        c.fail(
            DeploymentStatus::Failed,
            ErrorCode::CleanupFailed,
            msg,
            false,
        );
    }
}

/// ECS rollback, in order: production and test back on the original target group and
/// the original task set primary — only while the original task set is still there —
/// then, once both listeners are confirmed off it, the replacement deleted.
pub(super) fn rolling_back_step(c: &mut Ctx, obs: &Observation, attempts: u32, since: Millis) {
    let Some(t) = c.ecs().cloned() else { return };
    let Some(sets) = &obs.task_sets else { return };
    let prod = traffic_seen(&c.d, obs, 0, false);
    if matches!(prod, Seen::Unread) {
        return;
    }
    if let Seen::Foreign(_, why) = prod {
        return c.rollback_lost(&why);
    }
    let original = sets
        .iter()
        .find(|s| s.arn == t.original_task_set && s.status != "DRAINING");
    let Some(original) = original else {
        let why = format!(
            "the original task set {} no longer exists, so production was not routed back to {}",
            t.original_task_set,
            c.d.target.side(false)
        );
        return c.rollback_lost(&why);
    };
    let prod_back = matches!(prod, Seen::Matches);
    // Someone else's test listener is left as it is; the rest of the rollback goes on.
    let test_back = t.test_listener.is_none()
        || matches!(
            traffic_seen(&c.d, obs, 0, true),
            Seen::Matches | Seen::Foreign(..)
        );
    let primary_back = original.status == "PRIMARY";
    let replacement_left = sets
        .iter()
        .any(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status != "DRAINING");
    let mut actions = Vec::new();
    if !prod_back {
        actions.push(Action::Route { weight: 0 });
    }
    if !test_back {
        actions.push(Action::RouteTest { weight: 0 });
    }
    if !primary_back {
        actions.push(Action::SetPrimary { replacement: false });
    }
    if actions.is_empty() && replacement_left {
        // Nothing routes to the replacement any more (confirmed in this reading).
        actions.push(Action::DeleteTaskSet { replacement: true });
    }
    let settled = c.now >= since + c.d.options.scaled_ms(ECS_SETTLE_SECONDS);
    if actions.is_empty() && settled {
        c.rolled_back();
    } else if actions.is_empty() {
        // Everything shows the rollback; it is confirmed by a reading taken when nothing of
        // an earlier decision can still be in flight (see `wake_after`).
    } else {
        c.retry_rollback(attempts, actions, "the listeners and task sets");
    }
}
