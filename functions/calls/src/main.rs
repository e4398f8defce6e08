use std::sync::Arc;

use lambda_runtime::{run, service_fn};
use twostep::calls::Calls;
use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    // Read in the background while the rest starts; the first call waits for what is left.
    let hasher = aws::code_hasher_from_start(&sdk, &config);
    let sender = Arc::new(aws::sms_sender(&sdk, &config));
    let calls = Calls {
        core: aws::core(&sdk, config),
        hasher,
        sender,
    };
    run(service_fn(|event| calls::handle(&calls, event))).await
}
