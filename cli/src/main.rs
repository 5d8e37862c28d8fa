//! `cutover`: progressive delivery for AWS Lambda aliases and ECS services, from the
//! command line.

mod deploy;
mod render;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cutover_aws::{Cutover, Error};
use cutover_core::config::DeploymentConfig;
use cutover_core::group::DeploymentGroup;
use cutover_core::model::Deployment;
use deploy::deploy;
use render::{print_plan, print_status};
use serde_json::{json, Value};
use std::process::ExitCode;

const EXIT_OK: u8 = 0;
const EXIT_ENDED_BADLY: u8 = 1;
const EXIT_REFUSED: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "cutover",
    version,
    about = "Shift a Lambda alias or an ECS service (blue/green behind an ALB) to a new version, CodeDeploy-style.",
    long_about = "Shift a Lambda alias from its current version to a target version, or an ECS \
service from its task set to a replacement task set through ALB weighted target groups, on a \
canary, linear, all-at-once or custom schedule; run the AppSpec's hooks, watch CloudWatch \
alarms and roll back when something is wrong.\n\n\
ECS services (and Lambda defaults) are described by deployment groups: `cutover group put \
--file group.yaml`, then `cutover deploy --group APP/NAME`.\n\n\
Endpoint, region and credentials come from the standard AWS settings (AWS_REGION, \
AWS_PROFILE, AWS_ENDPOINT_URL, ...). State lives in the DynamoDB table --table.",
    after_help = "Examples:\n  \
cutover deploy --appspec appspec.yaml --config CodeDeployDefault.LambdaCanary10Percent5Minutes --alarm ErrorsHigh --local --wait\n  \
cutover group put --file web-prod.yaml\n  \
cutover deploy --group shop/web-prod --appspec appspec-ecs.yaml --local --wait\n  \
cutover continue d-ABCDEF123\n  \
cutover plan --config Linear10PercentEvery1Minute\n  \
cutover status d-ABCDEF123 --output json\n  \
cutover stop d-ABCDEF123 --rollback"
)]
struct Cli {
    /// DynamoDB table holding deployments and custom configurations.
    #[arg(long, global = true, env = "CUTOVER_TABLE", default_value = "cutover")]
    table: String,
    /// SNS topic for DeploymentStart/Success/Failure/Stop/Rollback notifications.
    #[arg(long, global = true, env = "CUTOVER_TOPIC_ARN")]
    topic_arn: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct OutputArg {
    /// Output format: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a deployment from a CodeDeploy AppSpec (Lambda, or ECS with --group).
    #[command(
        after_help = "Exit codes with --wait: 0 succeeded; 1 failed, stopped or rolled back; \
2 refused before anything changed (invalid input, missing resource, another deployment in progress)."
    )]
    Deploy(DeployArgs),
    /// Show a deployment: status, traffic, lifecycle events, error.
    Status {
        /// Deployment id (d-XXXXXXXXX).
        id: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// List deployments, newest first.
    List {
        /// Only deployments still in progress.
        #[arg(long)]
        active: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Stop a deployment; with --rollback, put everything back as it was (alias on the
    /// current version; ECS listeners on the original target group, original task set
    /// primary, replacement deleted).
    Stop {
        /// Deployment id.
        id: String,
        /// Roll back (the default when the deployment group says `autoRollback.onStop: true`).
        #[arg(long, conflicts_with = "no_rollback")]
        rollback: bool,
        /// Leave traffic where it is, whatever the deployment group says.
        #[arg(long)]
        no_rollback: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Release an ECS deployment waiting at Ready (readyWait.action: stop), or end its
    /// termination wait now (delete the original task set without waiting).
    Continue {
        /// Deployment id.
        id: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Manage deployment groups: where an ECS service's cluster, listeners and target
    /// groups are described, and defaults (config, alarms, rollback) for its deployments.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// List the stored deployment groups.
    Groups {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show the traffic schedule of a configuration, without deploying.
    Plan {
        /// Configuration name (CodeDeployDefault.*, SAM short name, or a custom one).
        #[arg(long)]
        config: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// List the predefined and custom deployment configurations.
    Configs {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Manage custom deployment configurations.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Store a custom configuration from a JSON or YAML file (CodeDeploy's
    /// TrafficRoutingConfig shape, or Cutover's explicit steps).
    #[command(
        after_help = "File example:\n  {\"deploymentConfigName\": \"Canary20Percent15Minutes\", \"computePlatform\": \"Lambda\",\n   \"trafficRoutingConfig\": {\"type\": \"TimeBasedCanary\", \"timeBasedCanary\": {\"canaryPercentage\": 20, \"canaryInterval\": 15}}}\n  Steps: {\"type\": \"Steps\", \"steps\": [{\"weight\": 5, \"bakeSeconds\": 60}, {\"weight\": 50, \"bakeSeconds\": 300}]}, plus \"bakeAfterSeconds\": N at the top level."
    )]
    Put {
        /// The configuration file.
        #[arg(long)]
        file: std::path::PathBuf,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Check a deployment group file (and, for ECS, its cluster, service, listeners and
    /// target groups as they are in AWS), then store it.
    #[command(after_help = "File example (ECS):\n  \
application: shop\n  \
name: web-prod\n  \
computePlatform: ECS\n  \
deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes\n  \
alarms: [web-5xx]\n  \
autoRollback: {onFailure: true, onAlarm: true, onStop: false}\n  \
ecs:\n    \
cluster: shop\n    \
service: web\n    \
productionListenerArn: arn:aws:elasticloadbalancing:...:listener/app/shop/...\n    \
testListenerArn: arn:aws:elasticloadbalancing:...:listener/app/shop/...\n    \
targetGroups: [arn:...:targetgroup/web-blue/..., arn:...:targetgroup/web-green/...]\n    \
readyWait: {action: stop, waitMinutes: 60}\n    \
terminationWaitMinutes: 5")]
    Put {
        /// The group file (YAML or JSON).
        #[arg(long)]
        file: std::path::PathBuf,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show a stored deployment group.
    Get {
        /// APPLICATION/NAME.
        key: String,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(Args, Debug)]
struct DeployArgs {
    /// AppSpec file (YAML or JSON), as CodeDeploy reads it.
    #[arg(long)]
    appspec: std::path::PathBuf,
    /// Deployment group APPLICATION/NAME (see `cutover groups`): required for ECS; its
    /// config, alarms, rollback and hook timeout are the defaults the flags override.
    #[arg(long, value_name = "APP/NAME")]
    group: Option<String>,
    /// Deployment configuration (default: the group's, else CodeDeployDefault.LambdaAllAtOnce
    /// or CodeDeployDefault.ECSAllAtOnce). See `cutover configs`.
    #[arg(long)]
    config: Option<String>,
    /// CloudWatch alarm to watch; repeat for more (at most 10).
    #[arg(long = "alarm", value_name = "NAME")]
    alarms: Vec<String>,
    /// Do not roll back when the deployment fails or an alarm fires.
    #[arg(long)]
    no_auto_rollback: bool,
    /// Start even if a watched alarm is in ALARM; only a new transition to ALARM counts.
    #[arg(long)]
    ignore_firing_alarms: bool,
    /// How long a hook may take to give its verdict (default: the group's, else 3600).
    #[arg(long)]
    hook_timeout_seconds: Option<u64>,
    /// ECS: how long the replacement task set may take to become steady before the
    /// deployment fails (traffic never moves to an unsteady replacement).
    #[arg(long, default_value_t = 900)]
    install_timeout_seconds: u64,
    /// How often alarms are read while waiting.
    #[arg(long, default_value_t = 10)]
    alarm_poll_seconds: u64,
    /// Run the deployment loop in this process (creates the table if missing) instead of the
    /// deployed state machine.
    #[arg(long)]
    local: bool,
    /// Wait for the deployment to end; the exit code tells how it ended.
    #[arg(long)]
    wait: bool,
    /// Make every configured wait X times shorter (demos and tests only; 60 turns a minute
    /// into a second).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// State machine to hand the deployment to when not --local (output of `sam deploy`).
    #[arg(long, env = "CUTOVER_STATE_MACHINE_ARN")]
    state_machine_arn: Option<String>,
    #[command(flatten)]
    out: OutputArg,
}

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    error_code: String,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let code = match e {
            Error::Refused(_)
            | Error::InProgress { .. }
            | Error::NotFound(_)
            | Error::HookReport(_) => EXIT_REFUSED,
            _ => EXIT_ENDED_BADLY,
        };
        Failure {
            code,
            error_code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure {
            code: EXIT_REFUSED,
            error_code: "InvalidInput".into(),
            message: format!("{e:#}"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = match &cli.command {
        Command::Deploy(a) => a.out.output,
        Command::Status { out, .. }
        | Command::List { out, .. }
        | Command::Stop { out, .. }
        | Command::Continue { out, .. }
        | Command::Plan { out, .. }
        | Command::Groups { out }
        | Command::Configs { out } => out.output,
        Command::Config {
            command: ConfigCommand::Put { out, .. },
        }
        | Command::Group {
            command: GroupCommand::Put { out, .. } | GroupCommand::Get { out, .. },
        } => out.output,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ENDED_BADLY);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if output == Output::Json {
                println!(
                    "{}",
                    json!({"error": {"code": f.error_code, "message": f.message}})
                );
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

async fn connect(cli: &Cli) -> Cutover {
    let sdk = cutover_aws::clients::aws_config().await;
    let settings = cutover_aws::clients::Settings {
        table: Some(cli.table.clone()),
        topic_arn: cli.topic_arn.clone(),
    };
    cutover_aws::clients::build(&sdk, &settings)
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    let app = connect(&cli).await;
    match cli.command {
        Command::Deploy(args) => deploy(&app, args).await,
        Command::Status { id, out } => {
            let dep = app.store.load(&id).await?;
            match out.output {
                Output::Json => println!("{}", dep.summary()),
                Output::Text => print_status(&app, &dep).await,
            }
            Ok(EXIT_OK)
        }
        Command::List { active, out } => {
            let list = app.store.list(active).await?;
            match out.output {
                Output::Json => {
                    println!(
                        "{}",
                        Value::Array(list.iter().map(Deployment::summary).collect())
                    )
                }
                Output::Text => {
                    if list.is_empty() {
                        println!("no deployments{}", if active { " in progress" } else { "" });
                    }
                    for d in &list {
                        println!(
                            "{}  {:<10} {:<5} {}  {}  {}% on target",
                            d.id,
                            d.status.as_str(),
                            if d.rolled_back { "rb" } else { "" },
                            d.target.describe(),
                            d.config.name,
                            d.traffic
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
        Command::Stop {
            id,
            rollback,
            no_rollback,
            out,
        } => {
            let rollback = match (rollback, no_rollback) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let outcome = app
                .stop(&id, rollback, Some("stopped by `cutover stop`".into()))
                .await?;
            let dep = outcome.deployment;
            match out.output {
                Output::Json => println!("{}", dep.summary()),
                Output::Text => println!(
                    "{}: {}{}",
                    dep.id,
                    dep.status,
                    match (dep.rolled_back, dep.is_done()) {
                        (true, _) => format!(", rolled back to {}", dep.target.current_label()),
                        (false, false) => ", rolling back".to_string(),
                        (false, true) => String::new(),
                    }
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Continue { id, out } => {
            let dep = app.proceed(&id).await?.deployment;
            match out.output {
                Output::Json => println!("{}", dep.summary()),
                Output::Text => println!(
                    "{}: {} ({}% of production traffic on {})",
                    dep.id,
                    dep.status,
                    dep.traffic,
                    dep.target.target_label()
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Group {
            command: GroupCommand::Put { file, out },
        } => {
            let text = read_input(&file, "--file")?;
            let group = DeploymentGroup::parse(&text).map_err(|e| Failure {
                code: EXIT_REFUSED,
                error_code: "InvalidDeploymentGroup".into(),
                message: format!("{}:\n{e}", file.display()),
            })?;
            if let Some(ecs) = &group.ecs {
                app.ecs.check_group(ecs).await?;
            }
            app.store.ensure_table().await?;
            app.store.put_group(&group).await?;
            match out.output {
                Output::Json => println!("{}", group.to_document()),
                Output::Text => println!(
                    "stored deployment group {} ({:?})",
                    group.key(),
                    group.compute_platform
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Group {
            command: GroupCommand::Get { key, out },
        } => {
            let group = app.group(&key).await?;
            match out.output {
                Output::Json => println!("{}", group.to_document()),
                Output::Text => print!(
                    "{}",
                    serde_yaml_ng::to_string(&group.to_document()).unwrap_or_default()
                ),
            }
            Ok(EXIT_OK)
        }
        Command::Groups { out } => {
            let groups = app.store.list_groups().await?;
            match out.output {
                Output::Json => println!(
                    "{}",
                    Value::Array(groups.iter().map(|g| g.to_document()).collect())
                ),
                Output::Text => {
                    if groups.is_empty() {
                        println!("no deployment groups; add one with `cutover group put --file F`");
                    }
                    for g in &groups {
                        let what = match &g.ecs {
                            Some(e) => format!("{}/{}", e.cluster, e.service),
                            None => "Lambda".to_string(),
                        };
                        println!(
                            "{:<40} {:<6} {:<30} {}",
                            g.key(),
                            format!("{:?}", g.compute_platform),
                            what,
                            g.deployment_config.as_deref().unwrap_or("(default config)")
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
        Command::Plan { config, out } => {
            let config = find_config(&app, &config).await?;
            print_plan(&config, out.output);
            Ok(EXIT_OK)
        }
        Command::Configs { out } => {
            let mut all = DeploymentConfig::predefined_all();
            let custom = match app.store.list_configs().await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("warning: custom configurations not listed ({e})");
                    Vec::new()
                }
            };
            all.extend(custom);
            match out.output {
                Output::Json => {
                    let v: Vec<Value> = all
                        .iter()
                        .map(|c| {
                            json!({"name": c.name, "computePlatform": c.platform.to_string(),
                            "description": c.describe(), "totalSeconds": c.total_seconds(),
                            "predefined": c.name.starts_with("CodeDeployDefault.")})
                        })
                        .collect();
                    println!("{}", Value::Array(v));
                }
                Output::Text => {
                    for c in &all {
                        println!(
                            "{:<52} {:<6} {}",
                            c.name,
                            c.platform.to_string(),
                            c.describe()
                        );
                    }
                }
            }
            Ok(EXIT_OK)
        }
        Command::Config {
            command: ConfigCommand::Put { file, out },
        } => {
            let text = read_input(&file, "--file")?;
            let config = DeploymentConfig::parse_document(&text).map_err(|e| Failure {
                code: EXIT_REFUSED,
                error_code: "InvalidConfig".into(),
                message: format!("{}: {e}", file.display()),
            })?;
            if DeploymentConfig::predefined(&config.name).is_some() {
                return Err(Failure {
                    code: EXIT_REFUSED,
                    error_code: "InvalidConfig".into(),
                    message: format!(
                        "deploymentConfigName: {} is a predefined name; choose another",
                        config.name
                    ),
                });
            }
            app.store.ensure_table().await?;
            app.store.put_config(&config).await?;
            match out.output {
                Output::Json => println!("{}", config.to_document()),
                Output::Text => println!("stored {}: {}", config.name, config.describe()),
            }
            Ok(EXIT_OK)
        }
    }
}

pub(crate) fn read_input(path: &std::path::Path, flag: &str) -> anyhow::Result<String> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    if meta.len() > cutover_aws::service::MAX_APPSPEC_BYTES as u64 {
        anyhow::bail!(
            "{flag}: {} is {} bytes; the limit is {}",
            path.display(),
            meta.len(),
            cutover_aws::service::MAX_APPSPEC_BYTES
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("{flag}: cannot read {} as UTF-8 text", path.display()))
}

async fn find_config(app: &Cutover, name: &str) -> Result<DeploymentConfig, Failure> {
    if let Some(c) = DeploymentConfig::predefined(name) {
        return Ok(c);
    }
    match app.store.get_config(name).await {
        Ok(Some(c)) => Ok(c),
        _ => Err(Error::refused(
            "UnknownConfig",
            cutover_core::config::ConfigError::unknown_name(name).to_string(),
        )
        .into()),
    }
}
