//! `cutover`: progressive delivery for AWS Lambda aliases and ECS services, from the
//! command line.
//!
//! Without `--local`, the deployment commands go through the functions Cutover's stack
//! deployed ([`remote`]); with it, this process works on the table and AWS directly.

mod deploy;
mod drive;
mod hints;
mod remote;
mod render;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};
use cutover_aws::functions::ControlInput;
use cutover_aws::{Cutover, Error};
use cutover_core::config::DeploymentConfig;
use cutover_core::group::DeploymentGroup;
use deploy::deploy;
use remote::{Function, Remote, Role};
use render::{continue_line, list_line, print_plan, status_text, stop_line, View};
use serde_json::{json, Value};
use std::process::ExitCode;

const EXIT_OK: u8 = 0;
const EXIT_ENDED_BADLY: u8 = 1;
const EXIT_REFUSED: u8 = 2;
/// `deploy --wait` in remote mode stopped waiting on Ctrl-C; the deployment goes on.
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser, Debug)]
#[command(
    name = "cutover",
    version,
    about = "Shift a Lambda alias or an ECS service (blue/green behind an ALB) to a new version, CodeDeploy-style.",
    long_about = "Shift a Lambda alias from its current version to a target version, or an ECS \
service from its task set to a replacement task set through ALB weighted target groups, on a \
canary, linear, all-at-once or custom schedule; run the AppSpec's hooks, watch CloudWatch \
alarms and roll back when something is wrong.\n\n\
Two ways to run the deployment commands (deploy, status, stop, continue, list):\n\n\
- Remote, the default: they call the `start` and `control` functions of the stack you \
deployed with `sam deploy`, and the deployment runs in AWS (Step Functions), whether or not \
this machine stays connected. Name the stack with --stack (or CUTOVER_STACK): its outputs \
StartFunctionName and ControlFunctionName name the functions. Or name the functions \
themselves with --start-function / --control-function (CUTOVER_START_FUNCTION, \
CUTOVER_CONTROL_FUNCTION). Operators need only lambda:InvokeFunction on them.\n\n\
- Local, with --local (or CUTOVER_LOCAL=1): this process reads and writes the DynamoDB table \
and calls AWS itself, and `deploy` runs the deployment loop here, creating the table if \
missing. For a laptop, tests and the local emulator.\n\n\
`group put`, `group get`, `groups`, `config put`, `configs` and `plan` always work on the \
table directly: --table (or CUTOVER_TABLE), else the stack's TableName output when --stack is \
given, else `cutover`.\n\n\
ECS services (and Lambda defaults) are described by deployment groups: `cutover group put \
--file group.yaml`, then `cutover deploy --group APP/NAME`.\n\n\
Endpoint, region and credentials come from the standard AWS settings (AWS_REGION, \
AWS_PROFILE, AWS_ENDPOINT_URL, ...).",
    after_help = "Examples, remote (the stack `sam deploy` created is named cutover):\n  \
cutover --stack cutover deploy --appspec appspec.yaml --wait\n  \
cutover --stack cutover deploy --appspec appspec.yaml --config CodeDeployDefault.LambdaCanary10Percent5Minutes --alarm ErrorsHigh --wait\n  \
export CUTOVER_STACK=cutover\n  \
cutover status d-ABCDEF123 --output json\n  \
cutover stop d-ABCDEF123 --rollback\n  \
cutover stop d-ABCDEF123 --force\n  \
cutover continue d-ABCDEF123\n  \
cutover list --active\n\
Examples, local (this process does the work):\n  \
cutover deploy --local --appspec appspec.yaml --config Canary10Percent5Minutes --alarm ErrorsHigh --wait\n  \
cutover deploy --local --group shop/web-prod --appspec appspec-ecs.yaml --wait\n  \
cutover --local status d-ABCDEF123\n  \
cutover drive d-ABCDEF123 --local --wait\n\
Examples, on the table (either way):\n  \
cutover --stack cutover group put --file web-prod.yaml\n  \
cutover plan --config Linear10PercentEvery1Minute\n  \
cutover configs"
)]
struct Cli {
    /// Work from this process: read and write the table and call AWS directly, and run
    /// `deploy`'s loop here. Without it, deploy, status, stop, continue and list call the
    /// deployed functions.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_LOCAL",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new(),
        help_heading = "Where Cutover runs"
    )]
    local: bool,
    /// The stack `sam deploy` created: its outputs name the functions (and the table).
    #[arg(
        long,
        global = true,
        env = "CUTOVER_STACK",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    stack: Option<String>,
    /// The deployed start function (name or ARN), instead of the stack's StartFunctionName.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_START_FUNCTION",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    start_function: Option<String>,
    /// The deployed control function (name or ARN), instead of the stack's
    /// ControlFunctionName.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_CONTROL_FUNCTION",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    control_function: Option<String>,
    /// DynamoDB table holding deployments, groups and custom configurations, for --local and
    /// the table commands [default: the stack's TableName output with --stack, else cutover].
    #[arg(
        long,
        global = true,
        env = "CUTOVER_TABLE",
        help_heading = "Where Cutover runs"
    )]
    table: Option<String>,
    /// SNS topic for DeploymentStart/Success/Failure/Stop/Rollback notifications (--local).
    #[arg(
        long,
        global = true,
        env = "CUTOVER_TOPIC_ARN",
        help_heading = "Where Cutover runs"
    )]
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
    #[command(flatten)]
    Deployment(DeploymentCommand),
    #[command(flatten)]
    Table(TableCommand),
}

