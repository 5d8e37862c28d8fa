//! Lifecycle events, as CodeDeploy names them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A lifecycle event of a deployment. Hook events run user functions; the others are
/// Cutover's own work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LifecycleEvent {
    /// The deployment began.
    Start,
    /// ECS: before the replacement task set is created (hook).
    BeforeInstall,
    /// ECS: the replacement task set is created.
    Install,
    /// ECS: after the replacement task set is created (hook).
    AfterInstall,
    /// ECS: the test listener is pointed at the replacement.
    AllowTestTraffic,
    /// ECS: after test traffic reaches the replacement (hook).
    AfterAllowTestTraffic,
    /// Before production traffic shifts (hook).
    BeforeAllowTraffic,
    /// Production traffic shifts on the configured schedule.
    AllowTraffic,
    /// After all production traffic reached the target (hook).
    AfterAllowTraffic,
    /// The deployment finished.
    End,
}

impl LifecycleEvent {
    /// Every event, in ECS lifecycle order (Lambda uses a subsequence).
    pub const ALL: [LifecycleEvent; 10] = [
        LifecycleEvent::Start,
        LifecycleEvent::BeforeInstall,
        LifecycleEvent::Install,
        LifecycleEvent::AfterInstall,
        LifecycleEvent::AllowTestTraffic,
        LifecycleEvent::AfterAllowTestTraffic,
        LifecycleEvent::BeforeAllowTraffic,
        LifecycleEvent::AllowTraffic,
        LifecycleEvent::AfterAllowTraffic,
        LifecycleEvent::End,
    ];

    /// Hook events a Lambda AppSpec may name.
    pub const LAMBDA_HOOKS: [LifecycleEvent; 2] = [
        LifecycleEvent::BeforeAllowTraffic,
        LifecycleEvent::AfterAllowTraffic,
    ];

    /// Hook events an ECS AppSpec may name.
    pub const ECS_HOOKS: [LifecycleEvent; 5] = [
        LifecycleEvent::BeforeInstall,
        LifecycleEvent::AfterInstall,
        LifecycleEvent::AfterAllowTestTraffic,
        LifecycleEvent::BeforeAllowTraffic,
        LifecycleEvent::AfterAllowTraffic,
    ];

    /// CodeDeploy's name for the event.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::Start => "Start",
            LifecycleEvent::BeforeInstall => "BeforeInstall",
            LifecycleEvent::Install => "Install",
            LifecycleEvent::AfterInstall => "AfterInstall",
            LifecycleEvent::AllowTestTraffic => "AllowTestTraffic",
            LifecycleEvent::AfterAllowTestTraffic => "AfterAllowTestTraffic",
            LifecycleEvent::BeforeAllowTraffic => "BeforeAllowTraffic",
            LifecycleEvent::AllowTraffic => "AllowTraffic",
            LifecycleEvent::AfterAllowTraffic => "AfterAllowTraffic",
            LifecycleEvent::End => "End",
        }
    }

    /// Parses CodeDeploy's exact (case-sensitive) name.
    pub fn parse(name: &str) -> Option<LifecycleEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Whether only ECS deployments have this event.
    pub fn is_ecs_only(self) -> bool {
        matches!(
            self,
            LifecycleEvent::BeforeInstall
                | LifecycleEvent::Install
                | LifecycleEvent::AfterInstall
                | LifecycleEvent::AllowTestTraffic
                | LifecycleEvent::AfterAllowTestTraffic
        )
    }

    /// Whether this event runs a user hook function.
    pub fn is_hook(self) -> bool {
        Self::ECS_HOOKS.contains(&self)
    }
}

impl fmt::Display for LifecycleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
