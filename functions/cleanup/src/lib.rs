//! The scheduled cleanup: deletes contacts still unverified after the retention period.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;
use twostep::service::{self, CleanupReport, Core};

/// How long before its timeout the function stops taking new work.
pub const SAFETY_MARGIN_MS: u64 = 5_000;

/// The time budget when the invocation carries no usable deadline.
pub const FALLBACK_BUDGET_MS: u64 = 60_000;

#[derive(Debug, Default, Deserialize)]
struct Options {
    #[serde(default)]
    dry_run: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Handles one invocation: an EventBridge schedule event, or `{"dry_run": true}` by hand.
pub async fn handle(
    core: &Core,
    event: LambdaEvent<Value>,
) -> Result<CleanupReport, lambda_runtime::Error> {
    // A schedule event has other fields; only `dry_run` matters, and anything else means a real run.
    let options: Options = serde_json::from_value(event.payload).unwrap_or_default();
    let start = now_ms();
    // Lambda always gives a deadline in the future; a local runner may not.
    let deadline = match event.context.deadline {
        d if d > start => d,
        _ => start + FALLBACK_BUDGET_MS,
    };
    let out_of_time = move || now_ms() + SAFETY_MARGIN_MS >= deadline;
    let report = service::cleanup(core, options.dry_run, &out_of_time).await?;
    Ok(report)
}