/// The commands that go through the deployed functions unless `--local`.
#[derive(Subcommand, Debug)]
enum DeploymentCommand {
    /// Start a deployment from a CodeDeploy AppSpec (Lambda, or ECS with --group): through
    /// the deployed start function, or in this process with --local.
    #[command(
        after_help = "Exit codes: 0 succeeded (remote without --wait: started); 1 failed, stopped or rolled \
back, AWS failed, or the deployment could not be followed to its end; 2 refused before anything changed (invalid input, missing resource, another \
deployment in progress, no function configured); 130 remote --wait interrupted by Ctrl-C (the \
deployment goes on in AWS).\n\n\
Remote (the default): the start function records the deployment and hands it to the deployed \
state machine; --wait follows it through the control function, and Ctrl-C only stops waiting. \
Local (--local): this process runs the deployment to its end, --wait or not; Ctrl-C stops it \
and rolls back.\n\n\
Examples:\n  \
cutover --stack cutover deploy --appspec appspec.yaml --wait\n  \
cutover deploy --local --appspec appspec.yaml --config Canary10Percent5Minutes --wait"
    )]
    Deploy(DeployArgs),
    /// Show a deployment: status, traffic, lifecycle events, error (and, with --local, the
    /// last entries of its event log).
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
    /// primary, replacement deleted). With --force, end it now whatever its state.
    #[command(
        after_help = "A stop is decided before anything is read, so a deleted alias or a missing permission does not keep a deployment from stopping; the rollback it asks for is then made by the driver.

--force ends any unfinished deployment at once — also one whose rollback cannot complete (the current version was deleted, say) — without reading or touching its target: it releases the target's lock, records status Stopped with error code ABANDONED and a message saying where the target was left as last recorded, and sends the stop notification. Check the target and set it by hand afterwards.

