//! Tests of `render`: the views of deployments and the lines the CLI prints.

use super::*;
use cutover_core::appspec::EcsResource;
use cutover_core::model::{
    DeploymentError, DeploymentOptions, EcsTarget, End, ErrorCode, EventStatus, Halt,
    HookExecution, LambdaTarget, Phase, Target,
};

const T0: Millis = 1_700_000_000_000;

fn lambda(config: DeploymentConfig) -> Deployment {
    let target = LambdaTarget {
        function: "orders".into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    };
    Deployment::new_lambda(
        "d-LAMBDA001".into(),
        target,
        config,
        Vec::new(),
        DeploymentOptions::default(),
        T0,
    )
}

fn linear() -> DeploymentConfig {
    DeploymentConfig::predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minute").unwrap()
}

fn ecs() -> Deployment {
    let target = EcsTarget {
        cluster: "arn:aws:ecs:us-east-1:123456789012:cluster/shop".into(),
        service: "web".into(),
        production_listener: "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/shop/1/80"
            .into(),
        test_listener: None,
        original_target_group: "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-blue/1"
            .into(),
        replacement_target_group:
            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-green/2".into(),
        original_task_set: "arn:aws:ecs:us-east-1:1:task-set/shop/web/ecs-svc/1".into(),
        original_task_definition: "arn:aws:ecs:us-east-1:1:task-definition/web:1".into(),
        resource: EcsResource {
            logical_name: "TargetService".into(),
            task_definition: "web:2".into(),
            container_name: "web".into(),
            container_port: 80,
            platform_version: None,
            network: None,
            capacity_provider_strategy: Vec::new(),
        },
        launch_type: Some("FARGATE".into()),
        ready_wait_minutes: Some(60),
        termination_wait_minutes: 5,
    };
    let mut dep = Deployment::new(
        "d-ECS000001".into(),
        Target::Ecs(Box::new(target)),
        DeploymentConfig::predefined("CodeDeployDefault.ECSAllAtOnce").unwrap(),
        Vec::new(),
        DeploymentOptions::default(),
        T0,
    );
    dep.phase = Phase::Ready {
        until: T0 + 3_600_000,
    };
    dep.task_sets = vec![
        TaskSetView {
            arn: "arn:aws:ecs:us-east-1:1:task-set/shop/web/ecs-svc/1".into(),
            external_id: None,
            status: "PRIMARY".into(),
            stability: "STEADY_STATE".into(),
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/web:1".into(),
            desired: 2,
            running: 2,
        },
        TaskSetView {
            arn: "arn:aws:ecs:us-east-1:1:task-set/shop/web/ecs-svc/2".into(),
            external_id: Some("d-ECS000001".into()),
            status: "ACTIVE".into(),
            stability: "STEADY_STATE".into(),
            task_definition: "web:2".into(),
            desired: 2,
            running: 2,
        },
    ];
    dep
}

/// Every text the two modes print, from one view.
fn texts(view: &View) -> Vec<String> {
    vec![
        started_line(view),
        status_text(view),
        list_line(view),
        stop_line(view),
        continue_line(view),
        progress_line(view, T0, T0 + 95_000),
    ]
}

/// The summary alone (remote mode) prints what the stored record (local mode) prints,
/// for deployments whose configuration is predefined and which run no hook.
fn assert_same_text(dep: &Deployment) {
    let remote = View::from_summary(&dep.summary()).unwrap();
    let local = View::of(dep);
    assert_eq!(remote, local);
    assert_eq!(texts(&remote), texts(&local));
    assert_eq!(remote.target.describe, dep.target.describe());
    assert_eq!(remote.split, dep.traffic_split());
    assert_eq!(remote.traffic(), dep.traffic);
    assert_eq!(remote.is_done(), dep.is_done());
}

#[test]
fn a_lambda_summary_prints_as_the_stored_deployment() {
    let mut dep = lambda(linear());
    dep.traffic = 30;
    dep.phase = Phase::Baking {
        step: 2,
        until: T0 + 120_000,
    };
    dep.events[0].status = EventStatus::Succeeded;
    dep.events[0].detail = Some("started".into());
    assert_same_text(&dep);
    let view = View::of(&dep);
    assert_eq!(
            status_text(&view),
            "deployment d-LAMBDA001  InProgress
  target   orders:live 1 → 2
  config   CodeDeployDefault.LambdaLinear10PercentEvery1Minute — linear: +10% every 1 min (10 shifts)
  traffic  70% on 1, 30% on 2
  Start                Succeeded  started
  BeforeAllowTraffic   Pending    \n  AllowTraffic         Pending    \n  AfterAllowTraffic    Pending    \n  End                  Pending    \n"
        );
    assert_eq!(
        progress_line(&view, T0, T0 + 95_000),
        "[ 1m35s] d-LAMBDA001  AllowTraffic step 3/10: next shift in 25s  [70% v1 | 30% v2]"
    );
    assert_eq!(
            list_line(&view),
            "d-LAMBDA001  InProgress       orders:live 1 → 2  CodeDeployDefault.LambdaLinear10PercentEvery1Minute  30% on target"
        );
    assert_eq!(
        continue_line(&view),
        "d-LAMBDA001: InProgress (30% of production traffic on 2)"
    );
}

