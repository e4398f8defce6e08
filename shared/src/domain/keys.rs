//! API keys for server callers: `tsk_<id>_<secret>`, stored only as a SHA-256 hash.

use std::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::hex;

const PREFIX: &str = "tsk_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A key's public identifier: 12 lower-case hex digits, shown by `list` and in logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    /// Accepts 12 lower-case hex digits.
    pub fn parse(raw: &str) -> Option<Self> {
        is_hex(raw, ID_BYTES * 2).then(|| Self(raw.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key as a caller presents it. Never stored, never logged (its `Debug` shows the id only).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    id: ApiKeyId,
}

fn is_hex(raw: &str, len: usize) -> bool {
    raw.len() == len && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl ApiKey {
    /// A new key: 48 bits of id and 256 bits of secret from the OS CSPRNG.
    pub fn generate() -> Result<Self, rand::rngs::SysError> {
        let mut id = [0u8; ID_BYTES];
        let mut secret = [0u8; SECRET_BYTES];
        SysRng.try_fill_bytes(&mut id)?;
        SysRng.try_fill_bytes(&mut secret)?;
        let id = ApiKeyId(hex(&id));
        Ok(Self {
            text: format!("{PREFIX}{id}_{}", hex(&secret)),
            id,
        })
    }

    /// Accepts exactly the form that [`ApiKey::generate`] makes; anything else is no key.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id = ApiKeyId::parse(id)?;
        is_hex(secret, SECRET_BYTES * 2).then(|| Self {
            text: raw.to_owned(),
            id,
        })
    }

    /// The key's public id.
    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }

    /// The whole key, to show once to whoever created it.
    pub fn reveal(&self) -> &str {
        &self.text
    }

    /// What the table keeps: the SHA-256 of the key, in hex. A key has 256 bits of
    /// entropy, so a fast hash is enough (no password-style stretching is needed).
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.text.as_bytes()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}, <redacted>)", self.id)
    }
}

/// A stored key: its id, hash, name and life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public id.
    pub id: ApiKeyId,
    /// The SHA-256 of the key, hex.
    pub hash: String,
    /// What its creator called it (`ivr-prod`).
    pub name: String,
    /// When it was created (unix ms).
    pub created_at: i64,
    /// When it was revoked (unix ms), if it was.
    pub revoked_at: Option<i64>,
}

impl ApiKeyRecord {
    /// The record of a new key.
    pub fn new(key: &ApiKey, name: &str, now: i64) -> Self {
        Self {
            id: key.id().clone(),
            hash: key.hash(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
        }
    }

    /// Whether `key` is this key and it is not revoked; the hashes are compared in
    /// constant time.
    pub fn accepts(&self, key: &ApiKey) -> bool {
        self.revoked_at.is_none()
            && self.id == *key.id()
            && bool::from(key.hash().as_bytes().ct_eq(self.hash.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_is_accepted_by_its_record_only() {
        let key = ApiKey::generate().expect("os rng");
        assert!(key.reveal().starts_with("tsk_"));
        assert_eq!(key.reveal().len(), 4 + 12 + 1 + 64);
        let parsed = ApiKey::parse(key.reveal()).expect("parses");
        assert_eq!(parsed, key);
        let record = ApiKeyRecord::new(&key, "ivr", 1);
        assert!(record.accepts(&parsed));
        assert_ne!(
            record.hash,
            key.reveal(),
            "the record keeps a hash, not the key"
        );
        let other = ApiKey::generate().expect("os rng");
        assert!(!record.accepts(&other));
        // Same id, other secret: refused by the hash.
        let forged = format!("tsk_{}_{}", key.id(), "0".repeat(64));
        assert!(!record.accepts(&ApiKey::parse(&forged).expect("well formed")));
        let revoked = ApiKeyRecord {
            revoked_at: Some(2),
            ..record
        };
        assert!(!revoked.accepts(&key));
    }

    #[test]
    fn only_the_exact_form_is_a_key_and_debug_hides_the_secret() {
        let key = ApiKey::generate().expect("os rng");
        for bad in [
            "",
            "tsk_",
            &key.reveal().to_uppercase(),
            &key.reveal()[..key.reveal().len() - 1],
            &format!("{}0", key.reveal()),
            &key.reveal().replace("tsk_", "sk_"),
            &format!(" {}", key.reveal()),
        ] {
            assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
        }
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id().as_str()));
        assert!(!shown.contains(&key.reveal()[17..]));
    }
}