Examples:
  cutover stop d-ABCDEF123 --rollback
  cutover stop d-ABCDEF123 --force"
    )]
    Stop {
        /// Deployment id.
        id: String,
        /// Roll back (the default when the deployment group says `autoRollback.onStop: true`).
        #[arg(long, conflicts_with_all = ["no_rollback", "force"])]
        rollback: bool,
        /// Leave traffic where it is, whatever the deployment group says.
        #[arg(long, conflicts_with = "force")]
        no_rollback: bool,
        /// End the deployment now without touching its target (status Stopped, ABANDONED).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Resume an unfinished deployment from its record: in this process with --local (for
    /// example after the `deploy --local` that drove it was killed), else by starting the
    /// deployed state machine on it again.
    #[command(
        after_help = "A deployment has one driver at a time. Locally, the driving process holds a lease on the deployment, renewed while it lives: a second `drive` exits 2 naming the holder, or with --wait waits until it ends or lets go. A `deploy --local` killed with `kill -9` stops renewing, and `drive --local` takes over within 30 s. In AWS, a deployment whose state machine execution is still running is refused the same way.

SIGINT and SIGTERM (Ctrl-C, a cancelled CI job) stop the deployment with a rollback and drive the rollback to its end; a second signal exits at once, leaving the deployment for `drive`.

Exit codes as for deploy: 0 succeeded, 1 ended otherwise, 2 refused (unknown deployment, being driven), 130 interrupted.

Examples:
  cutover drive d-ABCDEF123 --local --wait
  cutover --stack cutover drive d-ABCDEF123 --wait"
    )]
    Drive(DriveArgs),
    /// Release an ECS deployment waiting at Ready (readyWait.action: stop), or end its
    /// termination wait now (delete the original task set without waiting).
    Continue {
        /// Deployment id.
        id: String,
        #[command(flatten)]
        out: OutputArg,
    },
}

