use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use serde::{Deserialize, Serialize};

use super::{InputError, echo, phone_db};

/// An ISO 3166-1 alpha-2 region, as the phone-number metadata knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(country::Id);

impl Country {
    /// Parses a two-letter code such as `US` or `de`.
    pub fn parse(raw: &str) -> Option<Self> {
        country::Id::from_str(&raw.trim().to_ascii_uppercase())
            .ok()
            .map(Self)
    }

    /// The two-letter code, upper case.
    pub fn code(&self) -> String {
        let id: &str = self.0.as_ref();
        id.to_owned()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// A valid phone number, always held in E.164 form (`+4989202451100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    calling_code: u16,
    country: Option<Country>,
    kind: phonenumber::Type,
}

impl PhoneNumber {
    /// Parses E.164, a national number in `default_region`, or international digits
    /// written without `+` or with `00`, in that order of preference.
    pub fn parse(raw: &str, default_region: Country) -> Result<Self, InputError> {
        let raw = raw.trim();
        let invalid = || InputError::InvalidPhone(echo(raw));
        if raw.is_empty() || raw.len() > 40 || raw.chars().any(char::is_alphabetic) {
            return Err(invalid());
        }
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let mut candidates: Vec<(Option<country::Id>, String)> = Vec::with_capacity(3);
        if raw.starts_with('+') {
            candidates.push((None, raw.to_owned()));
        } else {
            candidates.push((Some(default_region.0), raw.to_owned()));
            if let Some(rest) = digits.strip_prefix("00") {
                candidates.push((None, format!("+{rest}")));
            }
            candidates.push((None, format!("+{digits}")));
        }
        candidates
            .into_iter()
            .find_map(|(region, text)| {
                let db = phone_db::for_input(region, &text)?;
                let n = phonenumber::parse_with(db, region, text).ok()?;
                (phonenumber::is_valid_with(db, &n) && n.extension().is_none())
                    .then(|| Self::of(db, &n))
            })
            .ok_or_else(invalid)
    }

    /// A number parsed and found valid with `db`.
    pub(super) fn of(db: &phonenumber::metadata::Database, n: &phonenumber::PhoneNumber) -> Self {
        Self {
            // What the crate's E.164 formatter writes, without the national formats it
            // would match first (and never use in this mode).
            e164: format!("+{}{}", n.code().value(), n.national()),
            calling_code: n.code().value(),
            country: n
                .metadata(db)
                .and_then(|m| m.id().parse().ok())
                .map(Country),
            kind: n.number_type(db),
        }
    }

    /// Rebuilds a number that was stored in E.164 form.
    pub fn from_e164(e164: &str) -> Result<Self, InputError> {
        if !e164.starts_with('+') {
            return Err(InputError::InvalidPhone(echo(e164)));
        }
        // The region only matters for national input; stored numbers are international.
        Self::parse(e164, Country(country::Id::US))
    }

    /// The metadata's type of the number (mobile, fixed line, toll-free, …).
    #[cfg(test)]
    pub(super) fn kind(&self) -> phonenumber::Type {
        self.kind
    }

    /// The number in E.164 form.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// The region the number belongs to, when the metadata names one.
    pub fn country(&self) -> Option<Country> {
        self.country
    }

    /// Why a code must not be sent to this number, if it is of a kind that cannot receive
    /// one or that costs the sender more than an SMS should (the metadata's number type).
    pub fn unfit_for_codes(&self) -> Option<&'static str> {
        unfit_kind(self.kind)
    }

    /// The number with all but its calling code and last four digits hidden: `+49*******1100`.
    pub fn masked(&self) -> String {
        let prefix = format!("+{}", self.calling_code);
        let total = self.e164.len();
        let keep_end = 4.min(total.saturating_sub(prefix.len()));
        let hidden = total - prefix.len() - keep_end;
        format!(
            "{prefix}{}{}",
            "*".repeat(hidden),
            &self.e164[total - keep_end..]
        )
    }
}

