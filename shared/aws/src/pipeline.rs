//! The `pipeline` function: a CodePipeline "Invoke" action (provider Lambda) that runs a
//! Cutover deployment as a pipeline step.
//!
//! CodePipeline invokes the function with a job. The first invocation reads the job's user
//! parameters and AppSpec, starts the deployment with the job id as its client token (a job
//! delivered twice starts one deployment) and answers `PutJobSuccessResult` with the
//! deployment id as `continuationToken`. CodePipeline then invokes the function again with
//! that token, about every 30 seconds: while the deployment runs, the answer is another
//! continuation with its progress (`percentComplete`); at the end it is
//! `PutJobSuccessResult` without a token, or `PutJobFailureResult`.
//!
//! The function answers CodePipeline itself and returns normally even when the job fails,
//! so CodePipeline learns why at once instead of waiting out the action's timeout.

use crate::error::{Error, Result};
use crate::functions::App;
use crate::service::StartRequest;
use aws_sdk_codepipeline::types::{CurrentRevision, ExecutionDetails, FailureDetails, FailureType};
use cutover_core::model::{Deployment, DeploymentStatus, EventStatus};
use lambda_runtime::tracing;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Read;

/// AppSpec file names tried in the input artifact when the user parameters name none.
pub const DEFAULT_APPSPEC_FILES: [&str; 3] = ["appspec.yaml", "appspec.yml", "appspec.json"];
/// Largest input artifact read, in bytes (zipped).
pub const MAX_ARTIFACT_BYTES: u64 = 32 * 1024 * 1024;

/// The job, as CodePipeline sends it under `CodePipeline.job`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id.
    pub id: String,
    /// Job data.
    pub data: JobData,
}

/// The job's data.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobData {
    /// The action's configuration (`FunctionName`, `UserParameters`).
    pub action_configuration: ActionConfiguration,
    /// Input artifacts.
    #[serde(default)]
    pub input_artifacts: Vec<Artifact>,
    /// Temporary credentials for the artifact bucket.
    pub artifact_credentials: Option<ArtifactCredentials>,
    /// Set on the invocations after the first: the deployment id.
    pub continuation_token: Option<String>,
}

/// The action's configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionConfiguration {
    /// Configuration keys (`FunctionName`, `UserParameters`).
    pub configuration: std::collections::HashMap<String, String>,
}

/// An input artifact.
#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    /// Artifact name.
    pub name: String,
    /// Where it is.
    pub location: ArtifactLocation,
}

/// An artifact's location.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactLocation {
    /// `S3`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object.
    pub s3_location: Option<S3Location>,
}

/// An S3 object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Location {
    /// Bucket.
    pub bucket_name: String,
    /// Key.
    pub object_key: String,
}

/// Temporary credentials CodePipeline gives the action for its artifacts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret key.
    pub secret_access_key: String,
    /// Session token.
    pub session_token: String,
}

/// The action's `UserParameters`, a JSON object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserParameters {
    /// Deployment group `APPLICATION/NAME`.
    pub group: Option<String>,
    /// Deployment configuration.
    pub config: Option<String>,
    /// The AppSpec itself, instead of a file in the input artifact.
    pub appspec: Option<String>,
    /// Path of the AppSpec in the input artifact (default: appspec.yaml, .yml, .json).
    pub appspec_file: Option<String>,
    /// Input artifact holding the AppSpec, when the action has several (default: the first).
    pub artifact: Option<String>,
    /// Alarms to watch (the group's when absent).
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Application name for notifications, without a group.
    pub application: Option<String>,
    /// Hook timeout in seconds.
    pub hook_timeout_seconds: Option<u64>,
    /// ECS install timeout in seconds.
    pub install_timeout_seconds: Option<u64>,
    /// No rollback on failure or alarm.
    #[serde(default)]
    pub no_auto_rollback: bool,
    /// Start although a watched alarm is in ALARM.
    #[serde(default)]
    pub ignore_firing_alarms: bool,
}

