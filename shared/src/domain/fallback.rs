//! Channel fallback: an ordered list of channels, one per send, so that a resend moves on
//! to the next channel (`channels=sms,voice,email`).

use super::{Channel, Destination, EmailAddress, InputError, PhoneNumber, VerificationId, echo};

/// An ordered list of distinct delivery channels (`sms`, `voice`, `email`), one to three.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelList(Vec<Channel>);

impl ChannelList {
    /// Parses a comma-separated list such as `sms,voice,email` (spaces and case ignored).
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let invalid = |message: String| InputError::UnusableChannel {
            field: "channels",
            message,
        };
        let mut channels = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let channel = Channel::parse(part).map_err(|_| {
                invalid(format!("'{}' is not one of sms, voice, email", echo(part)))
            })?;
            if channel == Channel::Totp {
                return Err(invalid(
                    "totp codes come from the authenticator app, not from a send".to_owned(),
                ));
            }
            if channels.contains(&channel) {
                return Err(invalid(format!("{} is listed twice", channel.as_str())));
            }
            channels.push(channel);
        }
        Ok(Self(channels))
    }

    /// The channels, in order.
    pub fn channels(&self) -> &[Channel] {
        &self.0
    }

    /// The channel at `position`, or the last one past the end.
    pub fn at(&self, position: usize) -> Channel {
        self.0
            .get(position)
            .or_else(|| self.0.last())
            .copied()
            .unwrap_or(Channel::Sms)
    }

    /// The last position.
    pub fn last_position(&self) -> usize {
        self.0.len().saturating_sub(1)
    }

    /// The wire and storage form, `sms,voice,email`.
    pub fn as_string(&self) -> String {
        self.0
            .iter()
            .map(Channel::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A fallback flow as asked for: the channels and the destinations they reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The channels, in order.
    pub channels: ChannelList,
    /// The phone number, for `sms` and `voice`.
    pub phone: Option<PhoneNumber>,
    /// The email address, for `email`.
    pub email: Option<EmailAddress>,
}

impl Fallback {
    /// A flow over `channels`; every channel's destination must be given.
    pub fn new(
        channels: ChannelList,
        phone: Option<PhoneNumber>,
        email: Option<EmailAddress>,
    ) -> Result<Self, InputError> {
        let fallback = Self {
            channels,
            phone,
            email,
        };
        for channel in fallback.channels.channels() {
            if fallback.destination_for(*channel).is_none() {
                return Err(if channel.uses_phone() {
                    InputError::MissingDestination {
                        field: "phone",
                        message: "channels lists sms or voice: give a phone number",
                    }
                } else {
                    InputError::MissingDestination {
                        field: "email",
                        message: "channels lists email: give an email address",
                    }
                });
            }
        }
        Ok(fallback)
    }

    /// Where `channel` delivers to, if the flow has that destination.
    pub fn destination_for(&self, channel: Channel) -> Option<Destination> {
        match channel {
            Channel::Sms | Channel::Voice | Channel::Call => {
                self.phone.clone().map(Destination::Sms)
            }
            Channel::Email => self.email.clone().map(Destination::Email),
            Channel::Totp => None,
        }
    }

    /// The channel and destination at `position` (the last one past the end).
    pub fn step(&self, position: usize) -> Option<(Channel, Destination)> {
        let channel = self.channels.at(position);
        self.destination_for(channel).map(|d| (channel, d))
    }

    /// The contact that keeps the flow's progress: the first channel's destination.
    pub fn origin(&self) -> Option<Destination> {
        self.step(0).map(|(_, d)| d)
    }
}

/// A flow's progress, kept on its origin contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackState {
    /// The flow's channels.
    pub channels: ChannelList,
    /// The position of the channel the newest code went by.
    pub position: usize,
    /// When the flow's newest code expires (unix ms): after that, a sign-up starts over.
    pub expires_at: i64,
    /// No move to the next channel before this (unix ms): the newest send's cooldown.
    pub next_at: i64,
    /// The verification of the flow's newest code (absent on progress stored before it was
    /// kept): once it is approved or cancelled the flow is over, and once its delivery
    /// failed the next channel may be tried at once.
    pub latest: Option<VerificationId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Country;

    #[test]
    fn a_list_parses_in_order_and_refuses_repeats_unknowns_and_totp() {
        let list = ChannelList::parse(" SMS, voice ,email").expect("valid");
        assert_eq!(
            list.channels(),
            [Channel::Sms, Channel::Voice, Channel::Email]
        );
        assert_eq!(list.as_string(), "sms,voice,email");
        assert_eq!(list.at(7), Channel::Email);
        for bad in ["sms,sms", "sms,fax", "", "sms,", "totp", "sms,totp"] {
            let e = ChannelList::parse(bad).expect_err(bad);
            assert_eq!(e.field(), Some("channels"), "{bad}");
        }
    }

    #[test]
    fn every_listed_channel_needs_its_destination() {
        let phone = PhoneNumber::parse("+12025550100", Country::parse("US").expect("US")).ok();
        let email = EmailAddress::parse("a@example.com").ok();
        let list = || ChannelList::parse("sms,voice,email").expect("valid");
        assert_eq!(
            Fallback::new(list(), phone.clone(), None)
                .expect_err("no email")
                .field(),
            Some("email")
        );
        assert_eq!(
            Fallback::new(list(), None, email.clone())
                .expect_err("no phone")
                .field(),
            Some("phone")
        );
        let flow = Fallback::new(list(), phone, email).expect("both");
        assert_eq!(flow.step(1).map(|s| s.0), Some(Channel::Voice));
        assert!(matches!(
            flow.step(2),
            Some((Channel::Email, Destination::Email(_)))
        ));
        assert!(matches!(flow.origin(), Some(Destination::Sms(_))));
    }
}
