//! The CLI on the profiles organisations use, as a user runs it: a `credential_process`
//! profile (a script on disk that prints credentials) and an IAM Identity Center
//! `sso_session` profile, through `AWS_PROFILE` and a config file of the test's own.

use cutover_tests::cli::cutover;
use cutover_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A home directory with nothing in it and an AWS config file holding `config`.
fn profile_home(config: &str) -> PathBuf {
    let home = std::env::temp_dir().join(unique("aws-home"));
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(home.join(".aws/config"), config).unwrap();
    home
}

/// `cutover ARGS` with `profile` of `home`'s config and no other credentials.
fn with_profile(home: &Path, profile: &str, args: &[&str]) -> Command {
    let mut cmd = cutover(args);
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_PROFILE", profile);
    cmd
}

#[tokio::test]
async fn a_credential_process_profile_works_for_the_cli() {
    cutover_aws::store::Store::new(
        aws_sdk_dynamodb::Client::new(&sdk_config().await),
        cutover_tests::cli::TABLE,
    )
    .ensure_table()
    .await
    .unwrap();
    let home = profile_home("");
    let marker = home.join("process-ran");
    let script = home.join("print-credentials");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"testing\", \"SecretAccessKey\": \"testing\"}}'\n",
            marker.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile deployer]\nregion = {REGION}\ncredential_process = {}\n",
            script.display()
        ),
    )
    .unwrap();
    let out = with_profile(&home, "deployer", &["list", "--local"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(marker.exists(), "the credential process never ran: {err}");
}

#[test]
fn an_sso_session_profile_without_a_cached_token_says_to_log_in() {
    let home = profile_home(&format!(
        "[profile corp-deployer]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Deployer\nregion = {REGION}\n\n[sso-session corp]\nsso_region = {REGION}\nsso_start_url = https://corp.awsapps.com/start\n"
    ));
    let out = with_profile(&home, "corp-deployer", &["list", "--local"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // It got as far as looking for the cached token (the SSO provider is built in) ...
    assert!(err.contains("cached SSO token"), "{err}");
    assert!(!err.contains("cargo feature"), "{err}");
    // ... and says what to do.
    assert!(
        err.contains("aws sso login --profile corp-deployer"),
        "{err}"
    );
}