/// Reads the job out of the Lambda event.
pub fn job(event: &Value) -> Result<Job> {
    let raw = event.get("CodePipeline.job").ok_or_else(|| {
        Error::refused(
            "InvalidEvent",
            "pipeline: expected a CodePipeline job event (with \"CodePipeline.job\"); invoke this function from a CodePipeline Invoke action",
        )
    })?;
    serde_json::from_value(raw.clone())
        .map_err(|e| Error::refused("InvalidEvent", format!("pipeline: CodePipeline.job: {e}")))
}

/// Parses the action's `UserParameters` (absent means `{}`).
pub fn user_parameters(job: &Job) -> Result<UserParameters> {
    let text = job
        .data
        .action_configuration
        .configuration
        .get("UserParameters")
        .map(String::as_str)
        .unwrap_or("")
        .trim();
    if text.is_empty() {
        return Ok(UserParameters::default());
    }
    serde_json::from_str(text).map_err(|e| {
        Error::refused(
            "InvalidUserParameters",
            format!(
                "UserParameters: {e}; expected JSON such as {{\"group\": \"shop/web-prod\", \"config\": \"CodeDeployDefault.LambdaCanary10Percent5Minutes\"}} (fields: group, config, appspec, appspecFile, artifact, alarms, application, hookTimeoutSeconds, installTimeoutSeconds, noAutoRollback, ignoreFiringAlarms)"
            ),
        )
    })
}

/// Reads one file out of a zip archive (stored or deflated entries, ZIP64 included),
/// refusing archives that are malformed, whose entry fails its CRC-32, or that would
/// inflate the file past `limit` bytes.
pub fn read_zip_entry(archive: &[u8], path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    use zip::result::ZipError;
    let bad = |why: String| Error::refused("InvalidArtifact", format!("input artifact: {why}"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).map_err(|e| {
        bad(match e {
            ZipError::InvalidArchive(_) => format!("not a zip archive ({e})"),
            e => format!("not a zip archive ({e})"),
        })
    })?;
    let wanted = path.trim_start_matches("./");
    let mut file = match zip.by_name(wanted) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(ZipError::UnsupportedArchive(why)) => {
            return Err(bad(format!(
                "{wanted}: {why} (use deflate or no compression)"
            )))
        }
        Err(e) => return Err(bad(format!("{wanted}: {e}"))),
    };
    if file.size() > limit {
        return Err(bad(format!(
            "{wanted} is {} bytes, over the {limit}-byte limit",
            file.size()
        )));
    }
    let mut out = Vec::new();
    // Read to the end: the reader checks the entry's CRC-32 there. The `take` bounds what
    // a lying size field can inflate to.
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("{wanted}: {e}")))?;
    if out.len() as u64 > limit || out.len() as u64 != file.size() {
        return Err(bad(format!(
            "{wanted}: inflated size does not match the archive"
        )));
    }
    Ok(Some(out))
}

/// How far a deployment is, 0 to 100: its lifecycle events done, the traffic shift counted
/// by the share of traffic moved. 100 only once it succeeded.
pub fn percent_complete(dep: &Deployment) -> i32 {
    if dep.status() == DeploymentStatus::Succeeded {
        return 100;
    }
    let total = dep.events.len().max(1) as f64;
    let done: f64 = dep
        .events
        .iter()
        .map(|e| match e.status {
            EventStatus::Succeeded | EventStatus::Skipped => 1.0,
            EventStatus::InProgress if e.name.as_str() == "AllowTraffic" => {
                f64::from(dep.traffic) / 100.0
            }
            _ => 0.0,
        })
        .sum();
    ((done / total * 100.0).floor() as i32).clamp(0, 99)
}

