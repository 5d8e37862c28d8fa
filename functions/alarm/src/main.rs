//! The `alarm` function: see `cutover_aws::functions::alarm`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cutover_aws::serve!(cutover_aws::functions::alarm)
}
