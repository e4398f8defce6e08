//! The channels that carry codes, each in its own file: [`sms`] (SNS), [`voice`] (End User
//! Messaging SMS and Voice), [`email`] (SES v2), [`calls`] (interactive calls placed through a
//! Chime SDK SIP media application) and [`authenticator`] (TOTP apps, which are sent nothing). The service composes a message with [`Outgoing::compose`] and hands it to
//! a [`Sender`]; [`AwsSender`] is the production one.

use async_trait::async_trait;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};

use crate::domain::{
    Channel, Destination, EmailAddress, Locale, OtpCode, PhoneNumber, VerificationId,
};
use crate::messages::{EmailMessage, MessageBuilder, VoiceMessage};

pub mod authenticator;
pub mod calls;
pub mod email;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod sms;
pub mod voice;

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
    /// Places an interactive call for the verification; the call's handler (the calls
    /// function) says what it says. No code travels with it.
    async fn place_call(
        &self,
        to: &PhoneNumber,
        verification_id: &VerificationId,
    ) -> Result<(), DeliveryError>;
}

/// A message that carries a code, composed for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An SMS.
    Sms(PhoneNumber, String),
    /// A call that reads the code.
    Voice(PhoneNumber, VoiceMessage),
    /// An email.
    Email(EmailAddress, EmailMessage),
}

impl Outgoing {
    /// The message that takes `code` to `destination` by `channel`, in `locale`. The
    /// channel was checked against the destination before the code was stored; a phone
    /// number gets an SMS unless the channel is voice.
    pub fn compose(
        messages: &MessageBuilder,
        channel: Channel,
        destination: &Destination,
        locale: &Locale,
        code: &OtpCode,
    ) -> Self {
        match (destination, channel) {
            (Destination::Sms(phone), Channel::Voice) => {
                Self::Voice(phone.clone(), messages.voice(locale, code))
            }
            (
                Destination::Sms(phone),
                Channel::Sms | Channel::Email | Channel::Totp | Channel::Call,
            ) => Self::Sms(phone.clone(), messages.sms(locale, code)),
            (Destination::Email(email), _) => {
                Self::Email(email.clone(), messages.email(locale, code))
            }
        }
    }
}

/// Hands a composed message to the sender of its channel.
pub async fn deliver(sender: &dyn Sender, message: &Outgoing) -> Result<(), DeliveryError> {
    match message {
        Outgoing::Sms(to, text) => sender.send_sms(to, text).await,
        Outgoing::Voice(to, call) => sender.send_voice(to, call).await,
        Outgoing::Email(to, email) => sender.send_email(to, email).await,
    }
}

/// Describes a delivery error by its kind and error code only: the services' messages can
/// quote the phone number or address, which must never reach a log.
pub(crate) fn describe<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(_) => {
            format!("refused ({})", e.code().unwrap_or("unknown error code"))
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(_) => "unreachable".to_owned(),
        _ => "unreadable response".to_owned(),
    }
}

/// The production sender: SMS through SNS, calls through End User Messaging SMS and Voice,
/// email through SES v2, interactive calls through a SIP media application.
#[derive(Debug, Clone)]
pub struct AwsSender {
    sms: sms::SnsSms,
    email: email::SesEmail,
    voice: Option<voice::VoiceCalls>,
    calls: Option<calls::SipCalls>,
}

impl AwsSender {
    /// A sender over the given clients, from the configured identity and sender ID; voice
    /// stays off until [`AwsSender::with_voice`].
    pub fn new(
        sns: aws_sdk_sns::Client,
        ses: aws_sdk_sesv2::Client,
        email_from: &EmailAddress,
        sender_id: Option<&str>,
    ) -> Self {
        Self {
            sms: sms::SnsSms::new(sns, sender_id),
            email: email::SesEmail::new(ses, email_from),
            voice: None,
            calls: None,
        }
    }

    /// The same sender, placing interactive calls through `calls` (none: `channel=call` is
    /// off).
    pub fn with_calls(mut self, calls: Option<calls::SipCalls>) -> Self {
        self.calls = calls;
        self
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
        self.voice = origination_identity
            .map(|origination| voice::VoiceCalls::new(voice, origination, max_price_per_minute));
        self
    }
}

#[async_trait]
impl Sender for AwsSender {
    async fn send_sms(&self, to: &PhoneNumber, text: &str) -> Result<(), DeliveryError> {
        self.sms.send(to, text).await
    }

    async fn send_voice(
        &self,
        to: &PhoneNumber,
        message: &VoiceMessage,
    ) -> Result<(), DeliveryError> {
        match &self.voice {
            Some(calls) => calls.send(to, message).await,
            None => Err(DeliveryError(
                "voice is not enabled (VOICE_ORIGINATION_IDENTITY is empty)".to_owned(),
            )),
        }
    }

    async fn send_email(
        &self,
        to: &EmailAddress,
        message: &EmailMessage,
    ) -> Result<(), DeliveryError> {
        self.email.send(to, message).await
    }

    async fn place_call(
        &self,
        to: &PhoneNumber,
        verification_id: &VerificationId,
    ) -> Result<(), DeliveryError> {
        match &self.calls {
            Some(calls) => calls.place(to, verification_id).await,
            None => Err(DeliveryError(
                "interactive calls are not enabled (SIP_MEDIA_APPLICATION_ID is empty)".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Country;

    #[test]
    fn a_message_is_composed_for_the_channel_that_reaches_its_destination() {
        let messages = MessageBuilder::new("twostep", 600, None);
        let code = OtpCode::custom("482913", "code").expect("valid");
        let locale = Locale::default();
        let phone =
            PhoneNumber::parse("+4915112345678", Country::parse("DE").expect("DE")).expect("valid");
        let email = EmailAddress::parse("ada@example.com").expect("valid");
        let sms = Destination::Sms(phone.clone());
        let compose =
            |channel, to: &Destination| Outgoing::compose(&messages, channel, to, &locale, &code);
        assert!(
            matches!(compose(Channel::Sms, &sms), Outgoing::Sms(to, text) if to == phone && text.contains("482913"))
        );
        assert!(matches!(compose(Channel::Voice, &sms), Outgoing::Voice(to, _) if to == phone));
        let to = Destination::Email(email.clone());
        assert!(
            matches!(compose(Channel::Email, &to), Outgoing::Email(a, m) if a == email && m.text.contains("482913"))
        );
    }
}