fn summary(dep: &Deployment) -> String {
    let mut text = format!(
        "{} {}: {} with {}, {}% of traffic on the target",
        dep.id,
        dep.status().as_str(),
        dep.target.describe(),
        dep.config.name,
        dep.traffic
    );
    if let Some(e) = dep.error() {
        text.push_str(&format!(" ({}: {})", e.code.as_str(), e.message));
    }
    text.chars().take(2048).collect()
}

/// What the function told CodePipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Still running: asked to be invoked again with this token.
    Continue(String),
    /// The job succeeded.
    Succeeded,
    /// The job failed, of this type.
    Failed(FailureType, String),
}

async fn appspec(app: &App, job: &Job, params: &UserParameters) -> Result<String> {
    if let Some(text) = &params.appspec {
        return Ok(text.clone());
    }
    let artifact = match &params.artifact {
        Some(name) => job.data.input_artifacts.iter().find(|a| &a.name == name).ok_or_else(|| {
            Error::refused(
                "InvalidUserParameters",
                format!(
                    "UserParameters.artifact: the action has no input artifact {name} (it has: {})",
                    job.data.input_artifacts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )
        })?,
        None => job.data.input_artifacts.first().ok_or_else(|| {
            Error::refused(
                "InvalidUserParameters",
                "UserParameters: no AppSpec: give the action an input artifact holding appspec.yaml, or put the AppSpec text in \"appspec\"",
            )
        })?,
    };
    let Some(s3) = artifact
        .location
        .s3_location
        .as_ref()
        .filter(|_| artifact.location.kind == "S3")
    else {
        return Err(Error::refused(
            "InvalidArtifact",
            format!(
                "input artifact {}: only S3 artifacts are supported",
                artifact.name
            ),
        ));
    };
    let bytes = read_artifact(app, job, s3).await?;
    let names: Vec<&str> = match &params.appspec_file {
        Some(f) => vec![f.as_str()],
        None => DEFAULT_APPSPEC_FILES.to_vec(),
    };
    for name in &names {
        if let Some(data) = read_zip_entry(&bytes, name, crate::service::MAX_APPSPEC_BYTES as u64)?
        {
            return String::from_utf8(data).map_err(|_| {
                Error::refused(
                    "InvalidAppSpec",
                    format!("{name} in artifact {}: not UTF-8 text", artifact.name),
                )
            });
        }
    }
    Err(Error::refused(
        "InvalidArtifact",
        format!(
            "input artifact {}: no {} at the top of the zip; set UserParameters.appspecFile to its path",
            artifact.name,
            names.join(" or ")
        ),
    ))
}

async fn read_artifact(app: &App, job: &Job, s3: &S3Location) -> Result<Vec<u8>> {
    let mut conf = aws_sdk_s3::config::Builder::from(&app.sdk);
    if let Some(c) = &job.data.artifact_credentials {
        conf = conf.credentials_provider(aws_sdk_s3::config::Credentials::new(
            &c.access_key_id,
            &c.secret_access_key,
            Some(c.session_token.clone()),
            None,
            "codepipeline-artifact",
        ));
    }
    if app.sdk.endpoint_url().is_some() {
        // A local endpoint has no per-bucket host names.
        conf = conf.force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(conf.build());
    let out = client
        .get_object()
        .bucket(&s3.bucket_name)
        .key(&s3.object_key)
        .send()
        .await
        .map_err(|e| Error::aws("S3", "GetObject", &e))?;
    if out.content_length().unwrap_or(0) as u64 > MAX_ARTIFACT_BYTES {
        return Err(Error::refused(
            "InvalidArtifact",
            format!(
                "input artifact s3://{}/{}: over the {MAX_ARTIFACT_BYTES}-byte limit",
                s3.bucket_name, s3.object_key
            ),
        ));
    }
    let body = out.body.collect().await.map_err(|e| Error::Aws {
        service: "S3",
        operation: "GetObject",
        message: e.to_string(),
        retryable: true,
    })?;
    Ok(body.into_bytes().to_vec())
}

/// The client token a pipeline job starts its deployment with.
fn job_client_token(job_id: &str) -> String {
    format!("codepipeline:{job_id}")
}

/// The continuation token of a deployment started by the job `first_job`:
/// `<deployment id>.<that job's id>`. A continuation job (CodePipeline gives each its own
/// id) carries it back, and it is accepted only for the deployment that job started.
pub fn continuation_token(dep: &Deployment, first_job: &str) -> String {
    format!("{}.{first_job}", dep.id)
}

fn forged(token: &str, why: &str) -> Error {
    Error::refused(
        "InvalidContinuationToken",
        format!(
            "continuationToken: {} {why}; CodePipeline sends back the token this function gave the job that started the deployment, and no other is accepted",
            cutover_core::text::shown(token, 80)
        ),
    )
}

/// Loads the deployment a continuation token names, if the token is the one the start of
/// its job produced: the job id in it must be the client token the deployment was started
/// with (its hash is in the record). A token of Cutover before this binding (the
/// deployment id alone) is accepted only for a deployment recorded before it.
pub async fn continued(app: &App, token: &str) -> Result<(Deployment, String)> {
    let (id, first_job) = token.split_once('.').unwrap_or((token, ""));
    let valid_id = id.len() == 11
        && id.starts_with("d-")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !valid_id || first_job.len() > 128 {
        return Err(forged(token, "is not a token this function gave"));
    }
    let dep = match app.cutover.store.load(id).await {
        Ok(d) => d,
        Err(Error::NotFound(_)) => return Err(forged(token, "names no deployment")),
        Err(e) => return Err(e),
    };
    let bound = match (&dep.client_token_hash, first_job) {
        (Some(hash), job) if !job.is_empty() => {
            *hash == cutover_core::model::execution_id_hash(&job_client_token(job))
        }
        // Recorded before tokens were bound to their job (started with a client token, as
        // every pipeline start is), still running, followed by a bare id.
        (None, "") => dep.request_digest.is_some() && !dep.is_done(),
        _ => false,
    };
    if !bound {
        return Err(forged(
            token,
            &format!("was not produced by the job that started deployment {id}"),
        ));
    }
    Ok((dep, token.to_string()))
}

/// Decides the verdict for a job: starts the deployment on the first invocation, reads it
/// on the next ones.
pub async fn verdict(app: &App, job: &Job) -> Result<(Verdict, Option<Deployment>)> {
    if job.data.artifact_credentials.is_none() {
        return Err(Error::refused(
            "InvalidJob",
            format!(
                "job {}: no artifactCredentials; CodePipeline gives every job of an Invoke action credentials for its artifacts, so this is not a CodePipeline job",
                cutover_core::text::shown(&job.id, 64)
            ),
        ));
    }
    let (dep, token) = match &job.data.continuation_token {
        Some(token) => continued(app, token).await?,
        None => {
            let params = user_parameters(job)?;
            let appspec = appspec(app, job, &params).await?;
            let req = StartRequest {
                appspec,
                config: params.config,
                alarms: params.alarms,
                no_auto_rollback: params.no_auto_rollback,
                ignore_firing_alarms: params.ignore_firing_alarms,
                hook_timeout_seconds: params.hook_timeout_seconds,
                install_timeout_seconds: params.install_timeout_seconds,
                application: params.application,
                group: params.group,
                client_token: Some(job_client_token(&job.id)),
                ..StartRequest::default()
            };
            let dep = crate::functions::start_and_drive(app, &req).await?;
            let token = continuation_token(&dep, &job.id);
            (dep, token)
        }
    };
    let verdict = match dep.status() {
        DeploymentStatus::Succeeded => Verdict::Succeeded,
        DeploymentStatus::Failed | DeploymentStatus::Stopped => Verdict::Failed(
            FailureType::JobFailed,
            format!(
                "deployment {} {}{}",
                dep.id,
                dep.status().as_str(),
                dep.error()
                    .as_ref()
                    .map(|e| format!(": {}: {}", e.code.as_str(), e.message))
                    .unwrap_or_default()
            ),
        ),
        _ => Verdict::Continue(token),
    };
    Ok((verdict, Some(dep)))
}

fn failure_type(e: &Error) -> FailureType {
    match e {
        Error::Aws { .. } | Error::Conflict(_) => FailureType::SystemUnavailable,
        Error::NotFound(_) | Error::Corrupt(_) => FailureType::JobFailed,
        _ => FailureType::ConfigurationError,
    }
}

/// Tells CodePipeline the verdict.
pub async fn report(
    client: &aws_sdk_codepipeline::Client,
    job_id: &str,
    verdict: &Verdict,
    dep: Option<&Deployment>,
) -> Result<()> {
    let details = dep.map(|d| {
        ExecutionDetails::builder()
            .summary(summary(d))
            .external_execution_id(&d.id)
            .percent_complete(percent_complete(d))
            .build()
    });
    match verdict {
        Verdict::Continue(token) => client
            .put_job_success_result()
            .job_id(job_id)
            .continuation_token(token)
            .set_execution_details(details)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::aws("CodePipeline", "PutJobSuccessResult", &e)),
        Verdict::Succeeded => {
            let revision = dep.map(|d| {
                CurrentRevision::builder()
                    .revision(d.target.target_label())
                    .change_identifier(&d.id)
                    .build()
            });
            client
                .put_job_success_result()
                .job_id(job_id)
                .set_execution_details(details)
                .set_current_revision(
                    revision
                        .transpose()
                        .map_err(|e| Error::Corrupt(e.to_string()))?,
                )
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws("CodePipeline", "PutJobSuccessResult", &e))
        }
        Verdict::Failed(kind, message) => {
            let failure = FailureDetails::builder()
                .r#type(kind.clone())
                .message(message.chars().take(5000).collect::<String>())
                .set_external_execution_id(dep.map(|d| d.id.clone()))
                .build()
                .map_err(|e| Error::Corrupt(e.to_string()))?;
            client
                .put_job_failure_result()
                .job_id(job_id)
                .failure_details(failure)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| Error::aws("CodePipeline", "PutJobFailureResult", &e))
        }
    }
}

