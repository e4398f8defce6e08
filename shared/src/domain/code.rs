use std::fmt;

use hmac::{Hmac, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{InputError, echo};

/// A one-time code as generated: only ever shown to its recipient, never stored or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    /// Draws `length` decimal digits from the operating system's CSPRNG, uniformly.
    pub fn generate(length: u8) -> Result<Self, rand::rngs::SysError> {
        let value = uniform_below(10u64.pow(u32::from(length)))?;
        Ok(Self(format!(
            "{value:0width$}",
            width = usize::from(length)
        )))
    }

    /// A code the caller chose (a keyed `custom_code`): 4 to 10 digits.
    pub fn custom(raw: &str, field: &'static str) -> Result<Self, InputError> {
        let raw = raw.trim();
        if !(MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&raw.len())
            || !raw.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(InputError::InvalidField {
                field,
                message: format!("must be {MIN_CODE_LENGTH} to {MAX_CODE_LENGTH} digits"),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// A test destination's fixed code: `pattern` repeated and cut to `length` digits.
    pub fn fixed(pattern: &OtpCode, length: u8) -> Self {
        Self(
            pattern
                .0
                .chars()
                .cycle()
                .take(usize::from(length))
                .collect(),
        )
    }

    /// The digits, for the message that carries them.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The number of digits.
    pub fn length(&self) -> u8 {
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }
}

/// The fewest digits a code may have.
pub const MIN_CODE_LENGTH: usize = 4;
/// The most digits a code may have.
pub const MAX_CODE_LENGTH: usize = 10;

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

/// A uniform draw from `0..bound` by rejection sampling: values from the last,
/// incomplete multiple of `bound` are drawn again, so no residue is favoured.
fn uniform_below(bound: u64) -> Result<u64, rand::rngs::SysError> {
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let x = SysRng.try_next_u64()?;
        if x < zone {
            return Ok(x % bound);
        }
    }
}

/// A code as a person typed it: digits only, of the configured length.
#[derive(Clone, PartialEq, Eq)]
pub struct SubmittedCode(String);

impl SubmittedCode {
    /// Keeps the digits, dropping spaces and dashes. Anything else is a format error, and
    /// so is a length that no code can have (outside 4 to 10); whether the length is that
    /// of the verification's code is decided against it (`expected` names the usual one).
    pub fn parse_any(raw: &str, expected: u8) -> Result<Self, InputError> {
        let code = Self::parse(raw, expected).or_else(|e| {
            let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            let possible = (MIN_CODE_LENGTH..=MAX_CODE_LENGTH).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit());
            if possible { Ok(Self(digits)) } else { Err(e) }
        })?;
        Ok(code)
    }

    /// The error for a code whose length is not `length`, the verification's.
    pub fn wrong_length(&self, length: u8) -> InputError {
        InputError::InvalidCodeFormat(format!(
            "a code has {length} digits, this has {}",
            self.0.len()
        ))
    }

    /// The number of digits.
    pub fn length(&self) -> u8 {
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }

    /// Keeps the digits, dropping spaces and dashes; anything else, or the wrong
    /// number of digits, is a format error.
    pub fn parse(raw: &str, length: u8) -> Result<Self, InputError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(InputError::InvalidCodeFormat(format!(
                "'{}' is not a code: use the {length} digits from the message",
                echo(raw)
            )));
        }
        if digits.len() != usize::from(length) {
            return Err(InputError::InvalidCodeFormat(format!(
                "a code has {length} digits, this has {}",
                digits.len()
            )));
        }
        Ok(Self(digits))
    }

    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SubmittedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubmittedCode(<redacted>)")
    }
}

/// A verification's identifier: a ULID, sortable by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerificationId(String);

impl VerificationId {
    /// A new identifier for `now_ms`, with 80 random bits from the OS.
    pub fn generate(now_ms: i64) -> Result<Self, rand::rngs::SysError> {
        let random =
            (u128::from(SysRng.try_next_u64()?) << 64) | u128::from(SysRng.try_next_u64()?);
        let ms = u64::try_from(now_ms).unwrap_or(0);
        Ok(Self(ulid::Ulid::from_parts(ms, random).to_string()))
    }

