//! Who runs the CLI, as STS says: sent with every changing request (deploy, stop,
//! continue) so the deployment's event log records who asked. The functions keep it as
//! the caller reported it; CloudTrail's data events are the authoritative record.

use std::sync::OnceLock;

static CALLER: OnceLock<Option<String>> = OnceLock::new();

/// Asks STS `GetCallerIdentity` once (it needs no permission). When it fails, requests go
/// without an identity, and the record says nothing of who asked.
pub(crate) async fn resolve(sdk: &aws_config::SdkConfig) {
    if CALLER.get().is_some() {
        return;
    }
    let sts = aws_sdk_sts::Client::new(sdk);
    let arn = match sts.get_caller_identity().send().await {
        Ok(out) => out.arn().map(str::to_string),
        Err(e) => {
            eprintln!(
                "warning: cannot tell who you are (STS GetCallerIdentity: {}); the deployment's log will not name who asked",
                cutover_aws::Error::aws("STS", "GetCallerIdentity", &e)
            );
            None
        }
    };
    let _ = CALLER.set(arn);
}

/// The caller's ARN, once [`resolve`]d.
pub(crate) fn arn() -> Option<String> {
    CALLER.get().cloned().flatten()
}
