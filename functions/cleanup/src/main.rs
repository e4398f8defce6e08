use lambda_runtime::{run, service_fn};
use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    let core = aws::core(&sdk, config);
    run(service_fn(|event| cleanup::handle(&core, event))).await
}
