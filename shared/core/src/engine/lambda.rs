//! Lambda steps: how the alias compares with a weight, and the alias rollback.

use super::*;

/// Lambda rollback: back to the current version, fenced by the revision just read.
pub(super) fn rolling_back_step(
    c: &mut Ctx,
    obs: &Observation,
    attempts: u32,
    landing: Option<u8>,
) {
    // Another split than Cutover's own (the confirmed weight, or the shift that may still
    // land) is a person's change during the rollback: leave it, and say so.
    if let (Target::Lambda(t), Some(alias)) = (&c.d.target, &obs.alias) {
        let shows = |w: u8| alias_matches(t, alias, w) == Some(true);
        let ours = shows(0) || shows(c.d.traffic) || landing.is_some_and(shows);
        if !ours && alias_matches(t, alias, 0).is_some() {
            let why = format!(
                "alias {} was changed outside this deployment during the rollback (found {}); Cutover left it as it is",
                t.alias,
                describe_alias(alias)
            );
            if let Some(h) = c.d.phase.halt_mut() {
                h.error.code = ErrorCode::AliasModified;
            }
            return c.rollback_lost(&why);
        }
    }
    match traffic_seen(&c.d, obs, 0, false) {
        Seen::Unread => {}
        Seen::Matches => {
            if obs.alias_revision.is_some() {
                c.d.alias_revision = obs.alias_revision.clone();
            }
            c.rolled_back();
        }
        // Another split of the deployment's two versions: a stale update of Cutover's own
        // may have landed before the rollback's (both fenced by one revision). Roll back
        // from what is there now, fenced by the revision just read.
        Seen::Differs => {
            if obs.alias_revision.is_some() {
                c.d.alias_revision = obs.alias_revision.clone();
            }
            c.retry_rollback(attempts, vec![Action::Route { weight: 0 }], "the alias");
        }
        Seen::Foreign(_, why) => c.rollback_lost(&why),
    }
}

/// How far the alias shows `weight` % on the target: `Some(true)` when it does,
/// `Some(false)` when it shows another split of the two versions, `None` when it shows a
/// version outside the deployment (someone else changed it).
pub(super) fn alias_matches(
    t: &LambdaTarget,
    alias: &crate::model::AliasView,
    weight: u8,
) -> Option<bool> {
    let (cur, tgt) = (&t.current_version, &t.target_version);
    let ours = |v: &String| v == cur || v == tgt;
    if !ours(&alias.version) || alias.additional.as_ref().is_some_and(|(v, _)| !ours(v)) {
        return None;
    }
    let on_target = match &alias.additional {
        None => {
            if &alias.version == tgt {
                1.0
            } else {
                0.0
            }
        }
        Some((v, w)) if v == tgt && &alias.version == cur => *w,
        Some((v, w)) if v == cur && &alias.version == tgt => 1.0 - *w,
        Some(_) => return None,
    };
    let exact_ends = match weight {
        0 => alias.additional.is_none() && &alias.version == cur,
        100 => alias.additional.is_none() && &alias.version == tgt,
        _ => true,
    };
    Some(exact_ends && (on_target - f64::from(weight) / 100.0).abs() < 1e-6)
}

/// The alias as people read it: `version 1`, or `version 1 90%, version 2 10%`.
pub(super) fn describe_alias(alias: &crate::model::AliasView) -> String {
    match &alias.additional {
        None => format!("version {} 100%", alias.version),
        Some((v, w)) => format!(
            "version {} {:.0}%, version {v} {:.0}%",
            alias.version,
            (1.0 - w) * 100.0,
            w * 100.0
        ),
    }
}
