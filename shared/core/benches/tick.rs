//! How long the engine's share of a tick takes: `needs` + `decide` with no AWS calls, over
//! whole simulated deployments. Run with `cargo bench -p cutover-core --bench tick`.
//!
//! Prints nanoseconds per decision for several schedules, and the ratio of a decision to a
//! plain clone of the deployment (the floor any state update pays).

use cutover_core::appspec::HookSpec;
use cutover_core::config::DeploymentConfig;
use cutover_core::model::{Deployment, DeploymentOptions, LambdaTarget};
use cutover_core::sim::World;
use cutover_core::LifecycleEvent;
use std::hint::black_box;
use std::time::Instant;

const T0: u64 = 1_700_000_000_000;

fn deployment(config: &str, alarms: usize) -> Deployment {
    let target = LambdaTarget {
        function: "orders".into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    };
    let hooks = vec![
        HookSpec {
            event: LifecycleEvent::BeforeAllowTraffic,
            function: "pre".into(),
        },
        HookSpec {
            event: LifecycleEvent::AfterAllowTraffic,
            function: "post".into(),
        },
    ];
    let options = DeploymentOptions {
        alarms: (0..alarms).map(|i| format!("alarm-{i}")).collect(),
        ..Default::default()
    };
    let config = DeploymentConfig::predefined(config).expect("predefined");
    Deployment::new_lambda("d-BENCH0001".into(), target, config, hooks, options, T0)
}

fn main() {
    let cases = [
        ("CodeDeployDefault.LambdaAllAtOnce", 0),
        ("CodeDeployDefault.LambdaCanary10Percent5Minutes", 1),
        ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", 1),
        ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", 10),
    ];
    println!(
        "{:<55} {:>7} {:>10} {:>12} {:>8}",
        "config (alarms)", "ticks", "ns/tick", "ns/clone", "ratio"
    );
    for (name, alarms) in cases {
        let dep = deployment(name, alarms);
        // Warm up, and count the decisions one deployment takes.
        let mut w = World::new("1", T0);
        w.run(dep.clone(), 100_000);
        let ticks = w.ticks;
        let rounds = 2_000;
        let start = Instant::now();
        for _ in 0..rounds {
            let mut w = World::new("1", T0);
            black_box(w.run(black_box(dep.clone()), 100_000));
        }
        let per_tick = start.elapsed().as_nanos() as f64 / f64::from(rounds * ticks);
        let start = Instant::now();
        for _ in 0..rounds * ticks {
            black_box(black_box(&dep).clone());
        }
        let per_clone = start.elapsed().as_nanos() as f64 / f64::from(rounds * ticks);
        println!(
            "{:<55} {:>7} {:>10.0} {:>12.0} {:>8.1}",
            format!("{name} ({alarms})"),
            ticks,
            per_tick,
            per_clone,
            per_tick / per_clone
        );
    }
}
