use lambda_http::{run, service_fn};
use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME")).await;
    let hasher = aws::code_hasher(&sdk, &config).await?;
    let app = verify::App {
        core: aws::core(&sdk, config),
        hasher,
        keys: twostep::keyring::KeyRing::new(),
    };
    run(service_fn(|request| verify::handle(&app, request))).await
}
