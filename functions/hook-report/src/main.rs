//! The `hook-report` function: see `cutover_aws::functions::hook_report`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cutover_aws::serve!(cutover_aws::functions::hook_report)
}
