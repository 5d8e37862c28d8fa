//! The ALB listeners (Elastic Load Balancing v2): reading their weighted forward action and
//! setting it.

use super::*;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
};
use cutover_core::model::{ListenerView, ListenersView};

fn is_forward(a: &Action) -> bool {
    a.r#type() == Some(&ActionTypeEnum::Forward)
}

/// The listener's forward action, if its default actions have one.
pub(super) fn forward_action(listener: &Listener) -> Option<&Action> {
    listener.default_actions().iter().find(|a| is_forward(a))
}

/// `(target group, weight)` of a forward action. A plain forward (`TargetGroupArn`, no
/// `ForwardConfig`) and a tuple without a weight count as weight 1.
pub(super) fn forwards(action: &Action) -> Vec<(String, u32)> {
    let tuples = action
        .forward_config()
        .map(|f| f.target_groups())
        .unwrap_or_default();
    if !tuples.is_empty() {
        tuples
            .iter()
            .filter_map(|t| {
                let weight = t.weight().map_or(1, |w| u32::try_from(w).unwrap_or(0));
                t.target_group_arn().map(|arn| (arn.to_string(), weight))
            })
            .collect()
    } else {
        action
            .target_group_arn()
            .map(|arn| vec![(arn.to_string(), 1)])
            .unwrap_or_default()
    }
}

fn listener_view(listener: &Listener) -> ListenerView {
    ListenerView {
        forwards: forward_action(listener).map(forwards).unwrap_or_default(),
    }
}

/// The default actions' types, for messages (`fixed-response`, `redirect`).
pub(super) fn action_kinds(listener: &Listener) -> String {
    let kinds: Vec<&str> = listener
        .default_actions()
        .iter()
        .filter_map(|a| a.r#type().map(ActionTypeEnum::as_str))
        .collect();
    if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join(", ")
    }
}

pub(super) fn describe_forwards<'a>(
    forwards: impl IntoIterator<Item = &'a (String, u32)>,
) -> String {
    forwards
        .into_iter()
        .map(|(tg, w)| format!("{tg} (weight {w})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An action sent back unchanged with the forward action. OIDC actions are read without
/// their client secret, so they ask ELB to keep the one it has.
fn resend(action: &Action) -> Action {
    let mut a = action.clone();
    if let Some(oidc) = a.authenticate_oidc_config.as_mut() {
        if oidc.client_secret.is_none() {
            oidc.use_existing_client_secret = Some(true);
        }
    }
    a
}

impl EcsRouter {
    /// Both listeners' default forward action (target group ARN, weight). A listener whose
    /// default action is a plain `forward` with TargetGroupArn and no ForwardConfig counts as
    /// weight 1 on that group; a listener with no forward action shows no target group.
    pub async fn read_listeners(&self, t: &EcsTarget) -> Result<ListenersView> {
        let out = self
            .elb
            .describe_listeners()
            .set_listener_arns(Some(
                std::iter::once(t.production_listener.clone())
                    .chain(t.test_listener.clone())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| aws_error(ELB, "DescribeListeners", &e))?;
        let find = |arn: &str| {
            out.listeners()
                .iter()
                .find(|l| l.listener_arn() == Some(arn))
                .map(listener_view)
                .ok_or_else(|| {
                    missing(
                        ELB,
                        "DescribeListeners",
                        format!("listener {arn} is not in the answer"),
                    )
                })
        };
        Ok(ListenersView {
            production: find(&t.production_listener)?,
            test: t.test_listener.as_deref().map(find).transpose()?,
        })
    }

    /// Sets `listener`'s default action to forward with ForwardConfig [original: 100-weight,
    /// replacement: weight]. Reads the listener first: if it forwards (weight > 0) to any
    /// target group other than the two, or no longer forwards at all, refuses with
    /// `ListenerModified` and changes nothing. Keeps the ForwardConfig's
    /// TargetGroupStickinessConfig, the forward action's order and any other default
    /// actions (authentication) as they were.
    pub async fn route(&self, t: &EcsTarget, listener: &str, weight: u8) -> Result<()> {
        if weight > 100 {
            return Err(Error::refused(
                "InvalidWeight",
                format!("weight {weight} is over 100"),
            ));
        }
        let Some(now) = self.describe_listener(listener).await? else {
            return Err(Error::refused(
                "ListenerNotFound",
                format!(
                    "listener {listener} does not exist any more; Cutover cannot move its traffic"
                ),
            ));
        };
        let actions = now.default_actions();
        let Some(pos) = actions.iter().position(is_forward) else {
            return Err(Error::refused(
                "ListenerModified",
                format!(
                    "listener {listener} no longer forwards to a target group (its default action is {}); someone else changed it, so Cutover left it alone",
                    action_kinds(&now)
                ),
            ));
        };
        let ours = |tg: &str| tg == t.original_target_group || tg == t.replacement_target_group;
        let current = forwards(&actions[pos]);
        let foreign: Vec<&(String, u32)> = current
            .iter()
            .filter(|(tg, w)| *w > 0 && !ours(tg))
            .collect();
        if !foreign.is_empty() {
            return Err(Error::refused(
                "ListenerModified",
                format!(
                    "listener {listener} forwards to {}, which is neither the original target group {} nor the replacement {}; someone else changed it, so Cutover left it alone",
                    describe_forwards(foreign),
                    t.original_target_group,
                    t.replacement_target_group
                ),
            ));
        }
        let mut forward = actions[pos].clone();
        let stickiness = forward
            .forward_config
            .as_ref()
            .and_then(|f| f.target_group_stickiness_config.clone());
        forward.target_group_arn = None;
        forward.forward_config = Some(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&t.original_target_group)
                        .weight(i32::from(100 - weight))
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&t.replacement_target_group)
                        .weight(i32::from(weight))
                        .build(),
                )
                .set_target_group_stickiness_config(stickiness)
                .build(),
        );
        let mut new_actions: Vec<Action> = actions.iter().map(resend).collect();
        new_actions[pos] = forward;
        self.elb
            .modify_listener()
            .listener_arn(listener)
            .set_default_actions(Some(new_actions))
            .send()
            .await
            .map_err(|e| aws_error(ELB, "ModifyListener", &e))?;
        Ok(())
    }

    /// The listener, refused with `field` when it does not exist.
    pub(super) async fn listener_for(&self, field: &str, arn: &str) -> Result<Listener> {
        self.describe_listener(arn).await?.ok_or_else(|| {
            Error::refused(
                "ListenerNotFound",
                format!("{field}: listener {arn} does not exist in this account and region; `aws elbv2 describe-listeners --load-balancer-arn ...` lists them"),
            )
        })
    }

    /// One listener; `None` when it does not exist.
    pub(super) async fn describe_listener(&self, arn: &str) -> Result<Option<Listener>> {
        match self
            .elb
            .describe_listeners()
            .listener_arns(arn)
            .send()
            .await
        {
            Ok(out) => {
                // One ARN was asked for: the answer is that listener.
                let mut listeners = out.listeners.unwrap_or_default();
                let i = listeners
                    .iter()
                    .position(|l| l.listener_arn() == Some(arn))
                    .unwrap_or(0);
                Ok((i < listeners.len()).then(|| listeners.swap_remove(i)))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_listener_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error(ELB, "DescribeListeners", &e)),
        }
    }
}
