use lambda_runtime::{run, service_fn};
use twostep::aws::{self, WebhookKeySource};
use twostep::webhooks::http::{HttpTransport, TIMEOUT};
use twostep::webhooks::sqs::SqsRedelivery;
use twostep::webhooks::{CachedKeys, WebhookConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = WebhookConfig::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    let transport = HttpTransport::new(&config.url, TIMEOUT)?;
    tracing::info!(
        receiver = transport.host(),
        attempts = config.schedule.attempts(),
        "webhooks ready"
    );
    let app = webhooks::App {
        keys: CachedKeys::new(
            WebhookKeySource::new(&sdk, config.secret_id.clone()),
            config.secret_cache,
        ),
        transport,
        queue: SqsRedelivery::new(aws_sdk_sqs::Client::new(&sdk), config.queue_url.clone()),
        schedule: config.schedule,
    };
    run(service_fn(|event| webhooks::handle(&app, event))).await
}
