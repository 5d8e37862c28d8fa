//! `cutover`: progressive delivery for AWS Lambda aliases and ECS services, from the
//! command line.
//!
//! Without `--local`, the deployment commands go through the functions Cutover's stack
//! deployed ([`remote`]); with it, this process works on the table and AWS directly.

mod args;
mod caller;
mod deploy;
mod drive;
mod hints;
mod remote;
mod render;

use anyhow::Context;
use args::*;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use cutover_aws::functions::{with_requester, ControlInput, QueryInput};
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
        query: given(&matches, "query_function", &cli.query_function, Role::Query),
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
    query: Option<Function>,
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

/// `status` through the query function (or the control function of an earlier stack).
pub(crate) async fn remote_status(remote: &Remote, id: &str) -> Result<Shown, Failure> {
    let summary = remote
        .query(&QueryInput::Status {
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

    /// One page of deployments and the next page's token.
    async fn list(
        &self,
        active: bool,
        limit: usize,
        token: Option<&str>,
    ) -> Result<(Vec<Shown>, Option<String>), Failure> {
        match self {
            Mode::Local(app) => {
                let page = app.store.list_page(active, limit, token).await?;
                let shown = page
                    .deployments
                    .iter()
                    .map(|d| (d.summary(), View::of(d)))
                    .collect();
                Ok((shown, page.next_token))
            }
            Mode::Remote(r) => {
                let input = QueryInput::List {
                    active,
                    limit: Some(limit),
                    next_token: token.map(str::to_string),
                };
                let answer = r.query(&input).await?;
                let next = answer["nextToken"].as_str().map(str::to_string);
                match answer.get("deployments") {
                    Some(Value::Array(all)) => Ok((
                        all.iter().cloned().map(shown).collect::<Result<_, _>>()?,
                        next,
                    )),
                    _ => Err(Failure {
                        code: EXIT_ENDED_BADLY,
                        error_code: "FunctionError".into(),
                        message: format!(
                            "the query function answered list without a deployments array: {answer}"
                        ),
                    }),
                }
            }
        }
    }

    async fn stop(&self, id: &str, rollback: Option<bool>, force: bool) -> Result<Shown, Failure> {
        match self {
            Mode::Local(app) => {
                let who = caller::arn();
                let dep = if force {
                    let reason = with_requester("`cutover stop --force`", who.as_deref());
                    app.abandon(id, Some(reason)).await?.deployment
                } else {
                    let reason = with_requester("stopped by `cutover stop`", who.as_deref());
                    app.stop(id, rollback, Some(reason)).await?.deployment
                };
                Ok((dep.summary(), View::of(&dep)))
            }
            Mode::Remote(r) => shown(
                r.control(&ControlInput::Stop {
                    deployment_id: id.to_string(),
                    rollback,
                    force,
                    from_driver: false,
                    requested_by: caller::arn(),
                })
                .await?,
            ),
        }
    }

    async fn proceed(&self, id: &str) -> Result<Shown, Failure> {
        match self {
            Mode::Local(app) => {
                let dep = app
                    .proceed_by(id, caller::arn().as_deref())
                    .await?
                    .deployment;
                Ok((dep.summary(), View::of(&dep)))
            }
            Mode::Remote(r) => shown(
                r.control(&ControlInput::Continue {
                    deployment_id: id.to_string(),
                    requested_by: caller::arn(),
                })
                .await?,
            ),
        }
    }
}

async fn run(cli: Cli, given: Given) -> Result<u8, Failure> {
    let sdk = cutover_aws::clients::aws_config().await;
    // Changing requests say who asks.
    if matches!(
        cli.command,
        Command::Deployment(
            DeploymentCommand::Deploy(_)
                | DeploymentCommand::Stop { .. }
                | DeploymentCommand::Continue { .. }
        )
    ) {
        caller::resolve(&sdk).await;
    }
    let remote = !cli.local && matches!(cli.command, Command::Deployment(_));
    // The stack is read only for what no flag or variable gave: the start function for
    // deploy, the control function for every deployment command (deploy --wait follows
    // the deployment through it), the table for the rest.
    let deploying = matches!(
        cli.command,
        Command::Deployment(DeploymentCommand::Deploy(_))
    );
    let stack_needed = if remote {
        let reading = matches!(
            cli.command,
            Command::Deployment(DeploymentCommand::Status { .. } | DeploymentCommand::List { .. })
        ) || matches!(&cli.command, Command::Deployment(DeploymentCommand::Deploy(d)) if d.wait);
        (deploying && given.start.is_none())
            || given.control.is_none()
            || (reading && given.query.is_none())
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
            remote::pick(Role::Query, given.query, stack).ok(),
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
        DeploymentCommand::List {
            active,
            limit,
            next_token,
            out,
        } => {
            let (list, next) = mode
                .list(*active, usize::from(*limit), next_token.as_deref())
                .await?;
            match out.output {
                Output::Json => println!(
                    "{}",
                    json!({
                        "deployments": list.into_iter().map(|(s, _)| s).collect::<Vec<_>>(),
                        "nextToken": next,
                    })
                ),
                Output::Text => {
                    if list.is_empty() {
                        println!(
                            "no deployments{}",
                            if *active { " in progress" } else { "" }
                        );
                    }
                    for (_, view) in &list {
                        println!("{}", list_line(view));
                    }
                    if let Some(token) = next {
                        let flag = if *active { " --active" } else { "" };
                        println!("more: cutover list{flag} --limit {limit} --next-token {token}");
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