    /// Accepts a ULID in its 26-character Crockford form (case-insensitive); `None` otherwise.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.len() != 26 {
            return None;
        }
        ulid::Ulid::from_string(raw)
            .ok()
            .map(|u| Self(u.to_string()))
    }

    /// The canonical, upper-case text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The identifier's 128 bits (a Twilio-style SID is `VE` and these in hex).
    pub fn to_u128(&self) -> u128 {
        ulid::Ulid::from_string(&self.0).map_or(0, u128::from)
    }

    /// The identifier of 128 bits.
    pub fn from_u128(bits: u128) -> Self {
        Self(ulid::Ulid::from(bits).to_string())
    }

    /// When it was made (unix ms): a ULID starts with its time.
    pub fn created_at(&self) -> i64 {
        ulid::Ulid::from_string(&self.0).map_or(0, |u| i64::try_from(u.timestamp_ms()).unwrap_or(0))
    }
}

impl fmt::Display for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored code: its HMAC and the fingerprint of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeHash {
    /// HMAC-SHA256 over the verification id and the code.
    pub mac: Vec<u8>,
    /// Which key made `mac` (a fingerprint, not the key).
    pub key_id: String,
}

/// Keys the stored hashes of codes. Holds the current key and, after a rotation,
/// the previous one, so codes sent before the rotation still verify.
#[derive(Clone)]
pub struct CodeHasher {
    current: HashKey,
    previous: Option<HashKey>,
}

#[derive(Clone)]
struct HashKey {
    id: String,
    secret: Vec<u8>,
}

impl HashKey {
    fn new(secret: &[u8]) -> Self {
        let digest = Sha256::digest([b"twostep key id:".as_slice(), secret].concat());
        let id = super::hex(&digest[..6]);
        Self {
            id,
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, verification_id: &VerificationId, digits: &str) -> Vec<u8> {
        // new_from_slice accepts keys of any length for HMAC, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(verification_id.as_str().as_bytes());
        mac.update(b":");
        mac.update(digits.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for CodeHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeHasher")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| &k.id))
            .finish()
    }
}

impl CodeHasher {
    /// Minimum key length, in bytes.
    pub const MIN_KEY_LEN: usize = 32;

    /// A hasher with the current key and optionally the one before a rotation.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        Self {
            current: HashKey::new(current),
            previous: previous.map(HashKey::new),
        }
    }

    /// Hashes a fresh code with the current key, bound to its verification id.
    pub fn hash(&self, verification_id: &VerificationId, code: &OtpCode) -> CodeHash {
        CodeHash {
            mac: self.current.mac(verification_id, code.digits()),
            key_id: self.current.id.clone(),
        }
    }

