//! A hello-world Lambda: the same runtime crate, async runtime and log set-up as twostep's
//! functions, and nothing else. `scripts/bench.sh` measures twostep's start against it.

use lambda_runtime::{LambdaEvent, run, service_fn};
use serde_json::{Value, json};

async fn hello(_event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    Ok(json!({"hello": "world"}))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    run(service_fn(hello)).await
}
