//! Calls that read the code, through End User Messaging SMS and Voice v2
//! `SendVoiceMessage`: SSML read by the language's Amazon Polly voice.

use aws_sdk_pinpointsmsvoicev2::types::{VoiceId, VoiceMessageBodyTextType};

use super::{DeliveryError, describe};
use crate::domain::PhoneNumber;
use crate::messages::VoiceMessage;

/// Places calls from one origination identity, at most at a price per minute.
#[derive(Debug, Clone)]
pub struct VoiceCalls {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    origination_identity: String,
    max_price_per_minute: Option<String>,
}

impl VoiceCalls {
    /// Calls through `client` from `origination_identity`, refused by AWS where a minute
    /// costs more than `max_price_per_minute`.
    pub fn new(
        client: aws_sdk_pinpointsmsvoicev2::Client,
        origination_identity: &str,
        max_price_per_minute: Option<&str>,
    ) -> Self {
        Self {
            client,
            origination_identity: origination_identity.to_owned(),
            max_price_per_minute: max_price_per_minute.map(str::to_owned),
        }
    }

    /// Places one call that reads `message`.
    pub async fn send(
        &self,
        to: &PhoneNumber,
        message: &VoiceMessage,
    ) -> Result<(), DeliveryError> {
        self.client
            .send_voice_message()
            .destination_phone_number(to.as_str())
            .origination_identity(&self.origination_identity)
            .message_body(&message.ssml)
            .message_body_text_type(VoiceMessageBodyTextType::Ssml)
            .voice_id(VoiceId::from(message.voice.id()))
            .set_max_price_per_minute(self.max_price_per_minute.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SendVoiceMessage: {}", describe(&e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Voice;

    #[test]
    fn every_voice_is_one_the_service_knows() {
        for voice in [
            Voice::Joanna,
            Voice::Vicki,
            Voice::Lea,
            Voice::Lucia,
            Voice::Bianca,
            Voice::Ines,
            Voice::Lotte,
        ] {
            assert!(VoiceId::values().contains(&voice.id()), "{voice:?}");
            assert_eq!(VoiceId::from(voice.id()).as_str(), voice.id());
        }
    }
}
