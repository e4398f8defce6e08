use lambda_runtime::{run, service_fn};
use twostep::events::EventBridgeSink;
use twostep::metrics::EmfMetrics;
use twostep::{Config, aws};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config(env!("CARGO_PKG_NAME"));
    let bus = config
        .event_bus_name
        .clone()
        .ok_or("EVENT_BUS_NAME is not set: the events function has nowhere to publish")?;
    let app = events::App {
        sink: EventBridgeSink::new(aws_sdk_eventbridge::Client::new(&sdk), bus),
        metrics: EmfMetrics {
            namespace: config.metrics_namespace.clone(),
        },
        config,
    };
    run(service_fn(|event| events::handle(&app, event))).await
}
