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

/// What a key may do: one scope per kind of call (`docs/integrations/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Send codes: sign-up, resend, a customer's send, and the adapters' sends.
    Send,
    /// Check codes (also an authenticator app's), and approve a verification.
    Check,
    /// Read a verification's status.
    Status,
    /// Cancel a verification.
    Cancel,
    /// Look contacts up (`GET /contacts`, Genesys IA's verified methods).
    Lookup,
    /// The keyed settings of a send (`code_length`, `ttl_seconds`, `custom_code`, a brand)
    /// and of an enrolment (`replace`).
    Options,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 6] = [
        Scope::Send,
        Scope::Check,
        Scope::Status,
        Scope::Cancel,
        Scope::Lookup,
        Scope::Options,
    ];

    /// The scope's name, as `keys.sh` takes it and a `403 scope_required` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Check => "check",
            Scope::Status => "status",
            Scope::Cancel => "cancel",
            Scope::Lookup => "lookup",
            Scope::Options => "options",
        }
    }

    /// A scope by its name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes; never empty once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope: a key made without `--scopes`, and every key made before scopes existed.
    pub const ALL: Scopes = Scopes(0b11_1111);

    /// A comma-separated list (`send,check`), each name once at most; `None` for an empty
    /// list, an unknown name or a repeated one.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::from_names(raw.split(',').map(str::trim))
    }

    /// The scopes of these names; `None` as [`Scopes::parse`].
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut bits = 0u8;
        for name in names {
            let bit = Scope::parse(name)?.bit();
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        (bits != 0).then_some(Self(bits))
    }

    /// Whether the set holds `scope`.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes' names, in [`Scope::ALL`]'s order.
    pub fn names(self) -> Vec<&'static str> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// The most sends a key may make per send window (`keys.sh create NAME --max-sends N`).
pub const MAX_SENDS_PER_KEY_LIMIT: u32 = 10_000_000;

/// A stored key: its id, hash, name, life, scopes and send limit.
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
    /// What it may do.
    pub scopes: Scopes,
    /// The most codes it may send per `SEND_WINDOW_SECONDS`; `None`: no limit of its own.
    pub max_sends: Option<u32>,
}

impl ApiKeyRecord {
    /// The record of a new key with every scope and no send limit of its own.
    pub fn new(key: &ApiKey, name: &str, now: i64) -> Self {
        Self {
            id: key.id().clone(),
            hash: key.hash(),
            name: name.to_owned(),
            created_at: now,
            revoked_at: None,
            scopes: Scopes::ALL,
            max_sends: None,
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
    fn scopes_parse_from_their_names_once_each_and_print_in_order() {
        let s = Scopes::parse("check, send").expect("parses");
        assert!(s.contains(Scope::Send) && s.contains(Scope::Check));
        assert!(!s.contains(Scope::Lookup) && !s.contains(Scope::Options));
        assert_eq!(s.to_string(), "send,check");
        assert_eq!(
            Scopes::parse("send,check,status,cancel,lookup,options"),
            Some(Scopes::ALL)
        );
        for bad in ["", "send,", "Send", "send,send", "admin", "send check"] {
            assert_eq!(Scopes::parse(bad), None, "{bad:?}");
        }
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert!(Scopes::ALL.contains(scope));
        }
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
