//! Interactive calls, placed with the Amazon Chime SDK Voice `CreateSipMediaApplicationCall`:
//! the SIP media application invokes the calls function with the call's events, and that
//! function says and asks what the call does. The call carries the verification id as its
//! only argument, never a code.

use super::{DeliveryError, describe};
use crate::domain::{PhoneNumber, VerificationId};

/// The argument that names the verification a call is for (`ArgumentsMap`).
pub const VERIFICATION_ARGUMENT: &str = "verification_id";

/// Places calls through one SIP media application, from one number.
#[derive(Debug, Clone)]
pub struct SipCalls {
    client: aws_sdk_chimesdkvoice::Client,
    application_id: String,
    from: String,
}

impl SipCalls {
    /// Calls through the SIP media application `application_id` from `from`.
    pub fn new(client: aws_sdk_chimesdkvoice::Client, application_id: &str, from: String) -> Self {
        Self {
            client,
            application_id: application_id.to_owned(),
            from,
        }
    }

    /// Places one call for `verification_id` to `to`.
    pub async fn place(
        &self,
        to: &PhoneNumber,
        verification_id: &VerificationId,
    ) -> Result<(), DeliveryError> {
        let out = self
            .client
            .create_sip_media_application_call()
            .sip_media_application_id(&self.application_id)
            .from_phone_number(&self.from)
            .to_phone_number(to.as_str())
            .arguments_map(VERIFICATION_ARGUMENT, verification_id.as_str())
            .send()
            .await
            .map_err(|e| {
                DeliveryError(format!("CreateSipMediaApplicationCall: {}", describe(&e)))
            })?;
        let transaction = out
            .sip_media_application_call()
            .and_then(|call| call.transaction_id())
            .unwrap_or("unknown");
        tracing::info!(verification_id = %verification_id, transaction_id = transaction, "call placed");
        Ok(())
    }
}
