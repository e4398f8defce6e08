//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>, "Signature scheme"):
//! `webhook-signature` is `v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! keyed with the secret's bytes; one signature per valid secret, separated by spaces, so a
//! receiver holding either the current or the previous secret verifies during a rotation.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The prefix the specification gives secrets (`whsec_`), optional here.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest secret accepted, in bytes (the specification: 24 to 64).
pub const MIN_SECRET_BYTES: usize = 24;
/// The longest, in bytes.
pub const MAX_SECRET_BYTES: usize = 64;

/// Standard base64, with or without its padding (receivers' libraries accept both).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a secret was refused. It never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not base64 (after an optional `whsec_`).
    #[error("a webhook secret is base64, optionally after \"whsec_\"")]
    NotBase64,
    /// Too short or too long.
    #[error("a webhook secret decodes to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {0}")]
    Length(usize),
}

/// One signing secret: the bytes that `whsec_<base64>` stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// Parses `whsec_<base64>` or bare base64 (the form Secrets Manager generates: 44
    /// letters and digits, 33 bytes).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = Zeroizing::new(
            LENIENT
                .decode(encoded)
                .map_err(|_| SecretError::NotBase64)?,
        );
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// `v1,<base64 signature>` of `body` as message `id` at `timestamp` (unix seconds).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The secrets deliveries are signed with: the current one and, during a rotation, the
/// previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    /// Signs every delivery.
    pub current: WebhookSecret,
    /// Also signs every delivery while receivers move to `current`.
    pub previous: Option<WebhookSecret>,
}

impl SigningKeys {
    /// The `webhook-signature` header: a signature per secret, separated by a space.
    pub fn signature_header(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut header = self.current.sign(id, timestamp, body);
        if let Some(previous) = &self.previous {
            header.push(' ');
            header.push_str(&previous.sign(id, timestamp, body));
        }
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's own test vector (its "Signature scheme" example, also in the
    // reference libraries' tests).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_as_the_specification_s_example() {
        let secret = WebhookSecret::parse(SPEC_SECRET).expect("the spec's secret");
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        // The prefix is optional.
        let bare = WebhookSecret::parse(&SPEC_SECRET[SECRET_PREFIX.len()..]).expect("bare");
        assert_eq!(bare, secret);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let keys = SigningKeys {
            current: WebhookSecret::parse(&format!("{SECRET_PREFIX}{}", "A".repeat(44))).unwrap(),
            previous: Some(WebhookSecret::parse(SPEC_SECRET).unwrap()),
        };
        let header = keys.signature_header(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_ne!(parts[0], SPEC_SIGNATURE);
        assert_eq!(parts[1], SPEC_SIGNATURE);
        let alone = SigningKeys {
            previous: None,
            ..keys
        };
        assert_eq!(
            alone.signature_header(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            parts[0]
        );
    }

    #[test]
    fn the_generated_form_is_accepted_and_short_or_bad_secrets_are_not() {
        // What Secrets Manager's GenerateSecretString gives (44 letters and digits).
        let generated = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";
        assert_eq!(generated.len(), 44);
        assert!(WebhookSecret::parse(generated).is_ok());
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ="),
            Err(SecretError::Length(5))
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!"),
            Err(SecretError::NotBase64)
        );
        assert!(!format!("{:?}", WebhookSecret::parse(SPEC_SECRET).unwrap()).contains("MfKQ"));
    }
}
