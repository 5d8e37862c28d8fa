//! The command line's grammar: every command, flag and help text (clap derive).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

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
StartFunctionName, ControlFunctionName and QueryFunctionName name the functions. Or name the functions \
themselves with --start-function / --control-function / --query-function \
(CUTOVER_START_FUNCTION, CUTOVER_CONTROL_FUNCTION, CUTOVER_QUERY_FUNCTION). Reading (status, \
list) needs lambda:InvokeFunction on the query function only; deploying, stopping and \
continuing on the start and control functions.\n\n\
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
pub(crate) struct Cli {
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
    pub(crate) local: bool,
    /// The stack `sam deploy` created: its outputs name the functions (and the table).
    #[arg(
        long,
        global = true,
        env = "CUTOVER_STACK",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) stack: Option<String>,
    /// The deployed start function (name or ARN), instead of the stack's StartFunctionName.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_START_FUNCTION",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) start_function: Option<String>,
    /// The deployed control function (name or ARN), instead of the stack's
    /// ControlFunctionName.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_CONTROL_FUNCTION",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) control_function: Option<String>,
    /// The deployed query function (name or ARN), for status and list, instead of the
    /// stack's QueryFunctionName; without either, they go to the control function.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_QUERY_FUNCTION",
        value_name = "NAME",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) query_function: Option<String>,
    /// DynamoDB table holding deployments, groups and custom configurations, for --local and
    /// the table commands [default: the stack's TableName output with --stack, else cutover].
    #[arg(
        long,
        global = true,
        env = "CUTOVER_TABLE",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) table: Option<String>,
    /// SNS topic for DeploymentStart/Success/Failure/Stop/Rollback notifications (--local).
    #[arg(
        long,
        global = true,
        env = "CUTOVER_TOPIC_ARN",
        help_heading = "Where Cutover runs"
    )]
    pub(crate) topic_arn: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct OutputArg {
    /// Output format: text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    #[command(flatten)]
    Deployment(DeploymentCommand),
    #[command(flatten)]
    Table(TableCommand),
}

/// The commands that go through the deployed functions unless `--local`.
#[derive(Subcommand, Debug)]
pub(crate) enum DeploymentCommand {
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
    /// List deployments a page at a time: those in progress first, then the ended ones,
    /// each newest first.
    #[command(
        after_help = "A page ends with the command for the next one (`more: cutover list --next-token ...`); with --output json the page is {\"deployments\": [...], \"nextToken\": ...}, nextToken null on the last page."
    )]
    List {
        /// Only deployments still in progress.
        #[arg(long)]
        active: bool,
        /// At most this many deployments (1 to 100).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=100))]
        limit: u16,
        /// Where the previous page ended (its nextToken).
        #[arg(long, value_name = "TOKEN")]
        next_token: Option<String>,
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
pub(crate) enum TableCommand {
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
pub(crate) enum ConfigCommand {
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
pub(crate) enum GroupCommand {
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
pub(crate) struct DriveArgs {
    /// Deployment id.
    pub(crate) id: String,
    /// Wait for another driver to end or let go instead of refusing; remote: follow the
    /// deployment to its end.
    #[arg(long)]
    pub(crate) wait: bool,
    /// The time scale the deployment was started with (a check: a deployment keeps its
    /// own; a different value is refused).
    #[arg(long)]
    pub(crate) time_scale: Option<f64>,
    #[command(flatten)]
    pub(crate) out: OutputArg,
}

#[derive(Args, Debug)]
pub(crate) struct DeployArgs {
    /// AppSpec file (YAML or JSON), as CodeDeploy reads it.
    #[arg(long)]
    pub(crate) appspec: std::path::PathBuf,
    /// Deployment group APPLICATION/NAME (see `cutover groups`): required for ECS; its
    /// config, alarms, rollback and hook timeout are the defaults the flags override.
    #[arg(long, value_name = "APP/NAME")]
    pub(crate) group: Option<String>,
    /// Deployment configuration (default: the group's, else CodeDeployDefault.LambdaAllAtOnce
    /// or CodeDeployDefault.ECSAllAtOnce). See `cutover configs`.
    #[arg(long)]
    pub(crate) config: Option<String>,
    /// CloudWatch alarm to watch; repeat for more (at most 10).
    #[arg(long = "alarm", value_name = "NAME")]
    pub(crate) alarms: Vec<String>,
    /// Do not roll back when the deployment fails or an alarm fires.
    #[arg(long)]
    pub(crate) no_auto_rollback: bool,
    /// Start even if a watched alarm is in ALARM; only a new transition to ALARM counts.
    #[arg(long)]
    pub(crate) ignore_firing_alarms: bool,
    /// How long a hook may take to give its verdict (default: the group's, else 3600).
    #[arg(long)]
    pub(crate) hook_timeout_seconds: Option<u64>,
    /// ECS: how long the replacement task set may take to become steady before the
    /// deployment fails (traffic never moves to an unsteady replacement).
    #[arg(long, default_value_t = 900)]
    pub(crate) install_timeout_seconds: u64,
    /// How often alarms are read while waiting.
    #[arg(long, default_value_t = 10)]
    pub(crate) alarm_poll_seconds: u64,
    /// Wait for the deployment to end, printing its progress; the exit code tells how it
    /// ended. (--local always runs the deployment to its end.)
    #[arg(long)]
    pub(crate) wait: bool,
    /// Make every configured wait X times shorter (demos and tests only; 60 turns a minute
    /// into a second).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) time_scale: f64,
    #[command(flatten)]
    pub(crate) out: OutputArg,
}
