use std::sync::Arc;

use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    // Read in the background while the rest starts; the first send waits for what is left.
    let hasher = aws::code_hasher_from_start(&sdk, &config);
    let sender = Arc::new(aws::sender(&sdk, &config));
    let app = send::App {
        http: twostep::http::App {
            core: aws::core(&sdk, config),
            hasher,
            keys: twostep::service::keys::KeyRing::new(),
        },
        sender,
    };
    twostep::http::lambda::serve(|request| send::handle(&app, request)).await
}
