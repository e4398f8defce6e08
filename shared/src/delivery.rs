//! Delivery of codes: the [`Sender`] trait, and its SNS (SMS), End User Messaging SMS and
//! Voice v2 (voice calls) and SES v2 (email) implementation.

use async_trait::async_trait;
use aws_sdk_pinpointsmsvoicev2::types::VoiceMessageBodyTextType;
use aws_sdk_sesv2::types::{Body, Content, Destination as SesDestination, EmailContent, Message};
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use crate::domain::{EmailAddress, PhoneNumber};
use crate::messages::{EmailMessage, VoiceMessage};

/// A delivery that did not go out.
#[derive(Debug, thiserror::Error)]
#[error("delivery failed: {0}")]
pub struct DeliveryError(pub String);

/// Sends the messages that carry codes.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Sends a transactional SMS.
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError>;
    /// Calls the number and reads the message out.
    async fn send_voice(
        &self,
        to: &PhoneNumber,
        message: &VoiceMessage,
    ) -> Result<(), DeliveryError>;
    /// Sends an email.
    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &EmailMessage,
    ) -> Result<(), DeliveryError>;
}

/// SMS through SNS `Publish`, voice calls through End User Messaging SMS and Voice v2
/// `SendVoiceMessage`, email through SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct AwsSender {
    sns: aws_sdk_sns::Client,
    ses: aws_sdk_sesv2::Client,
    voice: Option<aws_sdk_pinpointsmsvoicev2::Client>,
    email_from: String,
    sender_id: Option<String>,
    voice_origination_identity: Option<String>,
    voice_max_price: Option<String>,
}

impl AwsSender {
    /// A sender over the given clients, from the configured identity and sender ID.
    pub fn new(
        sns: aws_sdk_sns::Client,
        ses: aws_sdk_sesv2::Client,
        email_from: &EmailAddress,
        sender_id: Option<&str>,
    ) -> Self {
        Self {
            sns,
            ses,
            voice: None,
            email_from: email_from.as_str().to_owned(),
            sender_id: sender_id.map(str::to_owned),
            voice_origination_identity: None,
            voice_max_price: None,
        }
    }

    /// The same sender, placing voice calls through `voice` from `origination_identity`
    /// (`VOICE_ORIGINATION_IDENTITY`), at most `max_price_per_minute`
    /// (`VOICE_MAX_PRICE_PER_MINUTE`); without an identity, voice stays off.
    pub fn with_voice(
        mut self,
        voice: aws_sdk_pinpointsmsvoicev2::Client,
        origination_identity: Option<&str>,
        max_price_per_minute: Option<&str>,
    ) -> Self {
        self.voice = Some(voice);
        self.voice_origination_identity = origination_identity.map(str::to_owned);
        self.voice_max_price = max_price_per_minute.map(str::to_owned);
        self
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, DeliveryError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| DeliveryError(e.to_string()))
}

fn content(data: &str) -> Result<Content, DeliveryError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| DeliveryError(e.to_string()))
}

/// Describes a delivery error by its kind and error code only: the services' messages can
/// quote the phone number or address, which must never reach a log.
fn describe<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(_) => {
            format!("refused ({})", e.code().unwrap_or("unknown error code"))
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable".to_owned(),
        _ => "unreadable response".to_owned(),
    }
}

#[async_trait]
impl Sender for AwsSender {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError> {
        let mut request = self
            .sns
            .publish()
            .phone_number(to.as_str())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(id) = &self.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(id)?);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SNS Publish: {}", describe(&e))))
    }

    async fn send_voice(
        &self,
        to: &PhoneNumber,
        message: &VoiceMessage,
    ) -> Result<(), DeliveryError> {
        let (Some(client), Some(origination)) = (&self.voice, &self.voice_origination_identity)
        else {
            return Err(DeliveryError(
                "voice is not enabled (VOICE_ORIGINATION_IDENTITY is empty)".to_owned(),
            ));
        };
        client
            .send_voice_message()
            .destination_phone_number(to.as_str())
            .origination_identity(origination)
            .message_body(&message.ssml)
            .message_body_text_type(VoiceMessageBodyTextType::Ssml)
            .voice_id(message.voice.clone())
            .set_max_price_per_minute(self.voice_max_price.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SendVoiceMessage: {}", describe(&e))))
    }

    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &EmailMessage,
    ) -> Result<(), DeliveryError> {
        let body = Body::builder()
            .text(content(&message.text)?)
            .html(content(&message.html)?)
            .build();
        let simple = Message::builder()
            .subject(content(&message.subject)?)
            .body(body)
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.email_from)
            .destination(SesDestination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(simple).build())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError(format!("SES SendEmail: {}", describe(&e))))
    }
}

