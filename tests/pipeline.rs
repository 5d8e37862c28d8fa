//! The `pipeline` function on its fixtures (events/pipeline-job*.json): the artifact zip
//! in the emulator's S3, the deployment in its DynamoDB and Lambda; CodePipeline's job
//! results (missing from the emulator) through the SDK's mock client, each request
//! recorded and asserted field by field.

use aws_sdk_codepipeline::operation::put_job_failure_result::{
    PutJobFailureResultInput, PutJobFailureResultOutput,
};
use aws_sdk_codepipeline::operation::put_job_success_result::{
    PutJobSuccessResultInput, PutJobSuccessResultOutput,
};
use aws_sdk_codepipeline::types::FailureType;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use cutover_aws::functions::App;
use cutover_aws::pipeline::handle;
use cutover_core::model::{DeploymentStatus, Observation};
use cutover_tests::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Every result the function sent CodePipeline, in order.
#[derive(Clone, Default)]
struct Results {
    success: Arc<Mutex<Vec<PutJobSuccessResultInput>>>,
    failure: Arc<Mutex<Vec<PutJobFailureResultInput>>>,
}

impl Results {
    fn client(&self) -> aws_sdk_codepipeline::Client {
        let s = self.success.clone();
        let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
            .match_requests(move |r| {
                s.lock().unwrap().push(r.clone());
                true
            })
            .then_output(|| PutJobSuccessResultOutput::builder().build());
        let f = self.failure.clone();
        let failure = mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
            .match_requests(move |r| {
                f.lock().unwrap().push(r.clone());
                true
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            [&success, &failure]
        )
    }

    fn last_success(&self) -> PutJobSuccessResultInput {
        self.success
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a success result")
    }

    fn last_failure(&self) -> PutJobFailureResultInput {
        self.failure
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a failure result")
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.success.lock().unwrap().len(),
            self.failure.lock().unwrap().len(),
        )
    }
}

async fn app(results: &Results) -> App {
    let sdk = sdk_config().await;
    let settings = cutover_aws::clients::Settings {
        table: Some(unique("pipeline")),
        topic_arn: None,
    };
    let mut app = App::new(&sdk, cutover_aws::clients::build(&sdk, &settings));
    app.codepipeline = results.client();
    app.cutover.store.ensure_table().await.unwrap();
    app
}

/// A zip holding `files`, made by Python's zipfile (deflated), as CodeBuild makes them.
fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("{}.zip", unique("artifact")));
    let spec = serde_json::to_string(&files.iter().map(|(n, t)| json!([n, t])).collect::<Vec<_>>())
        .unwrap();
    let status = std::process::Command::new(python())
        .args([
            "-c",
            "import json, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    for name, text in json.loads(sys.argv[2]):\n        z.writestr(name, text)\n",
        ])
        .arg(&path)
        .arg(spec)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(path);
    bytes
}

/// Puts the artifact in the emulator's S3 and returns the job fixture pointing at it.
async fn new_job(artifact: &[u8], user_parameters: Value) -> Value {
    let sdk = sdk_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique("codepipeline").to_lowercase();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let key = "orders-pipeline/BuildOutput/k3Xq9Zp.zip";
    s3.put_object()
        .bucket(&bucket)
        .key(key)
        .body(artifact.to_vec().into())
        .send()
        .await
        .unwrap();
    let text = std::fs::read_to_string(repo().join("events/pipeline-job.json")).unwrap();
    let mut job: Value = serde_json::from_str(&text).unwrap();
    let data = &mut job["CodePipeline.job"]["data"];
    data["inputArtifacts"][0]["location"]["s3Location"] =
        json!({"bucketName": bucket, "objectKey": key});
    data["actionConfiguration"]["configuration"]["UserParameters"] =
        json!(user_parameters.to_string());
    job["CodePipeline.job"]["id"] = json!(unique("job"));
    job
}

fn continuation(job: &Value, token: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("events/pipeline-job-continuation.json")).unwrap();
    let mut next: Value = serde_json::from_str(&text).unwrap();
    next["CodePipeline.job"]["data"]["continuationToken"] = json!(token);
    next["CodePipeline.job"]["data"]["inputArtifacts"] =
        job["CodePipeline.job"]["data"]["inputArtifacts"].clone();
    next
}