/// The commands that work on the table directly.
#[derive(Subcommand, Debug)]
enum TableCommand {
    /// Manage deployment groups: where an ECS service's cluster, listeners and target
    /// groups are described, and defaults (config, alarms, rollback) for its deployments.
    /// Works on the table directly.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// List the stored deployment groups (read from the table).
    Groups {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show the traffic schedule of a configuration, without deploying (custom
    /// configurations are read from the table).
    Plan {
        /// Configuration name (CodeDeployDefault.*, SAM short name, or a custom one).
        #[arg(long)]
        config: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// List the predefined and custom deployment configurations (custom ones from the
    /// table).
    Configs {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Manage custom deployment configurations. Works on the table directly.
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
struct DriveArgs {
    /// Deployment id.
    id: String,
    /// Wait for another driver to end or let go instead of refusing; remote: follow the
    /// deployment to its end.
    #[arg(long)]
    wait: bool,
    /// The time scale the deployment was started with (a check: a deployment keeps its
    /// own; a different value is refused).
    #[arg(long)]
    time_scale: Option<f64>,
    #[command(flatten)]
    out: OutputArg,
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
    /// Wait for the deployment to end, printing its progress; the exit code tells how it
    /// ended. (--local always runs the deployment to its end.)
    #[arg(long)]
    wait: bool,
    /// Make every configured wait X times shorter (demos and tests only; 60 turns a minute
    /// into a second).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    #[command(flatten)]
    out: OutputArg,
}

/// An error with the exit code it maps to.
#[derive(Debug, Clone)]
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
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let output = match &cli.command {
        Command::Deployment(DeploymentCommand::Deploy(a)) => a.out.output,
        Command::Deployment(DeploymentCommand::Drive(a)) => a.out.output,
        Command::Deployment(
            DeploymentCommand::Status { out, .. }
            | DeploymentCommand::List { out, .. }
            | DeploymentCommand::Stop { out, .. }
            | DeploymentCommand::Continue { out, .. },
        )
        | Command::Table(
            TableCommand::Plan { out, .. }
            | TableCommand::Groups { out }
            | TableCommand::Configs { out }
            | TableCommand::Config {
                command: ConfigCommand::Put { out, .. },
            }
            | TableCommand::Group {
                command: GroupCommand::Put { out, .. } | GroupCommand::Get { out, .. },
            },
        ) => out.output,
    };
    let given = Given {
        start: given(&matches, "start_function", &cli.start_function, Role::Start),
        control: given(
            &matches,
            "control_function",
            &cli.control_function,
            Role::Control,
        ),
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
    match rt.block_on(run(cli, given)) {
        Ok(code) => ExitCode::from(code),
        Err(mut f) => {
            let profile = std::env::var("AWS_PROFILE").ok();
            if let Some(hint) = hints::credentials_hint(&f.message, profile.as_deref()) {
                f.message = format!("{}\n  hint: {hint}", f.message);
            }
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

/// The functions named by flag or environment, before the stack is read.
struct Given {
    start: Option<Function>,
    control: Option<Function>,
}

/// A function named by its flag or its variable, with which of the two named it.
fn given(matches: &ArgMatches, id: &str, value: &Option<String>, role: Role) -> Option<Function> {
    let name = value.as_ref().filter(|v| !v.is_empty())?;
    let named_by = match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => role.env(),
        _ => role.flag(),
    };
    Some(Function {
        role,
        name: name.clone(),
        named_by: named_by.to_string(),
    })
}

/// Where the deployment commands go.
pub(crate) enum Mode {
    /// `--local`: this process, on the table.
    Local(Cutover),
    /// The deployed functions.
    Remote(Remote),
}

/// A deployment's summary JSON and its view for the text renderers.
type Shown = (Value, View);

/// Reads a summary the control function answered.
fn shown(summary: Value) -> Result<Shown, Failure> {
    match View::from_summary(&summary) {
        Ok(view) => Ok((summary, view)),
        Err(e) => Err(Failure {
            code: EXIT_ENDED_BADLY,
            error_code: "FunctionError".into(),
            message: format!("the control function answered with an unexpected summary: {e}"),
        }),
    }
}

/// `status` through the control function.
pub(crate) async fn remote_status(remote: &Remote, id: &str) -> Result<Shown, Failure> {
    let summary = remote
        .control(&ControlInput::Status {
            deployment_id: id.to_string(),
        })
        .await?;
    shown(summary)
}

impl Mode {
    async fn status(&self, id: &str) -> Result<Shown, Failure> {
        match self {
            Mode::Local(app) => {
                let dep = app.store.load(id).await?;
                Ok((dep.summary(), View::of(&dep)))
            }
            Mode::Remote(r) => remote_status(r, id).await,
        }
    }

    async fn list(&self, active: bool) -> Result<Vec<Shown>, Failure> {
        match self {
            Mode::Local(app) => Ok(app
                .store
                .list(active)
                .await?
                .iter()
                .map(|d| (d.summary(), View::of(d)))
                .collect()),
            Mode::Remote(r) => match r.control(&ControlInput::List { active }).await? {
                Value::Array(all) => all.into_iter().map(shown).collect(),
                other => Err(Failure {
                    code: EXIT_ENDED_BADLY,
                    error_code: "FunctionError".into(),
                    message: format!(
                        "the control function answered list with something that is not an array: {other}"
                    ),
                }),
            },
        }
    }

    async fn stop(&self, id: &str, rollback: Option<bool>, force: bool) -> Result<Shown, Failure> {
        match self {
            Mode::Local(app) => {
                let dep = if force {
                    let reason = Some("`cutover stop --force`".to_string());
                    app.abandon(id, reason).await?.deployment
                } else {
                    let reason = Some("stopped by `cutover stop`".to_string());
                    app.stop(id, rollback, reason).await?.deployment
                };
                Ok((dep.summary(), View::of(&dep)))
            }
            Mode::Remote(r) => shown(
                r.control(&ControlInput::Stop {
                    deployment_id: id.to_string(),
                    rollback,
                    force,
                    from_driver: false,
                })
                .await?,
            ),
        }
    }

    async fn proceed(&self, id: &str) -> Result<Shown, Failure> {
        match self {
            Mode::Local(app) => {
                let dep = app.proceed(id).await?.deployment;
                Ok((dep.summary(), View::of(&dep)))
            }
            Mode::Remote(r) => shown(
                r.control(&ControlInput::Continue {
                    deployment_id: id.to_string(),
                })
                .await?,
            ),
        }
    }
}

async fn run(cli: Cli, given: Given) -> Result<u8, Failure> {
    let sdk = cutover_aws::clients::aws_config().await;
    let remote = !cli.local && matches!(cli.command, Command::Deployment(_));
    // The stack is read only for what no flag or variable gave: the start function for
    // deploy, the control function for every deployment command (deploy --wait follows
    // the deployment through it), the table for the rest.
    let deploying = matches!(
        cli.command,
        Command::Deployment(DeploymentCommand::Deploy(_))
    );
    let stack_needed = if remote {
        (deploying && given.start.is_none()) || given.control.is_none()
    } else {
        cli.table.is_none()
    };
    let outputs = match (&cli.stack, stack_needed) {
        (Some(stack), true) => {
            let cf = aws_sdk_cloudformation::Client::new(&sdk);
            Some(remote::describe_stack(&cf, stack).await?)
        }
        _ => None,
    };
    let stack = cli.stack.as_deref().zip(outputs.as_ref());
    if let (true, Command::Deployment(command)) = (remote, &cli.command) {
        let mode = Mode::Remote(Remote::new(
            aws_sdk_lambda::Client::new(&sdk),
            remote::pick(Role::Start, given.start, stack),
            remote::pick(Role::Control, given.control, stack),
        ));
        return run_deployments(&mode, command).await;
    }
    let table = match (&cli.table, stack) {
        (Some(table), _) => table.clone(),
        (None, Some((name, outputs))) => {
            remote::stack_output(name, outputs, "TableName")?.to_string()
        }
        (None, None) => cutover_aws::clients::DEFAULT_TABLE.to_string(),
    };
    let settings = cutover_aws::clients::Settings {
        table: Some(table),
        topic_arn: cli.topic_arn.clone(),
    };
    let app = cutover_aws::clients::build(&sdk, &settings);
    match &cli.command {
        Command::Deployment(command) => run_deployments(&Mode::Local(app), command).await,
        Command::Table(command) => run_table(&app, command).await,
    }
}

/// deploy, status, list, stop and continue, in either mode.
async fn run_deployments(mode: &Mode, command: &DeploymentCommand) -> Result<u8, Failure> {
    match command {
        DeploymentCommand::Deploy(args) => return deploy(mode, args).await,
        DeploymentCommand::Status { id, out } => {
            let (summary, view) = mode.status(id).await?;
            match out.output {
                Output::Json => println!("{summary}"),
                Output::Text => {
                    print!("{}", status_text(&view));
                    if let Mode::Local(app) = mode {
                        if let Ok(log) = app.store.log(id).await {
                            println!("  log");
                            for l in log.iter().rev().take(10).rev() {
                                println!("    {:>4} {}", l.seq, l.message);
                            }
                        }
                    }
                }
            }
        }
        DeploymentCommand::List { active, out } => {
            let (active, out) = (*active, out);
            let list = mode.list(active).await?;
            match out.output {
                Output::Json => println!(
                    "{}",
                    Value::Array(list.into_iter().map(|(s, _)| s).collect())
                ),
                Output::Text => {
                    if list.is_empty() {
                        println!("no deployments{}", if active { " in progress" } else { "" });
                    }
                    for (_, view) in &list {
                        println!("{}", list_line(view));
                    }
                }
            }
        }
        DeploymentCommand::Drive(args) => return drive::drive(mode, args).await,
        DeploymentCommand::Stop {
            id,
            rollback,
            no_rollback,
            force,
            out,
        } => {
            let rollback = match (rollback, no_rollback) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let (summary, view) = mode.stop(id, rollback, *force).await?;
            match out.output {
                Output::Json => println!("{summary}"),
                Output::Text => println!("{}", stop_line(&view)),
            }
        }
        DeploymentCommand::Continue { id, out } => {
            let (summary, view) = mode.proceed(id).await?;
            match out.output {
                Output::Json => println!("{summary}"),
                Output::Text => println!("{}", continue_line(&view)),
            }
        }
    }
    Ok(EXIT_OK)
}

/// The commands that work on the table directly.
async fn run_table(app: &Cutover, command: &TableCommand) -> Result<u8, Failure> {
    match command {
        TableCommand::Group {
            command: GroupCommand::Put { file, out },
        } => {
            let text = read_input(file, "--file")?;
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
        TableCommand::Group {
            command: GroupCommand::Get { key, out },
        } => {
            let group = app.group(key).await?;
            match out.output {
                Output::Json => println!("{}", group.to_document()),
                Output::Text => print!(
                    "{}",
                    serde_yaml_ng::to_string(&group.to_document()).unwrap_or_default()
                ),
            }
            Ok(EXIT_OK)
        }
        TableCommand::Groups { out } => {
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
        TableCommand::Plan { config, out } => {
            let config = find_config(app, config).await?;
            print_plan(&config, out.output);
            Ok(EXIT_OK)
        }
        TableCommand::Configs { out } => {
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
        TableCommand::Config {
            command: ConfigCommand::Put { file, out },
        } => {
            let text = read_input(file, "--file")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<(Cli, ArgMatches), clap::Error> {
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        Ok((cli, matches))
    }

    /// One test for every parse: the flags read the environment, which tests share.
    #[test]
    fn local_is_global_and_settings_say_where_they_came_from() {
        Cli::command().debug_assert();
        for var in [
            "CUTOVER_LOCAL",
            "CUTOVER_STACK",
            "CUTOVER_START_FUNCTION",
            "CUTOVER_CONTROL_FUNCTION",
            "CUTOVER_TABLE",
        ] {
            std::env::remove_var(var);
        }
        for args in [
            &["cutover", "deploy", "--local", "--appspec", "a.yaml"][..],
            &["cutover", "--local", "status", "d-ABCDEFGHI"],
            &["cutover", "status", "d-ABCDEFGHI", "--local"],
            &["cutover", "list", "--local", "--active"],
        ] {
            assert!(parse(args).unwrap().0.local, "{args:?}");
        }
        assert!(
            !parse(&["cutover", "status", "d-ABCDEFGHI"])
                .unwrap()
                .0
                .local
        );
        let (cli, m) = parse(&[
            "cutover",
            "stop",
            "d-ABCDEFGHI",
            "--control-function",
            "ctl",
            "--stack",
            "prod",
        ])
        .unwrap();
        assert_eq!(cli.stack.as_deref(), Some("prod"));
        let f = given(&m, "control_function", &cli.control_function, Role::Control).unwrap();
        assert_eq!(
            (f.name.as_str(), f.named_by.as_str()),
            ("ctl", "--control-function")
        );
        assert!(given(&m, "start_function", &cli.start_function, Role::Start).is_none());
        assert!(
            cli.table.is_none(),
            "no default table: the stack's may apply"
        );
        assert!(parse(&[
            "cutover",
            "deploy",
            "--appspec",
            "a",
            "--state-machine-arn",
            "x"
        ])
        .is_err());

        std::env::set_var("CUTOVER_LOCAL", "1");
        std::env::set_var("CUTOVER_CONTROL_FUNCTION", "ctl-from-env");
        let (cli, m) = parse(&["cutover", "continue", "d-ABCDEFGHI"]).unwrap();
        assert!(cli.local);
        let f = given(&m, "control_function", &cli.control_function, Role::Control).unwrap();
        assert_eq!(
            (f.name.as_str(), f.named_by.as_str()),
            ("ctl-from-env", "CUTOVER_CONTROL_FUNCTION")
        );
        std::env::set_var("CUTOVER_LOCAL", "true");
        assert!(parse(&["cutover", "configs"]).unwrap().0.local);
        std::env::set_var("CUTOVER_LOCAL", "0");
        assert!(!parse(&["cutover", "configs"]).unwrap().0.local);
        std::env::set_var("CUTOVER_LOCAL", "perhaps");
        assert!(parse(&["cutover", "configs"]).is_err());
        std::env::remove_var("CUTOVER_LOCAL");
        std::env::remove_var("CUTOVER_CONTROL_FUNCTION");
    }
}