/// A [`Sender`] that records what it was asked to send, for unit tests.
pub mod memory {
    use std::sync::Mutex;

    use super::*;

    /// One recorded message.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Sent {
        /// An SMS: the number and the text.
        Sms(String, String),
        /// An email: the address and the message.
        Email(String, EmailMessage),
        /// A voice call: the number and the message.
        Voice(String, VoiceMessage),
    }

    /// Records messages; can be told to fail.
    #[derive(Debug, Default)]
    pub struct RecordingSender {
        sent: Mutex<Vec<Sent>>,
        failing: Mutex<bool>,
    }

    impl RecordingSender {
        /// A sender that delivers everything.
        pub fn new() -> Self {
            Self::default()
        }

        /// Makes every delivery fail (`true`) or succeed again (`false`).
        pub fn set_failing(&self, failing: bool) {
            *self
                .failing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = failing;
        }

        /// Everything delivered so far.
        pub fn sent(&self) -> Vec<Sent> {
            self.sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }

        /// The code of `length` digits in the newest message, if anything was sent (for a
        /// voice call, the digits of its first reading).
        pub fn last_code(&self, length: usize) -> Option<String> {
            let text = match self.sent().pop()? {
                Sent::Sms(_, text) => text,
                Sent::Email(_, message) => message.text,
                Sent::Voice(_, message) => {
                    // The call reads the code twice: it is the first half of the digits.
                    let digits = message.spoken_digits();
                    if digits.chars().count() == 2 * length {
                        digits.chars().take(length).collect()
                    } else {
                        String::new()
                    }
                }
            };
            text.split(|c: char| !c.is_ascii_digit())
                .find(|word| word.len() == length)
                .map(str::to_owned)
        }

        fn record(&self, message: Sent) -> Result<(), DeliveryError> {
            if *self
                .failing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
            {
                return Err(DeliveryError("the test sender is failing".to_owned()));
            }
            self.sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(message);
            Ok(())
        }
    }

    #[async_trait]
    impl Sender for RecordingSender {
        async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError> {
            self.record(Sent::Sms(to.as_str().to_owned(), text.to_owned()))
        }

        async fn send_voice(
            &self,
            to: &PhoneNumber,
            message: &VoiceMessage,
        ) -> Result<(), DeliveryError> {
            self.record(Sent::Voice(to.as_str().to_owned(), message.clone()))
        }

        async fn send_email(
            &self,
            to: &EmailAddress,
            message: &EmailMessage,
        ) -> Result<(), DeliveryError> {
            self.record(Sent::Email(to.as_str().to_owned(), message.clone()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::domain::{Country, Locale, OtpCode};
        use crate::messages::MessageBuilder;

        fn phone() -> PhoneNumber {
            PhoneNumber::parse("+4915112345678", Country::parse("DE").expect("DE")).expect("valid")
        }

        #[tokio::test]
        async fn a_recorded_voice_call_gives_its_code_once() {
            let sender = RecordingSender::new();
            let code = OtpCode::custom("482913", "code").expect("valid");
            let message = MessageBuilder::new("twostep", 600, None)
                .voice(&Locale::parse("de").expect("valid"), &code);
            sender
                .send_voice(&phone(), &message)
                .await
                .expect("recorded");
            assert_eq!(sender.last_code(6).as_deref(), Some("482913"));
            assert_eq!(sender.last_code(4), None, "not a code of 4 digits");
            assert!(
                matches!(&sender.sent()[0], Sent::Voice(to, m) if to == "+4915112345678" && *m == message)
            );
            sender.set_failing(true);
            assert!(sender.send_voice(&phone(), &message).await.is_err());
        }
    }
}
