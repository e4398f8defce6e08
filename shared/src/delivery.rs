//! Delivery of codes: the [`Sender`] trait, and its SNS (SMS) and SES v2 (email) implementation.

use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination as SesDestination, EmailContent, Message};
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use crate::domain::{EmailAddress, PhoneNumber};
use crate::messages::EmailMessage;

/// A delivery that did not go out.
#[derive(Debug, thiserror::Error)]
#[error("delivery failed: {0}")]
pub struct DeliveryError(pub String);

/// Sends the messages that carry codes.
#[async_trait]
pub trait Sender: Send + Sync {
    /// Sends a transactional SMS.
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError>;
    /// Sends an email.
    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &EmailMessage,
    ) -> Result<(), DeliveryError>;
}

/// SMS through SNS `Publish`, email through SES v2 `SendEmail`.
#[derive(Debug, Clone)]
pub struct AwsSender {
    sns: aws_sdk_sns::Client,
    ses: aws_sdk_sesv2::Client,
    email_from: String,
    sender_id: Option<String>,
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
            email_from: email_from.as_str().to_owned(),
            sender_id: sender_id.map(str::to_owned),
        }
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

        /// The code of `length` digits in the newest message, if anything was sent.
        pub fn last_code(&self, length: usize) -> Option<String> {
            let text = match self.sent().pop()? {
                Sent::Sms(_, text) => text,
                Sent::Email(_, message) => message.text,
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

        async fn send_email(
            &self,
            to: &EmailAddress,
            message: &EmailMessage,
        ) -> Result<(), DeliveryError> {
            self.record(Sent::Email(to.as_str().to_owned(), message.clone()))
        }
    }
}