/// Why a code must not be sent to a number of this metadata type, if it must not.
pub(super) fn unfit_kind(kind: phonenumber::Type) -> Option<&'static str> {
    use phonenumber::Type as T;
    match kind {
        T::PremiumRate => Some("premium-rate"),
        T::SharedCost => Some("shared-cost"),
        T::TollFree => Some("toll-free"),
        T::Voicemail => Some("voicemail"),
        T::Uan => Some("universal access"),
        T::Pager => Some("pager"),
        T::Emergency | T::ShortCode => Some("short or emergency"),
        T::Unknown => Some("unclassified"),
        _ => None,
    }
}

/// A syntactically deliverable email address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses a plain `local@domain.tld` address (no display name, quotes or IP literals).
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = raw.trim();
        let invalid = || InputError::InvalidEmail(echo(raw));
        if raw.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| {
                tld.len() >= 2
                    && (tld.chars().all(|c| c.is_ascii_alphabetic()) || tld.starts_with("xn--"))
            });
        if local_ok && domain_ok {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(invalid())
        }
    }

    /// The address, lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address with its local part hidden but for the first character: `a***@example.com`.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".to_owned(),
        }
    }
}

/// How a code travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message through SNS.
    Sms,
    /// A phone call that reads the code, through End User Messaging SMS and Voice.
    Voice,
    /// An email through SES v2.
    Email,
    /// An authenticator app (RFC 6238): nothing is sent; the app makes the code.
    Totp,
    /// An interactive call (Amazon Chime SDK PSTN Audio): it reads the code with "press 1 to
    /// hear it again", or takes the code on the keypad (`docs/channels.md`).
    Call,
}

impl Channel {
    /// Every channel, in the order the docs list them.
    pub const ALL: [Self; 5] = [Self::Sms, Self::Voice, Self::Email, Self::Totp, Self::Call];

    /// Parses `sms`, `voice`, `email`, `totp` or `call`, ignoring case.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "sms" => Ok(Self::Sms),
            "voice" => Ok(Self::Voice),
            "email" => Ok(Self::Email),
            "totp" => Ok(Self::Totp),
            "call" => Ok(Self::Call),
            _ => Err(InputError::InvalidChannel(echo(raw))),
        }
    }

    /// The wire name: `sms`, `voice`, `email`, `totp` or `call`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Voice => "voice",
            Self::Email => "email",
            Self::Totp => "totp",
            Self::Call => "call",
        }
    }

    /// Whether codes by this channel go to a phone number (else to an email address, or,
    /// for TOTP, nowhere).
    pub fn uses_phone(&self) -> bool {
        matches!(self, Self::Sms | Self::Voice | Self::Call)
    }
}

/// Where a code goes: the only key a contact has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// A phone number that receives SMS.
    Sms(PhoneNumber),
    /// An email address.
    Email(EmailAddress),
}

impl Destination {
    /// The channel this destination is reached by.
    pub fn channel(&self) -> Channel {
        match self {
            Self::Sms(_) => Channel::Sms,
            Self::Email(_) => Channel::Email,
        }
    }

    /// The destination as the contact's storage key, e.g. `sms#+4989202451100`.
    pub fn key(&self) -> String {
        format!("{}#{}", self.channel().as_str(), self.address())
    }

    /// Rebuilds a destination from its storage key.
    pub fn from_key(key: &str) -> Result<Self, InputError> {
        match key.split_once('#') {
            Some(("sms", number)) => PhoneNumber::from_e164(number).map(Self::Sms),
            Some(("email", address)) => EmailAddress::parse(address).map(Self::Email),
            _ => Err(InputError::InvalidField {
                field: "destination",
                message: "unknown destination key".to_owned(),
            }),
        }
    }

    /// The full number or address. Never log it: use [`Destination::masked`].
    pub fn address(&self) -> &str {
        match self {
            Self::Sms(p) => p.as_str(),
            Self::Email(e) => e.as_str(),
        }
    }