fn job_id(job: &Value) -> String {
    job["CodePipeline.job"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_job_starts_one_deployment_reports_progress_and_succeeds() {
    let f = unique("orders");
    seed_function(&f, 2);
    let results = Results::default();
    let app = app(&results).await;
    let artifact = zip(&[
        ("deploy/appspec.yaml", &appspec(&f, None, None)),
        (
            "app/handler.py",
            "def handler(event, context):\n    return 1\n",
        ),
    ]);
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("events/pipeline-job.json")).unwrap(),
    )
    .unwrap();
    let mut params: Value = serde_json::from_str(
        fixture["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
            ["UserParameters"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    params["config"] = json!("CodeDeployDefault.LambdaCanary10Percent30Minutes");
    let job = new_job(&artifact, params).await;

    // First delivery: started, continuation with the deployment id.
    let out = handle(&app, job.clone()).await.unwrap();
    assert_eq!(out["result"], "continue");
    let id = out["deploymentId"].as_str().unwrap().to_string();
    let first = results.last_success();
    assert_eq!(first.job_id(), Some(job_id(&job).as_str()));
    // The token binds the deployment to the job that started it.
    let token = format!("{id}.{}", job_id(&job));
    assert_eq!(first.continuation_token(), Some(token.as_str()));
    let details = first.execution_details().unwrap();
    assert_eq!(details.external_execution_id(), Some(id.as_str()));
    assert_eq!(details.percent_complete(), Some(0));
    assert!(details.summary().unwrap().contains(&id), "{details:?}");
    assert!(first.current_revision().is_none());

    // Second delivery of the same job: the same deployment, nothing new started.
    let again = handle(&app, job.clone()).await.unwrap();
    assert_eq!(again["deploymentId"], id.as_str());
    assert_eq!(app.cutover.store.list(false).await.unwrap().len(), 1);
    assert_eq!(results.counts(), (2, 0));

    // The driver moves it to the canary: the continuation reports progress.
    app.cutover.tick(&id, Observation::default()).await.unwrap();
    let next = continuation(&job, &token);
    let out = handle(&app, next.clone()).await.unwrap();
    assert_eq!(out["result"], "continue");
    let progress = results.last_success();
    assert_eq!(
        progress.job_id(),
        Some("7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f")
    );
    assert_eq!(progress.continuation_token(), Some(token.as_str()));
    let pct = progress
        .execution_details()
        .unwrap()
        .percent_complete()
        .unwrap();
    assert!((1..100).contains(&pct), "{pct}");
    assert!(progress
        .execution_details()
        .unwrap()
        .summary()
        .unwrap()
        .contains("10%"));

    // The canary bakes for 30 minutes: stop it with a rollback, and the next continuation
    // fails the job with the deployment's outcome.
    let stopped = app
        .cutover
        .stop(&id, Some(true), Some("test".into()))
        .await
        .unwrap();
    assert_eq!(stopped.deployment.status(), DeploymentStatus::Stopped);
    let out = handle(&app, next).await.unwrap();
    assert_eq!(out["result"], "failed");
    let failure = results.last_failure();
    assert_eq!(
        failure.job_id(),
        Some("7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f")
    );
    let fd = failure.failure_details().unwrap();
    assert_eq!(fd.r#type(), &FailureType::JobFailed);
    assert_eq!(fd.external_execution_id(), Some(id.as_str()));
    assert!(
        fd.message().contains(&id) && fd.message().contains("Stopped"),
        "{}",
        fd.message()
    );

    // All at once: the continuation after the end succeeds the job, with the revision.
    let mut params = json!({"config": "CodeDeployDefault.LambdaAllAtOnce", "appspecFile": "deploy/appspec.yaml"});
    params["application"] = json!("orders");
    let job = new_job(&artifact, params).await;
    let out = handle(&app, job.clone()).await.unwrap();
    let id = out["deploymentId"].as_str().unwrap().to_string();
    loop {
        let t = app.cutover.tick(&id, Observation::default()).await.unwrap();
        if t.wake_after.is_none() {
            assert_eq!(t.deployment.status(), DeploymentStatus::Succeeded);
            break;
        }
    }
    let (successes, failures) = results.counts();
    let token = format!("{id}.{}", job_id(&job));
    let out = handle(&app, continuation(&job, &token)).await.unwrap();
    assert_eq!(out["result"], "succeeded");
    assert_eq!(results.counts(), (successes + 1, failures));
    let done = results.last_success();
    assert_eq!(done.continuation_token(), None);
    assert_eq!(
        done.execution_details().unwrap().percent_complete(),
        Some(100)
    );
    let revision = done.current_revision().unwrap();
    assert_eq!(revision.revision(), "2");
    assert_eq!(revision.change_identifier(), id.as_str());
}

#[tokio::test]
async fn bad_jobs_fail_with_the_field_named_and_start_nothing() {
    let f = unique("orders");
    seed_function(&f, 2);
    let results = Results::default();
    let app = app(&results).await;
    let good = appspec(&f, None, None);
    let cases: Vec<(Vec<u8>, Value, FailureType, &str)> = vec![
        (
            zip(&[("deploy/appspec.yaml", &good)]),
            json!({"confg": "x"}),
            FailureType::ConfigurationError,
            "unknown field `confg`",
        ),
        (
            zip(&[("deploy/appspec.yaml", &good)]),
            json!({"appspecFile": "appspec.yaml"}),
            FailureType::ConfigurationError,
            "no appspec.yaml",
        ),
        (
            zip(&[("appspec.yaml", &good)]),
            json!({"config": "CodeDeployDefault.LambdaFast"}),
            FailureType::ConfigurationError,
            "CodeDeployDefault.LambdaFast",
        ),
        (
            zip(&[("appspec.yaml", "version: 0.0\nResources: []\n")]),
            json!({}),
            FailureType::ConfigurationError,
            "Resources",
        ),
        (
            b"not a zip at all".to_vec(),
            json!({}),
            FailureType::ConfigurationError,
            "not a zip archive",
        ),
        (
            zip(&[("appspec.yaml", &good)]),
            json!({"artifact": "SourceOutput"}),
            FailureType::ConfigurationError,
            "no input artifact SourceOutput",
        ),
    ];
    for (artifact, params, kind, needle) in cases {
        let job = new_job(&artifact, params.clone()).await;
        let out = handle(&app, job.clone()).await.unwrap();
        assert_eq!(out["result"], "failed", "{params}");
        let failure = results.last_failure();
        assert_eq!(failure.job_id(), Some(job_id(&job).as_str()));
        let fd = failure.failure_details().unwrap();
        assert_eq!(fd.r#type(), &kind, "{params}: {}", fd.message());
        assert!(fd.message().contains(needle), "{params}: {}", fd.message());
    }
    assert_eq!(results.counts().0, 0, "no success result for a bad job");
    assert!(app.cutover.store.list(false).await.unwrap().is_empty());

    // An inline AppSpec needs no artifact.
    let mut job = new_job(
        b"unused",
        json!({"appspec": good, "config": "CodeDeployDefault.LambdaCanary10Percent30Minutes"}),
    )
    .await;
    job["CodePipeline.job"]["data"]["inputArtifacts"] = json!([]);
    let out = handle(&app, job).await.unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    // Not a CodePipeline job at all: an error, and nothing sent to CodePipeline.
    let before = results.counts();
    let err = handle(&app, json!({"deploymentId": "d-7Q2K9X4MB"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidEvent");
    assert_eq!(results.counts(), before);
}

#[tokio::test]
async fn a_forged_continuation_or_a_job_without_credentials_is_refused_and_changes_nothing() {
    let f = unique("orders");
    seed_function(&f, 2);
    let results = Results::default();
    let app = app(&results).await;
    let artifact = zip(&[("appspec.yaml", &appspec(&f, None, None))]);
    let params = json!({"config": "CodeDeployDefault.LambdaCanary10Percent30Minutes"});
    let job = new_job(&artifact, params.clone()).await;
    let out = handle(&app, job.clone()).await.unwrap();
    let id = out["deploymentId"].as_str().unwrap().to_string();
    app.cutover.tick(&id, Observation::default()).await.unwrap();
    let before = app.cutover.store.load(&id).await.unwrap();
    // Another job of this pipeline, to borrow a real job id from.
    let other = new_job(&artifact, params).await;
    let forged = [
        id.clone(),
        format!("{id}.{}", job_id(&other)),
        format!("{id}.{}x", job_id(&job)),
        format!("d-7Q2K9X4MB.{}", job_id(&job)),
        "../../etc".to_string(),
        format!("{id}.{}", "j".repeat(5000)),
    ];
    for token in &forged {
        let (successes, failures) = results.counts();
        let out = handle(&app, continuation(&job, token)).await.unwrap();
        assert_eq!(out["result"], "failed", "{token}: {out}");
        assert_eq!(results.counts(), (successes, failures + 1), "{token}");
        let fd = results.last_failure().failure_details().cloned().unwrap();
        assert_eq!(fd.r#type(), &FailureType::ConfigurationError, "{token}");
        assert!(
            fd.message().contains("InvalidContinuationToken") && fd.message().len() < 1000,
            "{token}: {}",
            fd.message()
        );
    }
    let after = app.cutover.store.load(&id).await.unwrap();
    assert_eq!(
        after.ver, before.ver,
        "a refused continuation changes nothing"
    );
    assert_eq!(after.status(), DeploymentStatus::InProgress);

    // A job without artifact credentials did not come from CodePipeline: nothing starts.
    let mut bare = new_job(&artifact, json!({})).await;
    bare["CodePipeline.job"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("artifactCredentials");
    let out = handle(&app, bare).await.unwrap();
    assert_eq!(out["result"], "failed");
    let fd = results.last_failure().failure_details().cloned().unwrap();
    assert!(
        fd.message().contains("artifactCredentials"),
        "{}",
        fd.message()
    );
    let all = app.cutover.store.list(false).await.unwrap();
    assert_eq!(all.len(), 1, "only the first job's deployment exists");
}
