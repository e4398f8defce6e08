//! The calls function: a SIP media application's call events (interactive calls: read the
//! code with "press 1 to repeat", take it on the keypad, call-backs) and Amazon Connect
//! contact flows (send, check, lookup), both over `twostep::calls`.

use lambda_runtime::LambdaEvent;
use serde_json::Value;
use twostep::calls::{Calls, InvocationError};

/// Answers one invocation. An event of neither kind fails the invocation (it is a wrong
/// subscription, which no retry mends); everything else has an answer.
pub async fn handle(
    calls: &Calls,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    twostep::calls::handle(calls, event.payload)
        .await
        .map_err(|e: InvocationError| e.into())
}

#[cfg(test)]
mod tests;
