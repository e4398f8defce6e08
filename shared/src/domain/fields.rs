use super::{InputError, echo};

/// A first or last name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name for the given field (`first_name` or `last_name`).
    pub fn parse(raw: &str, field: &'static str) -> Result<Self, InputError> {
        let raw = raw.trim();
        if raw.chars().count() > 100 {
            return Err(InputError::InvalidField {
                field,
                message: "is longer than 100 characters".to_owned(),
            });
        }
        if raw.chars().any(char::is_control) {
            return Err(InputError::InvalidField {
                field,
                message: "contains control characters".to_owned(),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A keyed caller's identifier of a person (an account number from its CRM): 1 to 64
/// visible ASCII characters. Stored only as a hash; never shown to unkeyed callers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    /// Parses the `customer_id` field.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InputError::InvalidField {
                field: "customer_id",
                message: "must be 1 to 64 visible ASCII characters".to_owned(),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key that stands for it in the table: a hash, so the table holds no account numbers.
    pub fn key(&self) -> CustomerKey {
        CustomerKey(super::sha256_hex(&["customer", &self.0]))
    }
}

/// A customer's key in the table: the hash of its [`CustomerId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerKey(String);

impl CustomerKey {
    /// A key as it was stored (64 hex digits).
    pub fn from_stored(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(raw.to_owned()))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What twostep knows of a customer: the destinations verified for it (the newest of each
/// kind), with when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// The customer's key.
    pub key: CustomerKey,
    /// Its verified phone number, and when it was verified (unix ms).
    pub phone: Option<(super::PhoneNumber, i64)>,
    /// Its verified email address, and when it was verified (unix ms).
    pub email: Option<(super::EmailAddress, i64)>,
}

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters (a UUID, typically).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The header's name, as the `field` of an error about it.
    pub const HEADER: &'static str = "Idempotency-Key";

    /// Parses the header's value.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InputError::InvalidField {
                field: Self::HEADER,
                message: "must be 1 to 255 visible ASCII characters".to_owned(),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A BCP 47 language tag (`de`, `en-GB`, `zh-Hant-TW`), normalised in case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locale(String);

impl Default for Locale {
    fn default() -> Self {
        Self("en".to_owned())
    }
}

impl Locale {
    /// Parses a tag; `_` is accepted in place of `-`.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let invalid = || InputError::InvalidField {
            field: "locale",
            message: format!(
                "'{}' is not a BCP 47 language tag such as en or de-AT",
                echo(raw)
            ),
        };
        let raw = raw.trim();
        if raw.len() > 35 {
            return Err(invalid());
        }
        let mut parts = raw.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(invalid());
        }
        let mut tag = language.to_ascii_lowercase();
        for part in parts {
            if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(invalid());
            }
            tag.push('-');
            match part.len() {
                2 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    tag.push_str(&part.to_ascii_uppercase())
                }
                4 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let mut chars = part.chars();
                    tag.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                    tag.push_str(&chars.as_str().to_ascii_lowercase());
                }
                _ => tag.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Self(tag))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tag and its less specific fallbacks, most specific first: `de-AT` → `de-AT`, `de`.
    pub fn fallbacks(&self) -> impl Iterator<Item = &str> {
        let tag = self.0.as_str();
        let mut cut = Some(tag.len());
        std::iter::from_fn(move || {
            let end = cut?;
            let out = &tag[..end];
            cut = out.rfind('-');
            Some(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_normalised_and_fall_back_to_less_specific_tags() {
        let l = Locale::parse("DE_at").expect("valid");
        assert_eq!(l.as_str(), "de-AT");
        assert_eq!(l.fallbacks().collect::<Vec<_>>(), ["de-AT", "de"]);
        assert_eq!(
            Locale::parse("zh-hant-tw").expect("valid").as_str(),
            "zh-Hant-TW"
        );
        for bad in ["e", "english-language", "de--AT", "12", "de-AT-", "x"] {
            assert!(Locale::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_over_100_characters_or_with_control_characters_are_refused() {
        assert!(PersonName::parse(&"é".repeat(100), "first_name").is_ok());
        assert!(PersonName::parse(&"é".repeat(101), "first_name").is_err());
        assert!(PersonName::parse("Ada\u{0}", "last_name").is_err());
    }
}