/// The `pipeline` function's handler.
pub async fn handle(app: &App, event: Value) -> Result<Value> {
    crate::functions::check_size(&event, "pipeline")?;
    let job = job(&event)?;
    let (verdict, dep) = match verdict(app, &job).await {
        Ok(v) => v,
        // A passing failure while following a running deployment: look again next time.
        Err(e) if e.is_retryable() && job.data.continuation_token.is_some() => {
            tracing::warn!(job = %job.id, error = %e, "could not read the deployment; will look again");
            let token = job.data.continuation_token.clone().unwrap_or_default();
            (Verdict::Continue(token), None)
        }
        Err(e) => (
            Verdict::Failed(failure_type(&e), format!("{}: {e}", e.code())),
            None,
        ),
    };
    report(&app.codepipeline, &job.id, &verdict, dep.as_ref()).await?;
    Ok(match &verdict {
        Verdict::Continue(token) => {
            let id = dep.as_ref().map_or_else(
                || token.split('.').next().unwrap_or_default().to_string(),
                |d| d.id.clone(),
            );
            json!({"jobId": job.id, "result": "continue", "deploymentId": id})
        }
        Verdict::Succeeded => {
            json!({"jobId": job.id, "result": "succeeded", "deploymentId": dep.map(|d| d.id)})
        }
        Verdict::Failed(kind, message) => {
            json!({"jobId": job.id, "result": "failed", "failureType": kind.as_str(), "message": message, "deploymentId": dep.map(|d| d.id)})
        }
    })
}

#[cfg(test)]
#[path = "pipeline_zip_tests.rs"]
mod zip_tests;
