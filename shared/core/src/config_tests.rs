//! Tests of `config`: the predefined configurations, schedules, validation, names and
//! property tests (the CodeDeploy JSON document is in config_document_tests.rs).
use super::suggestions::edit_distance;
use super::ComputePlatform::{Ecs, Lambda};
use super::*;
use proptest::prelude::*;

pub(super) fn canary(p: u8, m: u32) -> DeploymentConfig {
    DeploymentConfig {
        name: "MyCanary".into(),
        platform: ComputePlatform::Lambda,
        routing: TrafficRouting::TimeBasedCanary {
            percentage: p,
            interval_minutes: m,
        },
        bake_after_seconds: 0,
    }
}

pub(super) fn linear(p: u8, m: u32) -> DeploymentConfig {
    DeploymentConfig {
        routing: TrafficRouting::TimeBasedLinear {
            percentage: p,
            interval_minutes: m,
        },
        ..canary(10, 1)
    }
}

pub(super) fn steps(list: &[(u8, u64)], bake: u64) -> DeploymentConfig {
    DeploymentConfig {
        name: "MySteps".into(),
        platform: ComputePlatform::Ecs,
        routing: TrafficRouting::Steps(
            list.iter()
                .map(|&(weight, bake_seconds)| StepSpec {
                    weight,
                    bake_seconds,
                })
                .collect(),
        ),
        bake_after_seconds: bake,
    }
}

pub(super) fn shifts(list: &[(u8, u64)]) -> Vec<Shift> {
    list.iter()
        .map(|&(weight, wait_seconds)| Shift {
            weight,
            wait_seconds,
        })
        .collect()
}

