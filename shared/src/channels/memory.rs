//! A [`Sender`] that records what it was asked to send, for tests.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{DeliveryError, Sender};
use crate::domain::{EmailAddress, PhoneNumber, VerificationId};
use crate::messages::{EmailMessage, VoiceMessage};

/// One recorded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// An SMS: the number and the text.
    Sms(String, String),
    /// An email: the address and the message.
    Email(String, EmailMessage),
    /// A voice call: the number and the message.
    Voice(String, VoiceMessage),
    /// An interactive call placed: the number and the verification id (it carries no code).
    Call(String, String),
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
            Sent::Call(..) => String::new(),
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

    async fn place_call(
        &self,
        to: &PhoneNumber,
        verification_id: &VerificationId,
    ) -> Result<(), DeliveryError> {
        self.record(Sent::Call(
            to.as_str().to_owned(),
            verification_id.as_str().to_owned(),
        ))
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