    /// The destination as shown to clients and written to logs.
    pub fn masked(&self) -> String {
        match self {
            Self::Sms(p) => p.masked(),
            Self::Email(e) => e.masked(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us() -> Country {
        Country::parse("US").expect("US is a region")
    }

    #[test]
    fn e164_national_and_bare_international_numbers_parse_to_e164() {
        for (raw, want) in [
            ("+4989202451100", "+4989202451100"),
            ("+49 89 202451100", "+4989202451100"),
            ("(202) 555-0100", "+12025550100"),
            ("202-555-0100", "+12025550100"),
            ("4989202451100", "+4989202451100"),
            ("004989202451100", "+4989202451100"),
            ("011 49 89 202451100", "+4989202451100"),
        ] {
            let n = PhoneNumber::parse(raw, us()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(n.as_str(), want, "{raw}");
        }
    }

    #[test]
    fn national_numbers_use_the_default_region() {
        let de = Country::parse("de").expect("DE");
        let n = PhoneNumber::parse("089 202451100", de).expect("a German national number");
        assert_eq!(n.as_str(), "+4989202451100");
        assert_eq!(n.country(), Some(de));
    }

    #[test]
    fn short_nonsense_and_letters_are_refused() {
        for raw in [
            "+1 555",
            "+1555",
            "12",
            "",
            "abc",
            "+49 89 2024511000000000",
            "555-CALL-NOW",
            "+1 202 555 0100 ext. 5",
        ] {
            assert!(
                matches!(
                    PhoneNumber::parse(raw, us()),
                    Err(InputError::InvalidPhone(_))
                ),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn a_masked_number_keeps_the_calling_code_and_last_four_digits() {
        let n = PhoneNumber::parse("+4989202451100", us()).expect("valid");
        assert_eq!(n.masked(), "+49*******1100");
        let n = PhoneNumber::parse("+12025550100", us()).expect("valid");
        assert_eq!(n.masked(), "+1******0100");
    }

    #[test]
    fn emails_are_lower_cased_and_masked() {
        let e = EmailAddress::parse("  Ada.Lovelace+otp@Example.COM ").expect("valid");
        assert_eq!(e.as_str(), "ada.lovelace+otp@example.com");
        assert_eq!(e.masked(), "a***@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for raw in [
            "",
            "a",
            "a@",
            "@b.co",
            "a@b",
            "a@b.c",
            "a b@c.de",
            "a..b@c.de",
            ".a@c.de",
            "a@-c.de",
            "a@c..de",
            "\"a\"@c.de",
            "a@[127.0.0.1]",
            "a@c\n.de",
        ] {
            assert!(
                matches!(EmailAddress::parse(raw), Err(InputError::InvalidEmail(_))),
                "{raw:?} should be refused"
            );
        }
    }

    #[test]
    fn a_destination_survives_its_storage_key() {
        for d in [
            Destination::Sms(PhoneNumber::parse("+4989202451100", us()).expect("valid")),
            Destination::Email(EmailAddress::parse("a@example.com").expect("valid")),
        ] {
            assert_eq!(Destination::from_key(&d.key()).expect("round trip"), d);
        }
    }

    proptest! {
        #[test]
        fn the_phone_parser_never_panics_and_yields_e164(raw in "\\PC{0,30}") {
            if let Ok(n) = PhoneNumber::parse(&raw, us()) {
                prop_assert!(n.as_str().starts_with('+'));
                prop_assert!(n.as_str()[1..].chars().all(|c| c.is_ascii_digit()));
                prop_assert!(n.as_str().len() <= 16);
            }
        }

        #[test]
        fn the_email_parser_never_panics_and_is_idempotent(raw in "\\PC{0,40}") {
            if let Ok(e) = EmailAddress::parse(&raw) {
                prop_assert_eq!(EmailAddress::parse(e.as_str()), Ok(e.clone()));
            }
        }
    }
}
