//! Domain types: values that are valid by construction, parsed once at the edge.

mod call;
mod code;
mod contact;
mod destination;
mod factor;
mod fallback;
mod fields;
mod keys;
mod phone_db;

pub use call::{CallMode, CallState};
pub use code::{
    CodeHash, CodeHasher, MAX_CODE_LENGTH, MIN_CODE_LENGTH, OtpCode, SubmittedCode, VerificationId,
};
pub use contact::{
    CodeRules, CodeState, ContactRecord, ContactStatus, CurrentCode, VerificationRecord,
    VerificationState, VerificationStatus,
};
pub use destination::{Channel, Country, Destination, EmailAddress, PhoneNumber};
pub use factor::{FactorState, SealedSecret, TotpFactor};
pub use fallback::{ChannelList, Fallback, FallbackState};
pub use fields::{CustomerId, CustomerKey, CustomerRecord, IdempotencyKey, Locale, PersonName};
pub use keys::{ApiKey, ApiKeyId, ApiKeyRecord, MAX_SENDS_PER_KEY_LIMIT, Scope, Scopes};

/// Why a piece of input was refused; each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The phone number does not parse, or is not a valid number.
    #[error("phone: '{0}' is not a valid number")]
    InvalidPhone(String),
    /// The email address is not a deliverable address.
    #[error("email: '{0}' is not a valid email address")]
    InvalidEmail(String),
    /// The channel is not one of `sms`, `voice`, `email`.
    #[error("channel: '{0}' is not one of sms, voice, email")]
    InvalidChannel(String),
    /// The channel exists but cannot be used here (not enabled, or not for this request).
    #[error("{field}: {message}")]
    UnusableChannel {
        /// The field at fault (`channel` or `channels`).
        field: &'static str,
        /// Why, in words.
        message: String,
    },
    /// The destination that the channel needs is missing.
    #[error("{field}: {message}")]
    MissingDestination {
        /// The field that should have been given.
        field: &'static str,
        /// What is missing, in words.
        message: &'static str,
    },
    /// Another field is out of its range or form.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field at fault.
        field: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// The code is not a run of digits of the configured length.
    #[error("code: {0}")]
    InvalidCodeFormat(String),
    /// The number is valid but of a kind that must not receive codes (premium-rate, …).
    #[error("phone: {0} numbers cannot receive codes")]
    UnfitPhone(&'static str),
    /// The number's country is not in `SMS_ALLOWED_COUNTRIES`.
    #[error("phone: codes are not sent to numbers in {0}")]
    CountryNotAllowed(String),
    /// The form's `redirect` is not an allowed target.
    #[error("redirect: {0}")]
    InvalidRedirect(String),
}

impl InputError {
    /// The request field at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidPhone(_) | Self::UnfitPhone(_) | Self::CountryNotAllowed(_) => {
                Some("phone")
            }
            Self::InvalidEmail(_) => Some("email"),
            Self::InvalidChannel(_) => Some("channel"),
            Self::MissingDestination { field, .. }
            | Self::InvalidField { field, .. }
            | Self::UnusableChannel { field, .. } => Some(field),
            Self::InvalidCodeFormat(_) => Some("code"),
            Self::InvalidRedirect(_) => Some("redirect"),
        }
    }
}

/// Bytes as lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The SHA-256 of `parts` as hex, each part ended by a NUL byte so that no two lists of
/// parts run together.
pub(crate) fn sha256_hex(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize())
}

/// Shortens user input before it is echoed in an error detail, so that a huge
/// field cannot bloat the response.
pub(crate) fn echo(raw: &str) -> String {
    const MAX: usize = 40;
    if raw.chars().count() <= MAX {
        raw.to_owned()
    } else {
        let mut s: String = raw.chars().take(MAX).collect();
        s.push('…');
        s
    }
}
