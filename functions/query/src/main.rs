//! The `query` function: see `cutover_aws::functions::query`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cutover_aws::serve!(cutover_aws::functions::query)
}