pub(super) fn invalid(result: Result<impl fmt::Debug, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::Invalid { field, message }) => (field, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn every_predefined_name_resolves_with_its_platform_and_schedule() {
    let expected: [(&str, ComputePlatform, usize, u64, u8); 14] = [
        ("CodeDeployDefault.LambdaAllAtOnce", Lambda, 1, 0, 100),
        (
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            Lambda,
            2,
            300,
            10,
        ),
        (
            "CodeDeployDefault.LambdaCanary10Percent10Minutes",
            Lambda,
            2,
            600,
            10,
        ),
        (
            "CodeDeployDefault.LambdaCanary10Percent15Minutes",
            Lambda,
            2,
            900,
            10,
        ),
        (
            "CodeDeployDefault.LambdaCanary10Percent30Minutes",
            Lambda,
            2,
            1800,
            10,
        ),
        (
            "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            Lambda,
            10,
            540,
            10,
        ),
        (
            "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
            Lambda,
            10,
            1080,
            10,
        ),
        (
            "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
            Lambda,
            10,
            1620,
            10,
        ),
        (
            "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
            Lambda,
            10,
            5400,
            10,
        ),
        ("CodeDeployDefault.ECSAllAtOnce", Ecs, 1, 0, 100),
        (
            "CodeDeployDefault.ECSCanary10Percent5Minutes",
            Ecs,
            2,
            300,
            10,
        ),
        (
            "CodeDeployDefault.ECSCanary10Percent15Minutes",
            Ecs,
            2,
            900,
            10,
        ),
        (
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            Ecs,
            10,
            540,
            10,
        ),
        (
            "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
            Ecs,
            10,
            1620,
            10,
        ),
    ];
    for (name, platform, len, total, first) in expected {
        let c = DeploymentConfig::predefined(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(c.name, name);
        assert_eq!(c.platform, platform, "{name}");
        let schedule = c.schedule();
        assert_eq!(schedule.len(), len, "{name}");
        assert_eq!(schedule[0].weight, first, "{name}");
        assert_eq!(schedule.last().map(|s| s.weight), Some(100), "{name}");
        assert_eq!(c.total_seconds(), total, "{name}");
        assert_eq!(c.validate(), Ok(()), "{name}");
        assert!(c.is_predefined());
    }
    let all = DeploymentConfig::predefined_all();
    assert_eq!(all.len(), 14);
    assert!(all.iter().all(|c| c.name.starts_with(RESERVED_PREFIX)));
}

#[test]
fn linear_1_minute_schedule_is_exact() {
    let c = DeploymentConfig::predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
        .unwrap();
    let mut expected: Vec<(u8, u64)> = (1..=9).map(|i| (i * 10, 60)).collect();
    expected.push((100, 0));
    assert_eq!(c.schedule(), shifts(&expected));
}

#[test]
fn sam_short_names_resolve_to_lambda_configs() {
    for (short, full) in [
        ("AllAtOnce", "CodeDeployDefault.LambdaAllAtOnce"),
        (
            "Canary10Percent5Minutes",
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        ),
        (
            "Canary10Percent10Minutes",
            "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        ),
        (
            "Canary10Percent15Minutes",
            "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        ),
        (
            "Canary10Percent30Minutes",
            "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        ),
        (
            "Linear10PercentEvery1Minute",
            "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        ),
        (
            "Linear10PercentEvery2Minutes",
            "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        ),
        (
            "Linear10PercentEvery3Minutes",
            "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        ),
        (
            "Linear10PercentEvery10Minutes",
            "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        ),
    ] {
        let c = DeploymentConfig::predefined(short).unwrap_or_else(|| panic!("{short}"));
        assert_eq!(c.name, full);
        assert_eq!(c.platform, ComputePlatform::Lambda);
        assert_eq!(c.short_name(), Some(short));
    }
    // The ECS names have no short form, and the plural/singular spelling matters.
    assert_eq!(DeploymentConfig::predefined("ECSAllAtOnce"), None);
    assert_eq!(
        DeploymentConfig::predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minutes"),
        None
    );
    assert_eq!(
        DeploymentConfig::predefined("CodeDeployDefault.ECSLinear10PercentEvery1Minute"),
        None
    );
    assert_eq!(
        DeploymentConfig::predefined("codedeploydefault.lambdaallatonce"),
        None
    );
    assert_eq!(
        DeploymentConfig::predefined("CodeDeployDefault.ECSAllAtOnce")
            .unwrap()
            .short_name(),
        None
    );
}

#[test]
fn schedules_of_each_kind() {
    assert_eq!(canary(20, 15).schedule(), shifts(&[(20, 900), (100, 0)]));
    assert_eq!(
        linear(30, 2).schedule(),
        shifts(&[(30, 120), (60, 120), (90, 120), (100, 0)])
    );
    let mut c = linear(30, 2);
    c.bake_after_seconds = 45;
    assert_eq!(
        c.schedule().last(),
        Some(&Shift {
            weight: 100,
            wait_seconds: 45
        })
    );
    assert_eq!(c.total_seconds(), 3 * 120 + 45);
    let all = DeploymentConfig {
        routing: TrafficRouting::AllAtOnce,
        ..c
    };
    assert_eq!(all.schedule(), shifts(&[(100, 45)]));
    // Steps below 100 get a final 100 % shift carrying the bake.
    assert_eq!(
        steps(&[(5, 60), (50, 120)], 30).schedule(),
        shifts(&[(5, 60), (50, 120), (100, 30)])
    );
    // A final 100 % step's bake is added to the bake after.
    let s = steps(&[(5, 60), (100, 20)], 30);
    assert_eq!(s.schedule(), shifts(&[(5, 60), (100, 50)]));
    assert_eq!(s.total_seconds(), 110);
    assert_eq!(s.shifting_seconds(), 60);
}

#[test]
fn invalid_configs_still_give_sane_schedules() {
    assert_eq!(canary(0, 5).schedule(), shifts(&[(100, 0)]));
    assert_eq!(linear(0, 5).schedule(), shifts(&[(100, 0)]));
    assert_eq!(linear(150, 5).schedule(), shifts(&[(100, 0)]));
    assert_eq!(
        steps(&[(0, 1), (50, 2), (40, 3), (200, 4), (120, 5)], 7).schedule(),
        shifts(&[(50, 2), (100, 11)])
    );
    assert_eq!(steps(&[], 7).schedule(), shifts(&[(100, 7)]));
}

#[test]
fn validation_messages_name_the_field_and_the_range() {
    let e = canary(0, 5).validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "trafficRoutingConfig.timeBasedCanary.canaryPercentage: 0 is out of range; use a \
             whole number from 1 to 99"
    );
    let (field, message) = invalid(canary(100, 5).validate());
    assert_eq!(
        field,
        "trafficRoutingConfig.timeBasedCanary.canaryPercentage"
    );
    assert!(message.contains("AllAtOnce"), "{message}");
    let (field, message) = invalid(canary(10, 0).validate());
    assert_eq!(field, "trafficRoutingConfig.timeBasedCanary.canaryInterval");
    assert!(message.contains("from 1 to 2880"), "{message}");
    assert!(canary(10, 2880).validate().is_ok());
    assert!(canary(10, 2881).validate().is_err());
    let (field, message) = invalid(linear(1, 30).validate());
    assert_eq!(field, "trafficRoutingConfig.timeBasedLinear.linearInterval");
    assert!(message.contains("2970 minutes") && message.contains("at most 29 minutes"));
    assert!(linear(1, 29).validate().is_ok());
    assert!(linear(10, 320).validate().is_ok()); // 9 * 320 = 2880
    assert!(linear(10, 321).validate().is_err());
    let (field, _) = invalid(linear(10, 0).validate());
    assert_eq!(field, "trafficRoutingConfig.timeBasedLinear.linearInterval");
    let mut c = canary(10, 5);
    c.bake_after_seconds = MAX_BAKE_SECONDS + 1;
    assert_eq!(invalid(c.validate()).0, "bakeAfterSeconds");
}

#[test]
fn steps_validation() {
    assert!(steps(&[(5, 60), (50, 60), (100, 0)], 0).validate().is_ok());
    let (field, message) = invalid(steps(&[], 0).validate());
    assert_eq!(field, "trafficRoutingConfig.steps");
    assert!(message.contains("at least one step"));
    let (field, message) = invalid(steps(&[(5, 0), (50, 0), (50, 0)], 0).validate());
    assert_eq!(field, "trafficRoutingConfig.steps[2].weight");
    assert!(message.contains("increase strictly"), "{message}");
    let (field, _) = invalid(steps(&[(0, 0)], 0).validate());
    assert_eq!(field, "trafficRoutingConfig.steps[0].weight");
    let (field, message) = invalid(steps(&[(101, 0)], 0).validate());
    assert_eq!(field, "trafficRoutingConfig.steps[0].weight");
    assert!(message.contains("from 1 to 100"));
    let many: Vec<(u8, u64)> = (0..101).map(|i| (1 + (i % 100) as u8, 0)).collect();
    assert!(invalid(steps(&many, 0).validate())
        .1
        .contains("at most 100"));
    let (field, message) = invalid(steps(&[(10, MAX_SHIFTING_SECONDS), (20, 1)], 0).validate());
    assert_eq!(field, "trafficRoutingConfig.steps");
    assert!(message.contains("172801 seconds"), "{message}");
    let (field, _) = invalid(steps(&[(10, 1), (100, MAX_BAKE_SECONDS)], 1).validate());
    assert_eq!(field, "trafficRoutingConfig.steps[1].bakeSeconds");
}

#[test]
fn name_rules() {
    let mut c = canary(10, 7);
    for (name, needle) in [
        ("", "is required"),
        ("my config", "' '"),
        ("héllo", "'é'"),
        ("CodeDeployDefault.Mine", "reserved"),
        (
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
            "cannot be changed",
        ),
        (
            "Canary10Percent5Minutes",
            "short name of CodeDeployDefault.LambdaCanary10",
        ),
    ] {
        c.name = name.into();
        let (field, message) = invalid(c.validate());
        assert_eq!(field, "deploymentConfigName");
        assert!(message.contains(needle), "{name}: {message}");
    }
    c.name = "a".repeat(101);
    assert!(invalid(c.validate()).1.contains("at most 100"));
    c.name = "a".repeat(100);
    assert!(c.validate().is_ok());
    c.name = "My.Config_2-b".into();
    assert!(c.validate().is_ok());
    // A predefined one with a bake added is still valid.
    let mut p =
        DeploymentConfig::predefined("CodeDeployDefault.ECSCanary10Percent5Minutes").unwrap();
    p.bake_after_seconds = 600;
    assert!(p.validate().is_ok());
    assert!(!p.is_predefined());
}

#[test]
fn unknown_names_suggest_close_ones() {
    let e = DeploymentConfig::lookup("Canary10Percent5Minute").unwrap_err();
    let ConfigError::UnknownName { suggestions, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        suggestions.first().map(String::as_str),
        Some("Canary10Percent5Minutes")
    );
    let text = e.to_string();
    assert!(
        text.contains("did you mean Canary10Percent5Minutes"),
        "{text}"
    );
    assert!(text.contains("`cutover configs` lists them all"), "{text}");

    let e = DeploymentConfig::lookup("CodeDeployDefault.LambdaLinear10PercentEvery1Minutes")
        .unwrap_err();
    let ConfigError::UnknownName { suggestions, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        suggestions[0],
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    );
    assert!(suggestions.len() <= 3);

    let e = DeploymentConfig::lookup("LambdaCanary10Percent5Minutes").unwrap_err();
    assert!(e
        .to_string()
        .contains("CodeDeployDefault.LambdaCanary10Percent5Minutes"));

    let e = DeploymentConfig::lookup("zzzzzzzzzzzzzzzzzzzzzzzzz").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown deployment configuration \"zzzzzzzzzzzzzzzzzzzzzzzzz\"; `cutover configs` \
             lists them all"
    );
}

#[test]
fn platform_mismatch_names_the_equivalent() {
    let ecs = DeploymentConfig::predefined("CodeDeployDefault.ECSAllAtOnce").unwrap();
    assert_eq!(ecs.check_platform(ComputePlatform::Ecs), Ok(()));
    assert_eq!(
        ecs.check_platform(ComputePlatform::Lambda)
            .unwrap_err()
            .to_string(),
        "CodeDeployDefault.ECSAllAtOnce is an ECS configuration and cannot be used for a \
             Lambda deployment; use CodeDeployDefault.LambdaAllAtOnce"
    );
    let e =
        DeploymentConfig::resolve("Linear10PercentEvery1Minute", ComputePlatform::Ecs).unwrap_err();
    assert!(e
        .to_string()
        .ends_with("use CodeDeployDefault.ECSLinear10PercentEvery1Minutes"));
    let e =
        DeploymentConfig::resolve("Canary10Percent30Minutes", ComputePlatform::Ecs).unwrap_err();
    assert!(
        e.to_string().contains("`cutover configs` lists them"),
        "{e}"
    );
    let e = canary(10, 5)
        .check_platform(ComputePlatform::Ecs)
        .unwrap_err();
    assert!(
        e.to_string().contains("set computePlatform to \"ECS\""),
        "{e}"
    );
}

#[test]
fn describe_lines() {
    assert_eq!(
        DeploymentConfig::predefined("Canary10Percent5Minutes")
            .unwrap()
            .describe(),
        "canary: 10% then 100% after 5 min"
    );
    assert_eq!(
        DeploymentConfig::predefined("Linear10PercentEvery1Minute")
            .unwrap()
            .describe(),
        "linear: +10% every 1 min (10 shifts)"
    );
    assert_eq!(
        DeploymentConfig::predefined("AllAtOnce")
            .unwrap()
            .describe(),
        "all at once"
    );
    assert_eq!(
        steps(&[(5, 1), (25, 1), (50, 1)], 0).describe(),
        "steps: 5%, 25%, 50%, 100%"
    );
    assert_eq!(
        steps(&[(5, 1), (100, 0)], 90).describe(),
        "steps: 5%, 100%, then bake 1 min 30 s"
    );
    assert_eq!(
        canary(10, 90).describe(),
        "canary: 10% then 100% after 1 h 30 min"
    );
}

pub(super) const FULL_EXAMPLE: &str = r#"{
        "deploymentConfigName": "MyCanary20",
        "computePlatform": "Lambda",
        "trafficRoutingConfig": {
            "type": "TimeBasedCanary",
            "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 15}
        },
        "bakeAfterSeconds": 300
    }"#;

#[test]
fn compute_platform_text() {
    assert_eq!(ComputePlatform::Ecs.to_string(), "ECS");
    assert_eq!(ComputePlatform::Lambda.to_string(), "Lambda");
    assert_eq!(
        serde_json::to_string(&ComputePlatform::Ecs).unwrap(),
        "\"ECS\""
    );
    assert_eq!("ECS".parse::<ComputePlatform>(), Ok(ComputePlatform::Ecs));
    assert!("Ecs".parse::<ComputePlatform>().is_err());
}

#[test]
fn edit_distance_basics() {
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("same", "same"), 0);
}

/// Independent statement of the limits, for the property tests.
fn steps_valid(list: &[(u8, u64)], bake: u64) -> bool {
    if list.is_empty() || list.len() > 100 || bake > 172_800 {
        return false;
    }
    if list.iter().any(|&(w, _)| !(1..=100).contains(&w)) {
        return false;
    }
    if list.windows(2).any(|p| p[1].0 <= p[0].0) {
        return false;
    }
    let ends_at_100 = list[list.len() - 1].0 == 100;
    let before: u64 = if ends_at_100 {
        list[..list.len() - 1].iter().map(|s| s.1).sum()
    } else {
        list.iter().map(|s| s.1).sum()
    };
    let final_bake = if ends_at_100 {
        list[list.len() - 1].1 + bake
    } else {
        bake
    };
    before <= 172_800 && final_bake <= 172_800
}

fn assert_schedule_invariants(c: &DeploymentConfig) -> Result<(), TestCaseError> {
    let s = c.schedule();
    prop_assert!(!s.is_empty());
    prop_assert!(s.windows(2).all(|p| p[0].weight < p[1].weight), "{s:?}");
    prop_assert!(s[0].weight >= 1);
    prop_assert_eq!(s[s.len() - 1].weight, 100);
    prop_assert_eq!(
        c.total_seconds(),
        s.iter().map(|x| x.wait_seconds).sum::<u64>()
    );
    prop_assert_eq!(s[s.len() - 1].wait_seconds >= c.bake_after_seconds, true);
    Ok(())
}

proptest! {
    #[test]
    fn canary_and_linear_schedules(p in 0u8..=255, m in 0u32..=4000, bake in 0u64..=200_000, is_linear: bool) {
        let mut c = if is_linear { linear(p, m) } else { canary(p, m) };
        c.bake_after_seconds = bake;
        assert_schedule_invariants(&c)?;
        let in_range_pct = (1..=99).contains(&p);
        let span_minutes = if is_linear {
            (u64::from(100u8.div_ceil(p.max(1))) - 1) * u64::from(m)
        } else {
            u64::from(m)
        };
        let expected_valid =
            in_range_pct && (1..=2880).contains(&m) && span_minutes <= 2880 && bake <= 172_800;
        prop_assert_eq!(c.validate().is_ok(), expected_valid, "{:?}", c.validate());
        if in_range_pct {
            let s = c.schedule();
            prop_assert_eq!(s[0].weight, p);
            let expected_len = if is_linear { usize::from(100u8.div_ceil(p)) } else { 2 };
            prop_assert_eq!(s.len(), expected_len);
            prop_assert_eq!(c.total_seconds(), span_minutes * 60 + bake);
        }
        if expected_valid {
            let back = DeploymentConfig::parse_document(&c.to_document().to_string());
            prop_assert_eq!(back, Ok(c));
        }
    }

    #[test]
    fn steps_schedules(
        list in proptest::collection::vec((0u8..=110, 0u64..=40_000), 0..=12),
        bake in 0u64..=200_000,
        sorted: bool,
    ) {
        let mut list = list;
        if sorted {
            list.sort();
            list.dedup_by_key(|s| s.0);
        }
        let c = steps(&list, bake);
        assert_schedule_invariants(&c)?;
        let expected_valid = steps_valid(&list, bake);
        prop_assert_eq!(c.validate().is_ok(), expected_valid, "{:?}", c.validate());
        if expected_valid {
            let s = c.schedule();
            let given: Vec<u8> = list.iter().map(|x| x.0).collect();
            let produced: Vec<u8> = s.iter().map(|x| x.weight).collect();
            prop_assert_eq!(&produced[..given.len()], &given[..]);
            prop_assert_eq!(c.total_seconds(), list.iter().map(|x| x.1).sum::<u64>() + bake);
            let yaml = serde_yaml_ng::to_string(&c.to_document()).unwrap();
            prop_assert_eq!(DeploymentConfig::parse_document(&yaml), Ok(c));
        }
    }

    #[test]
    fn parse_document_never_panics(text in "\\PC{0,200}") {
        let _ = DeploymentConfig::parse_document(&text);
    }
}
