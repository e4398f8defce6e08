//! The one typed configuration, read once at start from the environment. Each numeric
//! setting's variable, default and range is a [`Setting`]: the limits' own are in
//! [`limits`](crate::service::limits), beside their rules; [`SETTINGS`] lists them all, and
//! a test holds template.yaml's parameter defaults to them.

use std::collections::HashMap;

use crate::domain::{Country, Destination, EmailAddress, OtpCode, PhoneNumber};
use crate::service::limits;

/// A numeric setting: its environment variable, its default and its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The environment variable.
    pub variable: &'static str,
    /// The value when the variable is unset or blank.
    pub default: u32,
    /// The smallest value accepted.
    pub min: u32,
    /// The largest value accepted.
    pub max: u32,
}

impl Setting {
    /// A setting of `variable`, `default` when unset, from `min` to `max`.
    pub const fn new(variable: &'static str, default: u32, min: u32, max: u32) -> Self {
        Self {
            variable,
            default,
            min,
            max,
        }
    }
}

/// Digits per code.
pub const CODE_LENGTH: Setting = Setting::new("CODE_LENGTH", 6, 4, 10);
/// A code's life in seconds.
pub const CODE_TTL_SECONDS: Setting = Setting::new("CODE_TTL_SECONDS", 600, 1, 86_400);
/// Hours after which cleanup deletes an unverified contact.
pub const UNVERIFIED_RETENTION_HOURS: Setting =
    Setting::new("UNVERIFIED_RETENTION_HOURS", 24, 0, 24 * 366);
/// Seconds the functions keep the list of API keys.
pub const API_KEY_CACHE_SECONDS: Setting = Setting::new("API_KEY_CACHE_SECONDS", 60, 0, 3_600);
/// Seconds after an approval during which its verification may enrol an app.
pub const TOTP_ENROLL_WINDOW_SECONDS: Setting =
    Setting::new("TOTP_ENROLL_WINDOW_SECONDS", 600, 60, 86_400);

/// How often one interactive call reads its code again when `1` is pressed.
pub const CALL_MAX_REPEATS: Setting = Setting::new("CALL_MAX_REPEATS", 3, 0, 10);
/// Inbound calls per number per `SEND_WINDOW_SECONDS`; beyond it a call is rejected unanswered.
pub const MAX_INBOUND_CALLS_PER_WINDOW: Setting =
    Setting::new("MAX_INBOUND_CALLS_PER_WINDOW", 5, 1, 1_000);

/// Every numeric setting.
pub const SETTINGS: [Setting; 13] = [
    CODE_LENGTH,
    CODE_TTL_SECONDS,
    limits::MAX_CHECK_ATTEMPTS,
    limits::RESEND_COOLDOWN_SECONDS,
    limits::MAX_SENDS_PER_WINDOW,
    limits::MAX_SENDS_PER_IP,
    limits::SEND_WINDOW_SECONDS,
    UNVERIFIED_RETENTION_HOURS,
    API_KEY_CACHE_SECONDS,
    TOTP_ENROLL_WINDOW_SECONDS,
    limits::TOTP_LOCK_SECONDS,
    CALL_MAX_REPEATS,
    MAX_INBOUND_CALLS_PER_WINDOW,
];

