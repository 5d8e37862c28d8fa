//! The `advance` function: see `cutover_aws::functions::advance`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cutover_aws::serve!(cutover_aws::functions::advance)
}
