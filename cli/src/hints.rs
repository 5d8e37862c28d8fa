//! What to do about an error the user can fix on their side, added to its message.

/// A hint for an AWS error caused by the caller's credentials, naming the fix; `None` for
/// other errors. `profile` is the `AWS_PROFILE` in use, if any.
pub(crate) fn credentials_hint(message: &str, profile: Option<&str>) -> Option<String> {
    let login = match profile {
        Some(p) => format!("aws sso login --profile {p}"),
        None => "aws sso login".to_string(),
    };
    if message.contains("SSO token") {
        return Some(format!(
            "the profile signs in through IAM Identity Center (sso_session) and has no valid cached token: run `{login}`, then try again"
        ));
    }
    if message.contains("loading credentials") || message.contains("no credentials") {
        return Some(
            "no usable AWS credentials: set AWS_PROFILE to a profile of ~/.aws/config (access keys, credential_process, sso_session, role_arn) or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables; `aws sts get-caller-identity` shows what the AWS CLI would use"
                .to_string(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_sso_session_says_to_log_in_with_the_profile() {
        let m = "DynamoDB Scan: dispatch failure: other: an error occurred while loading credentials: an error occurred while loading an access token: failed to load the cached SSO token";
        let hint = credentials_hint(m, Some("corp-deployer")).unwrap();
        assert!(
            hint.contains("aws sso login --profile corp-deployer"),
            "{hint}"
        );
        let other = credentials_hint("an error occurred while loading credentials: no providers in chain provided credentials", None).unwrap();
        assert!(other.contains("AWS_PROFILE"), "{other}");
        assert_eq!(
            credentials_hint("AccessDeniedException: not allowed", None),
            None
        );
    }
}