/// A configuration value that is missing or out of range: the function refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {variable} {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Every setting of the API contract, parsed and range-checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table.
    pub table_name: String,
    /// Digits per code (4 to 10).
    pub code_length: u8,
    /// A code's life in seconds.
    pub code_ttl_seconds: u32,
    /// Checks allowed per code.
    pub max_check_attempts: u32,
    /// Seconds between sends to one destination.
    pub resend_cooldown_seconds: u32,
    /// Sends to one destination per window.
    pub max_sends_per_window: u32,
    /// Sends from one client address per window.
    pub max_sends_per_ip: u32,
    /// The send window in seconds.
    pub send_window_seconds: u32,
    /// Hours after which cleanup deletes an unverified contact (0: at the next run).
    pub unverified_retention_hours: u32,
    /// Region for numbers written without an international prefix.
    pub default_country: Country,
    /// Regions SMS may go to; empty means all.
    pub sms_allowed_countries: Vec<Country>,
    /// The SES sender identity.
    pub email_from: EmailAddress,
    /// The SNS sender ID, where the country supports one.
    pub sms_sender_id: Option<String>,
    /// Where voice calls come from (End User Messaging phone number, its ID or ARN, or a pool
    /// ID or ARN); none: the voice channel is off.
    pub voice_origination_identity: Option<String>,
    /// The most a call may cost per minute (USD, `0.10`): AWS does not place a call to a
    /// destination that costs more (a cap on toll fraud); none: no cap.
    pub voice_max_price_per_minute: Option<String>,
    /// The name the messages give.
    pub brand_name: String,
    /// Origins whose browsers may call the API.
    pub allowed_origins: Vec<String>,
    /// Origins a form post may be redirected to.
    pub allowed_redirect_origins: Vec<String>,
    /// When set, an SMS ends with the WebOTP line `@domain #code`.
    pub webotp_domain: Option<String>,
    /// The Secrets Manager secret (name or ARN) holding the code-hash key.
    pub code_hash_secret_id: String,
    /// The CloudWatch namespace of the metrics (one per stack, so staging and prod differ).
    pub metrics_namespace: String,
    /// Seconds the functions keep the list of API keys before reading it again.
    pub api_key_cache_seconds: u32,
    /// The EventBridge bus that outcome events go to; none: no events.
    pub event_bus_name: Option<String>,
    /// The deployment's environment (`dev`, `staging`, `prod`).
    pub environment: String,
    /// Destinations that get [`Config::test_code`] and no message (test mode).
    pub test_destinations: Vec<Destination>,
    /// The fixed code of the test destinations.
    pub test_code: Option<OtpCode>,
    /// The Secrets Manager secret (name or ARN) holding the key that seals TOTP secrets;
    /// none: authenticator apps are off.
    pub totp_key_secret_id: Option<String>,
    /// Seconds after an approval during which its verification may enrol an app.
    pub totp_enroll_window_seconds: u32,
    /// The TOTP failure window: `MAX_CHECK_ATTEMPTS` wrong app codes lock the factor until it
    /// ends.
    pub totp_lock_seconds: u32,
    /// Interactive calls (`channel=call`, Amazon Chime SDK PSTN Audio).
    pub calls: CallsConfig,
}

/// Interactive calls' settings (`docs/channels.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallsConfig {
    /// The SIP media application that places the calls (`SIP_MEDIA_APPLICATION_ID`). The
    /// send function needs it to call; the calls function, when it has it, answers no other.
    pub sip_media_application_id: Option<String>,
    /// The number calls come from and people call back (`CALL_FROM_NUMBER`, E.164). Its
    /// form is checked here (`+`, then 8 to 15 digits); Chime checks that it is the
    /// account's. It is not parsed against the phone metadata: that would build its calling
    /// code's (for `+1`, 25 regions') at every start of send and calls.
    pub from_number: Option<String>,
    /// Whether a call from a number with a pending call verification continues it
    /// (`CALL_BACK_ENABLED`, off by default: caller ID can be forged).
    pub call_back: bool,
    /// How often `1` reads the code again in one call.
    pub max_repeats: u32,
    /// Inbound calls per number per send window.
    pub max_inbound_per_window: u32,
}