    /// Compares a submitted code with a stored hash in constant time. A hash made by
    /// a key this hasher no longer holds never matches.
    pub fn matches(
        &self,
        verification_id: &VerificationId,
        submitted: &SubmittedCode,
        stored: &CodeHash,
    ) -> bool {
        let key = std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == stored.key_id);
        match key {
            Some(key) => bool::from(
                key.mac(verification_id, submitted.digits())
                    .ct_eq(&stored.mac),
            ),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id() -> VerificationId {
        VerificationId::generate(1_700_000_000_000).expect("os rng")
    }

    #[test]
    fn codes_have_the_configured_length_and_only_digits() {
        for len in 4..=10u8 {
            let c = OtpCode::generate(len).expect("os rng");
            assert_eq!(c.digits().len(), usize::from(len));
            assert!(c.digits().chars().all(|ch| ch.is_ascii_digit()));
        }
    }

    #[test]
    fn code_digits_are_roughly_uniform() {
        // 20,000 six-digit codes: each digit value appears 12,000 times on average per
        // position set; a biased generator (e.g. a modulo of a small range) shows up here.
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            for b in OtpCode::generate(6).expect("os rng").digits().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        for (digit, &n) in counts.iter().enumerate() {
            assert!(
                (11_300..=12_700).contains(&n),
                "digit {digit} appeared {n} times"
            );
        }
    }

    #[test]
    fn rejection_sampling_stays_below_the_bound() {
        for bound in [1u64, 2, 3, 7, 10, 1_000_000, 10_000_000_000] {
            for _ in 0..200 {
                assert!(uniform_below(bound).expect("os rng") < bound);
            }
        }
    }

    #[test]
    fn the_right_code_matches_and_a_wrong_one_does_not() {
        let hasher = CodeHasher::new(&[7u8; 32], None);
        let vid = id();
        let code = OtpCode::generate(6).expect("os rng");
        let stored = hasher.hash(&vid, &code);
        let right = SubmittedCode::parse(code.digits(), 6).expect("format");
        assert!(hasher.matches(&vid, &right, &stored));
        let wrong_digits = format!(
            "{:06}",
            (code.digits().parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        let wrong = SubmittedCode::parse(&wrong_digits, 6).expect("format");
        assert!(!hasher.matches(&vid, &wrong, &stored));
    }

    #[test]
    fn a_hash_is_bound_to_its_verification() {
        let hasher = CodeHasher::new(&[7u8; 32], None);
        let code = OtpCode::generate(6).expect("os rng");
        let stored = hasher.hash(&id(), &code);
        let submitted = SubmittedCode::parse(code.digits(), 6).expect("format");
        assert!(!hasher.matches(&id(), &submitted, &stored));
    }

    #[test]
    fn codes_hashed_before_a_rotation_still_match_and_unknown_keys_never_do() {
        let old = CodeHasher::new(&[1u8; 32], None);
        let vid = id();
        let code = OtpCode::generate(6).expect("os rng");
        let stored = old.hash(&vid, &code);
        let submitted = SubmittedCode::parse(code.digits(), 6).expect("format");
        let rotated = CodeHasher::new(&[2u8; 32], Some(&[1u8; 32]));
        assert!(rotated.matches(&vid, &submitted, &stored));
        let forgotten = CodeHasher::new(&[2u8; 32], None);
        assert!(!forgotten.matches(&vid, &submitted, &stored));
    }

    #[test]
    fn the_stored_hash_does_not_contain_the_code() {
        let hasher = CodeHasher::new(&[9u8; 32], None);
        let code = OtpCode::generate(6).expect("os rng");
        let stored = hasher.hash(&id(), &code);
        assert_eq!(stored.mac.len(), 32);
        assert!(!format!("{stored:?}").contains(code.digits()));
        assert_eq!(format!("{code:?}"), "OtpCode(<redacted>)");
    }

    #[test]
    fn the_stored_hash_is_an_hmac_sha256_of_the_id_and_code_under_the_secret_key() {
        // Known answer, computed apart: HMAC-SHA256(key = 32 bytes of 7, "<id>:<code>").
        // Without the key, the hash of a six-digit code is no easier to reverse than the
        // key is to guess; an unkeyed hash would be reversed in a million tries.
        let hasher = CodeHasher::new(&[7u8; 32], None);
        let vid = VerificationId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("ulid");
        let stored = hasher.hash(&vid, &OtpCode("123456".to_owned()));
        assert_eq!(
            crate::domain::hex(&stored.mac),
            "cf24c6df0e5ed29fcbd0bdd4d812fe10e29bbfdbc9c483450b93730c8bf6da45"
        );
        assert_eq!(stored.key_id, "b4c0bf6b9a0b", "a fingerprint, not the key");
    }

    #[test]
    fn submitted_codes_ignore_spaces_and_dashes_only() {
        assert_eq!(
            SubmittedCode::parse(" 123-456 ", 6).expect("ok").digits(),
            "123456"
        );
        for bad in ["12345", "1234567", "12a456", "", "١٢٣٤٥٦", "123.456"] {
            assert!(SubmittedCode::parse(bad, 6).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn verification_ids_are_ulids() {
        let a = id();
        assert_eq!(a.as_str().len(), 26);
        assert_eq!(
            VerificationId::parse(&a.as_str().to_lowercase()),
            Some(a.clone())
        );
        assert_eq!(VerificationId::parse("not-an-id"), None);
        assert_ne!(a, id());
    }

    proptest! {
        #[test]
        fn any_input_either_parses_to_digits_or_is_a_format_error(raw in "\\PC{0,20}") {
            if let Ok(c) = SubmittedCode::parse(&raw, 6) {
                prop_assert_eq!(c.digits().len(), 6);
                prop_assert!(c.digits().chars().all(|ch| ch.is_ascii_digit()));
            }
        }
    }
}