#[test]
fn an_ecs_summary_prints_as_the_stored_deployment() {
    let dep = ecs();
    assert_same_text(&dep);
    let view = View::of(&dep);
    let text = status_text(&view);
    assert!(
        text.contains("  target   shop/web web:1 → web:2\n"),
        "{text}"
    );
    assert!(text.contains("  traffic  100% on web-blue\n"), "{text}");
    assert!(
        text.contains("  task set 2 replacement ACTIVE  web:2 2/2 running (STEADY_STATE)"),
        "{text}"
    );
    assert!(text.contains("task set 1 original"), "{text}");
    let line = progress_line(&view, T0, T0 + 1_000);
    assert!(
        line.contains("run `cutover continue d-ECS000001` within 59m59s")
            && line.ends_with("[100% web-blue]"),
        "{line}"
    );
}

#[test]
fn an_ended_deployment_prints_its_error_and_rollback() {
    let mut dep = lambda(linear());
    let halt = Halt::new(
        DeploymentStatus::Failed,
        DeploymentError {
            code: ErrorCode::AlarmActive,
            message: "alarm ErrorsHigh went into ALARM".into(),
        },
    );
    dep.phase = Phase::Done(End::Halted {
        halt: halt.clone(),
        rolled_back: true,
    });
    assert_same_text(&dep);
    let view = View::of(&dep);
    assert!(view.is_done());
    assert!(progress_line(&view, T0, T0)
        .contains("Failed, rolled back — ALARM_ACTIVE: alarm ErrorsHigh went into ALARM"));
    assert_eq!(stop_line(&view), "d-LAMBDA001: Failed, rolled back to 1");
    assert!(status_text(&view).starts_with("deployment d-LAMBDA001  Failed (rolled back)\n"));
    assert!(
        status_text(&view).ends_with("  error    ALARM_ACTIVE: alarm ErrorsHigh went into ALARM\n")
    );
    dep.phase = Phase::RollingBack {
        halt,
        attempts: 0,
        landing: None,
        since: 0,
        alarm_at: None,
    };
    assert_eq!(
        stop_line(&View::of(&dep)),
        "d-LAMBDA001: Failed, rolling back"
    );
}

#[test]
fn the_stored_record_adds_the_hook_and_a_custom_schedule() {
    let custom = DeploymentConfig {
        name: "Steps5Then50".into(),
        ..linear()
    };
    let mut dep = lambda(custom);
    dep.phase = Phase::Shifting {
        step: 1,
        attempts: 0,
    };
    let remote = View::from_summary(&dep.summary()).unwrap();
    let local = View::of(&dep);
    assert_eq!(remote.schedule, None);
    assert!(status_text(&remote).contains("  config   Steps5Then50\n"));
    assert!(status_text(&local).contains("  config   Steps5Then50 — linear"));
    assert!(progress_line(&remote, T0, T0).contains("AllowTraffic step 2: shifting"));
    assert!(progress_line(&local, T0, T0).contains("AllowTraffic step 2/10: shifting"));
    assert_eq!(
        started_line(&remote),
        "started d-LAMBDA001: orders:live 1 → 2 with Steps5Then50"
    );

    dep.phase = Phase::Hook(HookExecution {
        event: LifecycleEvent::BeforeAllowTraffic,
        function: "orders-check".into(),
        issued: Vec::new(),
        legacy_execution_id: None,
        started_at: T0,
        next_invoke_at: None,
        in_flight_until: None,
        invocations: 1,
    });
    let line = progress_line(&View::of(&dep), T0, T0);
    assert!(
        line.contains("BeforeAllowTraffic: waiting for orders-check to report"),
        "{line}"
    );
    let line = progress_line(&View::from_summary(&dep.summary()).unwrap(), T0, T0);
    assert!(line.contains("  BeforeAllowTraffic  "), "{line}");
}

#[test]
fn a_summary_needs_an_id_and_a_known_status() {
    let summary = lambda(linear()).summary();
    let mut no_id = summary.clone();
    no_id["deploymentId"] = Value::Null;
    assert!(View::from_summary(&no_id).is_err());
    let mut odd = summary.clone();
    odd["status"] = json!("Paused");
    assert!(View::from_summary(&odd).unwrap_err().contains("Paused"));
    // A phase this CLI does not know yet still prints, by status.
    let mut newer = summary;
    newer["phase"] = json!({"phase": "somethingNew"});
    let view = View::from_summary(&newer).unwrap();
    assert_eq!(view.phase, None);
    assert!(progress_line(&view, T0, T0).contains("  Created  "));
}