impl CallsConfig {
    /// Whether `channel=call` can place calls: an application and a number to call from.
    pub fn enabled(&self) -> bool {
        self.sip_media_application_id.is_some() && self.from_number.is_some()
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the given variables: the environment in production, a map in tests.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env(vars);
        let config = Self {
            table_name: env.required("TABLE_NAME")?,
            code_length: u8::try_from(env.setting(CODE_LENGTH)?).unwrap_or(6),
            code_ttl_seconds: env.setting(CODE_TTL_SECONDS)?,
            max_check_attempts: env.setting(limits::MAX_CHECK_ATTEMPTS)?,
            resend_cooldown_seconds: env.setting(limits::RESEND_COOLDOWN_SECONDS)?,
            max_sends_per_window: env.setting(limits::MAX_SENDS_PER_WINDOW)?,
            max_sends_per_ip: env.setting(limits::MAX_SENDS_PER_IP)?,
            send_window_seconds: env.setting(limits::SEND_WINDOW_SECONDS)?,
            unverified_retention_hours: env.setting(UNVERIFIED_RETENTION_HOURS)?,
            default_country: env.country("DEFAULT_COUNTRY", "US")?,
            sms_allowed_countries: env.countries("SMS_ALLOWED_COUNTRIES")?,
            email_from: {
                let raw = env.required("EMAIL_FROM")?;
                EmailAddress::parse(&raw).map_err(|_| ConfigError {
                    variable: "EMAIL_FROM",
                    problem: "is not an email address".to_owned(),
                })?
            },
            sms_sender_id: env.sender_id("SMS_SENDER_ID")?,
            voice_origination_identity: env.origination_identity("VOICE_ORIGINATION_IDENTITY")?,
            voice_max_price_per_minute: env.price("VOICE_MAX_PRICE_PER_MINUTE")?,
            brand_name: env.brand("BRAND_NAME")?,
            allowed_origins: env.origins("ALLOWED_ORIGINS")?,
            allowed_redirect_origins: env.origins("ALLOWED_REDIRECT_ORIGINS")?,
            webotp_domain: env.domain("WEBOTP_DOMAIN")?,
            code_hash_secret_id: env.required("CODE_HASH_SECRET_ID")?,
            metrics_namespace: env.namespace("METRICS_NAMESPACE")?,
            api_key_cache_seconds: env.setting(API_KEY_CACHE_SECONDS)?,
            event_bus_name: env.get("EVENT_BUS_NAME").map(str::to_owned),
            environment: env.get("ENVIRONMENT").unwrap_or("dev").to_ascii_lowercase(),
            test_destinations: Vec::new(),
            test_code: None,
            totp_key_secret_id: env.get("TOTP_KEY_SECRET_ID").map(str::to_owned),
            totp_enroll_window_seconds: env.setting(TOTP_ENROLL_WINDOW_SECONDS)?,
            totp_lock_seconds: env.setting(limits::TOTP_LOCK_SECONDS)?,
            calls: CallsConfig {
                sip_media_application_id: env.get("SIP_MEDIA_APPLICATION_ID").map(str::to_owned),
                from_number: env.e164("CALL_FROM_NUMBER")?,
                call_back: env.flag("CALL_BACK_ENABLED")?,
                max_repeats: env.setting(CALL_MAX_REPEATS)?,
                max_inbound_per_window: env.setting(MAX_INBOUND_CALLS_PER_WINDOW)?,
            },
        };
        config.with_test_mode(&env)
    }

    /// Reads `TEST_DESTINATIONS` and `TEST_CODE`, which a `prod` environment refuses.
    fn with_test_mode(mut self, env: &Env<'_>) -> Result<Self, ConfigError> {
        let problem = |variable, problem: String| ConfigError { variable, problem };
        self.test_destinations = env
            .list("TEST_DESTINATIONS")
            .map(|raw| {
                let parsed = if raw.contains('@') {
                    EmailAddress::parse(raw).map(Destination::Email)
                } else {
                    PhoneNumber::parse(raw, self.default_country).map(Destination::Sms)
                };
                parsed.map_err(|e| problem("TEST_DESTINATIONS", format!("holds {e}")))
            })
            .collect::<Result<_, _>>()?;
        self.test_code = env
            .get("TEST_CODE")
            .map(|raw| OtpCode::custom(raw, "TEST_CODE"))
            .transpose()
            .map_err(|_| problem("TEST_CODE", "must be 4 to 10 digits".to_owned()))?;
        if self.test_destinations.is_empty() {
            return Ok(self);
        }
        if self.environment == "prod" {
            return Err(problem(
                "TEST_DESTINATIONS",
                "must be empty in a prod environment (ENVIRONMENT=prod): test mode would accept a fixed code".to_owned(),
            ));
        }
        if self.test_code.is_none() {
            return Err(problem(
                "TEST_CODE",
                "must be set (4 to 10 digits) when TEST_DESTINATIONS is".to_owned(),
            ));
        }
        Ok(self)
    }

    /// The fixed code for `destination` when it is a test destination (test mode).
    pub fn test_code_for(&self, destination: &Destination, length: u8) -> Option<OtpCode> {
        let pattern = self.test_code.as_ref()?;
        self.is_test_destination(destination)
            .then(|| OtpCode::fixed(pattern, length))
    }

