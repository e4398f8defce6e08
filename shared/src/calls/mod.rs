//! The calls function's two callers: an Amazon Chime SDK SIP media application
//! ([`conversation`], over the [`pstn`] protocol), whose events run interactive calls, and
//! an Amazon Connect contact flow ([`connect`]). One function serves both: they need the
//! same rules, records and secret, and each invocation says which it is.

use std::sync::Arc;

use serde_json::Value;

use crate::channels::Sender;
use crate::domain::CodeHasher;
use crate::service::Core;
use crate::service::deferred::Deferred;

pub mod connect;
pub mod conversation;
pub mod pstn;

/// What the calls function holds from its start.
pub struct Calls {
    /// The rules and records.
    pub core: Core,
    /// The code-hash key, read from the start of the function's init.
    pub hasher: Arc<Deferred<CodeHasher>>,
    /// SMS, for the code after a missed call.
    pub sender: Arc<dyn Sender>,
}

/// An invocation the function does not know.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// Neither a PSTN Audio event nor a Connect contact flow's.
    #[error("not a SIP media application event nor an Amazon Connect contact flow event: {0}")]
    Unknown(String),
    /// An event of another SIP media application than the configured one.
    #[error("an event of another SIP media application")]
    OtherApplication,
}

/// Answers one invocation: a PSTN Audio event with its actions, a contact flow with its
/// flat map.
pub async fn handle(calls: &Calls, payload: Value) -> Result<Value, InvocationError> {
    if payload.get("InvocationEventType").is_some() {
        let event: pstn::CallEvent =
            serde_json::from_value(payload).map_err(|e| InvocationError::Unknown(e.to_string()))?;
        if let (Some(expected), Some(got)) = (
            &calls.core.config.calls.sip_media_application_id,
            &event.call_details.sip_media_application_id,
        ) && expected != got
        {
            return Err(InvocationError::OtherApplication);
        }
        let response = conversation::answer(calls, &event).await;
        tracing::info!(
            event = %event.invocation_event_type,
            sequence = event.sequence.unwrap_or(0),
            actions = response.actions.len(),
            "call event answered"
        );
        return serde_json::to_value(response).map_err(|e| InvocationError::Unknown(e.to_string()));
    }
    if payload.get("Details").is_some() {
        let event: connect::ConnectEvent =
            serde_json::from_value(payload).map_err(|e| InvocationError::Unknown(e.to_string()))?;
        let answer = connect::respond(calls, &event).await;
        tracing::info!(
            result = answer.get("result").map_or("", String::as_str),
            "contact flow answered"
        );
        return serde_json::to_value(answer).map_err(|e| InvocationError::Unknown(e.to_string()));
    }
    Err(InvocationError::Unknown(
        "no InvocationEventType or Details".to_owned(),
    ))
}
