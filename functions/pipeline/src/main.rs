//! The `pipeline` function: see `cutover_aws::pipeline::handle`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cutover_aws::serve!(cutover_aws::pipeline::handle)
}