    /// Whether `destination` is one of `TEST_DESTINATIONS`.
    pub fn is_test_destination(&self, destination: &Destination) -> bool {
        self.test_destinations.contains(destination)
    }

    /// The retention of unverified contacts in milliseconds.
    pub fn retention_ms(&self) -> i64 {
        i64::from(self.unverified_retention_hours) * 3_600_000
    }
}

/// The variables a configuration is read from, with the checks every setting shares (also
/// the webhook function's, `crate::webhooks::WebhookConfig`).
pub(crate) struct Env<'a>(pub(crate) &'a HashMap<String, String>);

impl Env<'_> {
    /// A set, non-blank value.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).map(str::to_owned).ok_or(ConfigError {
            variable: name,
            problem: "must be set".to_owned(),
        })
    }

    /// `true` or `false` (any case); unset or blank is `false`.
    fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ConfigError {
                variable: name,
                problem: "must be true or false".to_owned(),
            }),
        }
    }

    pub(crate) fn setting(&self, setting: Setting) -> Result<u32, ConfigError> {
        let Setting {
            variable,
            default,
            min,
            max,
        } = setting;
        let Some(raw) = self.get(variable) else {
            return Ok(default);
        };
        let out_of_range = || ConfigError {
            variable,
            problem: format!("must be a whole number from {min} to {max}, not '{raw}'"),
        };
        let value: u32 = raw.parse().map_err(|_| out_of_range())?;
        if value < min || value > max {
            return Err(out_of_range());
        }
        Ok(value)
    }

    fn country(&self, name: &'static str, default: &str) -> Result<Country, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        Country::parse(raw).ok_or_else(|| ConfigError {
            variable: name,
            problem: format!("'{raw}' is not an ISO 3166 two-letter region"),
        })
    }

    fn countries(&self, name: &'static str) -> Result<Vec<Country>, ConfigError> {
        self.list(name)
            .map(|raw| {
                Country::parse(raw).ok_or_else(|| ConfigError {
                    variable: name,
                    problem: format!("'{raw}' is not an ISO 3166 two-letter region"),
                })
            })
            .collect()
    }

    fn list(&self, name: &str) -> impl Iterator<Item = &str> {
        self.get(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    fn origins(&self, name: &'static str) -> Result<Vec<String>, ConfigError> {
        self.list(name)
            .map(|raw| {
                let lower = raw.trim_end_matches('/').to_ascii_lowercase();
                let ok = (lower.starts_with("https://") || lower.starts_with("http://"))
                    && !lower.split_once("://").is_some_and(|(_, rest)| {
                        rest.is_empty() || rest.contains(['/', '@', '?', '#'])
                    });
                if ok {
                    Ok(lower)
                } else {
                    Err(ConfigError {
                        variable: name,
                        problem: format!(
                            "'{raw}' is not an origin such as https://www.example.com"
                        ),
                    })
                }
            })
            .collect()
    }

    fn sender_id(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let ok = (1..=11).contains(&raw.len())
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && raw.chars().any(|c| c.is_ascii_alphabetic());
        if ok {
            Ok(Some(raw.to_owned()))
        } else {
            Err(ConfigError {
                variable: name,
                problem: "must be 1 to 11 letters, digits or '-', with at least one letter"
                    .to_owned(),
            })
        }
    }

    fn origination_identity(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        // SendVoiceMessage's pattern for OriginationIdentity: a typo fails at start, not per call.
        let ok = raw.len() <= 256
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_:/+-".contains(c));
        if ok {
            Ok(Some(raw.to_owned()))
        } else {
            Err(ConfigError {
                variable: name,
                problem: format!(
                    "'{raw}' is not a phone number (E.164), phone number ID or ARN, or pool ID or ARN"
                ),
            })
        }
    }

    /// A number in E.164's form: `+`, then 8 to 15 digits, the first not 0. Only the form:
    /// not parsed against the phone metadata (`CallsConfig::from_number` says why).
    fn e164(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let ok = raw.strip_prefix('+').is_some_and(|digits| {
            (8..=15).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if ok {
            Ok(Some(raw.to_owned()))
        } else {
            Err(ConfigError {
                variable: name,
                problem: "is not a phone number in E.164 (+ and 8 to 15 digits)".to_owned(),
            })
        }
    }

    /// A price as `SendVoiceMessage`'s `MaxPricePerMinute` takes it: up to two digits, a
    /// point, one to five decimals (`0.10`).
    fn price(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let ok = raw.split_once('.').is_some_and(|(whole, decimals)| {
            whole.len() <= 2
                && (1..=5).contains(&decimals.len())
                && whole
                    .chars()
                    .chain(decimals.chars())
                    .all(|c| c.is_ascii_digit())
        });
        if ok {
            Ok(Some(raw.to_owned()))
        } else {
            Err(ConfigError {
                variable: name,
                problem: format!("'{raw}' is not a price such as 0.10 (USD per minute)"),
            })
        }
    }

    fn brand(&self, name: &'static str) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or("twostep");
        if crate::messages::valid_brand(raw) {
            Ok(raw.to_owned())
        } else {
            Err(ConfigError {
                variable: name,
                problem: "must be at most 30 characters of the GSM 7-bit alphabet (letters, digits, common punctuation)".to_owned(),
            })
        }
    }

    fn namespace(&self, name: &'static str) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or("twostep");
        // CloudWatch's rule for namespaces.
        let ok = raw.len() <= 255
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_/#:".contains(c))
            && !raw.starts_with(':');
        if ok {
            Ok(raw.to_owned())
        } else {
            Err(ConfigError {
                variable: name,
                problem: format!(
                    "'{raw}' is not a CloudWatch namespace (letters, digits and . - _ / # :)"
                ),
            })
        }
    }

    fn domain(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let lower = raw.to_ascii_lowercase();
        let ok = lower.len() <= 40
            && lower.contains('.')
            && lower
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if ok {
            Ok(Some(lower))
        } else {
            Err(ConfigError {
                variable: name,
                problem: format!("'{raw}' is not a domain name"),
            })
        }
    }
}

/// Configurations for tests.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::collections::HashMap;

    use super::Config;

    /// The required settings plus `extra`, as the environment gives them.
    pub fn test_vars(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut vars: HashMap<String, String> = [
            ("TABLE_NAME", "twostep"),
            ("EMAIL_FROM", "codes@example.com"),
            ("CODE_HASH_SECRET_ID", "twostep/code-hash-key"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        vars
    }

    /// A valid configuration: the defaults, the required settings and `extra`.
    pub fn test_config(extra: &[(&str, &str)]) -> Config {
        Config::from_vars(&test_vars(extra)).expect("a valid test configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::testing::test_vars;
    use super::*;

    #[test]
    fn test_mode_needs_a_code_and_is_refused_in_prod() {
        let on = [
            ("TEST_DESTINATIONS", "+15005550006, test@twostep.example"),
            ("TEST_CODE", "123456"),
        ];
        let c = Config::from_vars(&test_vars(&on)).expect("valid");
        assert_eq!(c.test_destinations.len(), 2);
        let to = &c.test_destinations[1];
        assert_eq!(
            c.test_code_for(to, 4).map(|code| code.digits().to_owned()),
            Some("1234".to_owned())
        );
        let prod = [on[0], on[1], ("ENVIRONMENT", "prod")];
        let e = Config::from_vars(&test_vars(&prod)).expect_err("refused in prod");
        assert_eq!(e.variable, "TEST_DESTINATIONS");
        let e = Config::from_vars(&test_vars(&on[..1])).expect_err("no code");
        assert_eq!(e.variable, "TEST_CODE");
        let bad = [on[0], ("TEST_CODE", "12ab")];
        assert!(Config::from_vars(&test_vars(&bad)).is_err());
        let off = Config::from_vars(&test_vars(&[("ENVIRONMENT", "prod")])).expect("valid");
        assert!(off.test_code_for(to, 6).is_none());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::from_vars(&test_vars(&[])).expect("valid");
        assert_eq!(c.code_length, 6);
        assert_eq!(c.code_ttl_seconds, 600);
        assert_eq!(c.max_check_attempts, 5);
        assert_eq!(c.resend_cooldown_seconds, 30);
        assert_eq!(c.max_sends_per_window, 5);
        assert_eq!(c.max_sends_per_ip, 20);
        assert_eq!(c.send_window_seconds, 3600);
        assert_eq!(c.unverified_retention_hours, 24);
        assert_eq!(c.default_country.code(), "US");
        assert!(c.sms_allowed_countries.is_empty());
        assert_eq!(c.brand_name, "twostep");
        assert_eq!(c.sms_sender_id, None);
        assert_eq!(c.voice_origination_identity, None);
    }

    #[test]
    fn voice_is_on_with_an_origination_identity_and_off_when_it_is_empty() {
        for (raw, expected) in [
            ("", None),
            ("  ", None),
            (" +15005550000 ", Some("+15005550000")),
            (
                "arn:aws:sms-voice:us-east-1:111122223333:pool/pool-0123456789abcdef0123456789abcdef",
                Some(
                    "arn:aws:sms-voice:us-east-1:111122223333:pool/pool-0123456789abcdef0123456789abcdef",
                ),
            ),
        ] {
            let c = Config::from_vars(&test_vars(&[("VOICE_ORIGINATION_IDENTITY", raw)]))
                .expect("valid");
            assert_eq!(c.voice_origination_identity.as_deref(), expected, "{raw:?}");
        }
    }

    #[test]
    fn the_number_calls_come_from_is_in_e164_form() {
        for good in ["+15005550100", "+4915123456789", "+12345678"] {
            let c = Config::from_vars(&test_vars(&[("CALL_FROM_NUMBER", good)])).expect(good);
            assert_eq!(c.calls.from_number.as_deref(), Some(good));
        }
        for bad in [
            "15005550100",
            "+1500555010O",
            "+1234567",
            "+1234567890123456",
            "+0123456789",
            "+1 500 555 0100",
        ] {
            let e = Config::from_vars(&test_vars(&[("CALL_FROM_NUMBER", bad)])).expect_err(bad);
            assert_eq!(e.variable, "CALL_FROM_NUMBER", "{bad}");
        }
    }

    #[test]
    fn a_voice_price_cap_is_a_decimal_price() {
        for (raw, expected) in [("", None), ("0.10", Some("0.10")), (".5", Some(".5"))] {
            let c = Config::from_vars(&test_vars(&[("VOICE_MAX_PRICE_PER_MINUTE", raw)]))
                .expect("valid");
            assert_eq!(c.voice_max_price_per_minute.as_deref(), expected, "{raw:?}");
        }
        for raw in ["1", "0.123456", "100.0", "-0.1", "0,10", "1e-2"] {
            let e = Config::from_vars(&test_vars(&[("VOICE_MAX_PRICE_PER_MINUTE", raw)]))
                .expect_err(raw);
            assert_eq!(e.variable, "VOICE_MAX_PRICE_PER_MINUTE", "{raw:?}");
        }
    }

    #[test]
    fn an_out_of_range_value_names_its_variable() {
        for (name, value) in [
            ("CODE_LENGTH", "3"),
            ("CODE_LENGTH", "11"),
            ("CODE_LENGTH", "six"),
            ("MAX_CHECK_ATTEMPTS", "0"),
            ("DEFAULT_COUNTRY", "XX"),
            ("SMS_ALLOWED_COUNTRIES", "DE,Germany"),
            ("EMAIL_FROM", "not an address"),
            ("BRAND_NAME", "Ünïcødé™"),
            ("ALLOWED_ORIGINS", "example.com"),
            ("SMS_SENDER_ID", "far-too-long-id"),
            ("VOICE_ORIGINATION_IDENTITY", "+1 500 555 0000"),
        ] {
            let err = Config::from_vars(&test_vars(&[(name, value)])).expect_err(name);
            assert_eq!(err.variable, name);
            assert!(err.to_string().contains(name));
        }
        let err = Config::from_vars(&HashMap::new()).expect_err("no table");
        assert_eq!(err.variable, "TABLE_NAME");
    }

    #[test]
    fn lists_are_comma_separated_and_trimmed() {
        let c = Config::from_vars(&test_vars(&[
            ("SMS_ALLOWED_COUNTRIES", " de, at ,CH"),
            (
                "ALLOWED_ORIGINS",
                "https://a.example, http://localhost:8080/",
            ),
        ]))
        .expect("valid");
        let codes: Vec<_> = c.sms_allowed_countries.iter().map(Country::code).collect();
        assert_eq!(codes, ["DE", "AT", "CH"]);
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "http://localhost:8080"]
        );
    }
}
