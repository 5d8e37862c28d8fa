//! How the traffic as read compares with what Cutover set: confirmation of a weight, and
//! someone else's change.

use super::*;

/// How a traffic reading compares with the weight that was set.
pub(super) enum Seen {
    /// Not read in this observation.
    Unread,
    /// Shows exactly the weight.
    Matches,
    /// Shows another split of the deployment's two sides.
    Differs,
    /// Shows something outside the deployment; the message says what.
    Foreign(ErrorCode, String),
}

/// Compares the production (or the test) traffic as observed with `weight` % on the target.
pub(super) fn traffic_seen(dep: &Deployment, obs: &Observation, weight: u8, test: bool) -> Seen {
    let verdict = |m: Option<bool>, foreign: &dyn Fn() -> (ErrorCode, String)| match m {
        Some(true) => Seen::Matches,
        Some(false) => Seen::Differs,
        None => {
            let (code, msg) = foreign();
            Seen::Foreign(code, msg)
        }
    };
    match &dep.target {
        Target::Lambda(t) => match &obs.alias {
            None => Seen::Unread,
            Some(alias) => verdict(lambda::alias_matches(t, alias, weight), &|| {
                (
                    ErrorCode::AliasModified,
                    format!(
                        "alias {} was changed outside this deployment (now on version {}); \
                         Cutover left it as it is",
                        t.alias, alias.version
                    ),
                )
            }),
        },
        Target::Ecs(t) => {
            let Some(listeners) = &obs.listeners else {
                return Seen::Unread;
            };
            let (arn, view) = if test {
                match (&t.test_listener, &listeners.test) {
                    (Some(arn), Some(v)) => (arn, v),
                    _ => return Seen::Unread,
                }
            } else {
                (&t.production_listener, &listeners.production)
            };
            let on = view.percent_on(&t.original_target_group, &t.replacement_target_group);
            verdict(on.map(|p| (p - f64::from(weight)).abs() < 1e-6), &|| {
                let to: Vec<String> = view
                    .forwards
                    .iter()
                    .map(|(tg, w)| format!("{} weight {w}", crate::model::last_segment(tg)))
                    .collect();
                (
                    ErrorCode::ListenerModified,
                    format!(
                        "listener {arn} was changed outside this deployment (forwards to {}); \
                         Cutover left it as it is",
                        to.join(", ")
                    ),
                )
            })
        }
    }
}

/// Whether someone other than Cutover changed the production traffic since Cutover last
/// set it: the code and message to stop with, touching nothing more. Lambda: the alias
/// shows another revision than the one Cutover last knew (its own update showing the
/// weight being set is the one exception), or a version outside the deployment. ECS: the
/// production listener forwards elsewhere, or another split than the one Cutover set.
/// A rollback is judged by its own step.
pub(super) fn modified(dep: &Deployment, obs: &Observation) -> Option<(ErrorCode, String)> {
    if matches!(
        dep.phase,
        Phase::Created | Phase::Done(_) | Phase::RollingBack { .. }
    ) {
        return None;
    }
    // While a weight is being set, the alias may show it (the update landed) or the
    // confirmed weight (it did not yet).
    let setting = match dep.phase {
        Phase::Shifting { step, .. } => Some(dep.schedule()[step].weight),
        _ => None,
    };
    match &dep.target {
        Target::Lambda(t) => {
            let alias = obs.alias.as_ref()?;
            let shows = |w: u8| lambda::alias_matches(t, alias, w) == Some(true);
            let foreign = lambda::alias_matches(t, alias, dep.traffic).is_none();
            let moved = match (&dep.alias_revision, &obs.alias_revision) {
                (Some(known), Some(seen)) if known != seen => !setting.is_some_and(shows),
                _ => false,
            };
            (foreign || moved).then(|| {
                (
                    ErrorCode::AliasModified,
                    format!(
                        "alias {} was changed outside this deployment (found {}; Cutover had set {}% on version {}); Cutover stopped and left it as it is",
                        t.alias,
                        lambda::describe_alias(alias),
                        dep.traffic,
                        t.target_version
                    ),
                )
            })
        }
        Target::Ecs(t) => {
            let listeners = obs.listeners.as_ref()?;
            let view = &listeners.production;
            let on = view.percent_on(&t.original_target_group, &t.replacement_target_group);
            let expected = |w: u8| on.is_some_and(|p| (p - f64::from(w)).abs() < 1e-6);
            if expected(dep.traffic) || setting.is_some_and(expected) {
                return None;
            }
            let to: Vec<String> = view
                .forwards
                .iter()
                .map(|(tg, w)| format!("{} weight {w}", crate::model::last_segment(tg)))
                .collect();
            Some((
                ErrorCode::ListenerModified,
                format!(
                    "listener {} was changed outside this deployment (forwards to {}; Cutover had set {}% on the replacement); Cutover stopped and left it as it is",
                    t.production_listener,
                    to.join(", "),
                    dep.traffic
                ),
            ))
        }
    }
}
